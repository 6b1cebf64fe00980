/**
 * KMS 3.0 placement: the rule that escrow must not share fate with the keys it protects.
 */
import type { Reader } from './reader.js';
import { ConfigVariable } from './variables.js';

/**
 * Escrow secrets live in a KMS instance too. Releasing an instance, or letting its subscription
 * lapse, makes every key and secret in it unusable (docs/kms-3-instances.md §5): escrow in the
 * keys' own instance would be lost in the same billing event as the keys. Refused unless an
 * offline break-glass copy exists or the operator accepts the risk explicitly. Both unset means
 * both land in the account's default instance: the same instance.
 */
export function checkEscrowPlacement(
  r: Reader,
  keys: string | undefined,
  escrow: string | undefined,
  breakGlass: boolean,
  allowed: boolean,
): void {
  const V = ConfigVariable;
  if (r.problems.some((p) => p.variable === V.KmsInstanceId || p.variable === V.EscrowInstanceId)) return;
  if (keys !== escrow) return;
  const where = keys === undefined ? 'both unset, so both would live in the default instance' : `both ${keys}`;
  if (breakGlass || allowed) {
    r.warnings.push(
      `${V.EscrowInstanceId} and ${V.KmsInstanceId} name the same instance (${where}): ` +
        'escrow shares fate with the keys; ' +
        (breakGlass
          ? `the offline break-glass copy (${V.RecoveryPublicKeyFile}) ` +
            'is the only way back if that instance is released or lapses'
          : `accepted by ${V.AllowEscrowInKeyInstance}=true`),
    );
    return;
  }
  r.fail(
    V.EscrowInstanceId,
    `must name a different KMS instance than ${V.KmsInstanceId} (${where}): releasing or not renewing ` +
      `one instance would destroy the keys and their escrow together; put the escrow CMK and secrets ` +
      `in another instance, or set ${V.RecoveryPublicKeyFile} (offline ` +
      `break-glass copy), or set ${V.AllowEscrowInKeyInstance}=true to accept the risk`,
  );
}
