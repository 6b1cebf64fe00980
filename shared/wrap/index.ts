/** Public API of shared/wrap: material generation, public-key checks and wrapping for ImportKeyMaterial. */
export {
  KeySpec,
  WrappingAlgorithm,
  WrappingKeySpec,
  MATERIAL_BYTES,
  assertAlgorithmMatchesSpec,
  generateKeyMaterial,
  isKeySpec,
  isWrappingAlgorithm,
  isWrappingKeySpec,
  materialLengthFor,
  parseKeySpec,
  parseWrappingAlgorithm,
  parseWrappingKeySpec,
  validateKeyMaterial,
  wrappingKeySpecFor,
} from './material.js';
export { Oid, parseWrappingPublicKey, type WrappingPublicKey } from './public-key.js';
export { wrapKeyMaterial, type WrapKeyMaterialInput } from './wrap.js';
export { SM2_CIPHERTEXT_ENCODING } from './sm2.js';
export { decodeBase64Strict } from './base64.js';
