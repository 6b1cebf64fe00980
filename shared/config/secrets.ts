/**
 * Webhook secrets: each given either as its value (kept in a SecretString) or as the name of a KMS
 * secret holding it, never both.
 */
import { MIN_SECRET_CHARS, SECRET_NAME_PATTERN, type Reader } from './reader.js';
import { SecretString, type SecretSetting } from './schema.js';

/** One webhook secret from its value variable or its name variable (set one at most). */
export function parseSecretSetting(
  r: Reader,
  valueVar: string,
  nameVar: string,
  pattern: RegExp,
  rule: string,
): SecretSetting | undefined {
  const value = r.raw(valueVar);
  const name = r.string(
    nameVar,
    SECRET_NAME_PATTERN,
    'must be a Secrets Manager secret name (1-192 letters, digits and _ / + = . @ -)',
  );
  if (value !== undefined && r.isSet(nameVar)) {
    r.fail(valueVar, `set either ${valueVar} or ${nameVar}, not both`);
    return undefined;
  }
  if (value !== undefined) {
    if (value.length < MIN_SECRET_CHARS || !pattern.test(value))
      return r.fail(valueVar, `must be ${rule} (value not shown)`);
    return { source: 'value', value: new SecretString(value) };
  }
  if (name === undefined) return undefined;
  // The function role may read only byok-* secrets (scripts/deploy/ram-policy-function.json).
  if (!name.startsWith('byok-'))
    r.warnings.push(`${nameVar}: the deployed function role can read only secrets named byok-*`);
  return { source: 'kms-secret', secretName: name };
}
