import { generateKeyPair, generateKeyPairSync } from 'node:crypto';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, OrchestratorError } from '../../../shared/errors.js';
import {
  oaepCapacityBytes,
  openBreakGlass,
  parseRecoveryPublicKey,
  sealBreakGlass,
} from '../../../shared/escrow/break-glass.js';
import { fingerprintMaterial } from '../../../shared/escrow/fingerprint.js';
import { testMaterial, testRecoveryKey } from './contract.js';

let recovery: { publicKey: string; privateKey: string };
beforeAll(async () => {
  recovery = await testRecoveryKey();
});

function thrown(fn: () => unknown): OrchestratorError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(OrchestratorError);
    return err as OrchestratorError;
  }
  throw new Error('expected a throw');
}

const payload = {
  keyId: '1234abcd-12ab-34cd-56ef-1234567890ab',
  fingerprint: fingerprintMaterial(testMaterial(1)),
  material: testMaterial(1),
};

describe('break-glass sealing', () => {
  it('carries 446 bytes under RSA-4096 with OAEP-SHA256 (RFC 8017 §7.1.1: k - 2hLen - 2)', () => {
    expect(oaepCapacityBytes(parseRecoveryPublicKey(recovery.publicKey))).toBe(446);
  });

  it('round-trips key id, fingerprint and material through the recovery key', () => {
    const opened = openBreakGlass(
      recovery.privateKey,
      sealBreakGlass(parseRecoveryPublicKey(recovery.publicKey), payload),
    );
    expect({ ...opened, material: opened.material.toString('hex') }).toEqual({
      ...payload,
      material: payload.material.toString('hex'),
    });
  });

  it('produces one 512-byte RSA block (684 base64 chars)', () => {
    expect(sealBreakGlass(parseRecoveryPublicKey(recovery.publicKey), payload)).toHaveLength(684);
  });

  it('fits the largest record (128-char key id, 64-byte material) in one block', () => {
    const big = {
      keyId: 'k'.repeat(128),
      fingerprint: fingerprintMaterial(testMaterial(1, 64)),
      material: testMaterial(1, 64),
    };
    const opened = openBreakGlass(recovery.privateKey, sealBreakGlass(parseRecoveryPublicKey(recovery.publicKey), big));
    expect(opened.keyId).toBe(big.keyId);
  });

  it('refuses a payload over the OAEP limit with InvalidInput instead of truncating', () => {
    const huge = { ...payload, keyId: 'k'.repeat(400) };
    expect(thrown(() => sealBreakGlass(parseRecoveryPublicKey(recovery.publicKey), huge)).code).toBe(
      ErrorCode.InvalidInput,
    );
  });

  it('rejects an EC recovery key with InvalidConfig', () => {
    const ec = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    const err = thrown(() => parseRecoveryPublicKey(ec.publicKey));
    expect([err.code, err.details.field]).toEqual([ErrorCode.InvalidConfig, 'recoveryPublicKeyPem']);
  });

  it('rejects text that is not a PEM public key with InvalidConfig', () => {
    expect(thrown(() => parseRecoveryPublicKey('not a key')).code).toBe(ErrorCode.InvalidConfig);
  });

  it('fails to open with another private key as UnwrapFailed, without the blob in the message', async () => {
    const other = await promisify(generateKeyPair)('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    const blob = sealBreakGlass(parseRecoveryPublicKey(recovery.publicKey), payload);
    const err = thrown(() => openBreakGlass(other.privateKey, blob));
    expect([err.code, err.message.includes(blob.slice(0, 40))]).toEqual([ErrorCode.UnwrapFailed, false]);
  });
});
