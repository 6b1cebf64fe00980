/**
 * The one STS action the emulator answers, so the CLI's operator identity can be exercised locally:
 * `GetCallerIdentity` (STS API version 2015-04-01, no parameters, no RAM permission needed;
 * documented: docs/alerting-and-events.md §8.4). Real STS lives at `sts.aliyuncs.com`; the emulator
 * answers it on its own endpoint, for the credentials it accepts.
 *
 * The identity is DERIVED from the access key id (inferred, the emulator has no RAM): an access key
 * is the RAM user named like the key (`acs:ram::<uid>:user/<access key id>`); an STS credential (one
 * with a security token) is a session of the role `byok-emulator-role`
 * (`acs:ram::<uid>:assumed-role/byok-emulator-role/<access key id>`, the assumed-role form inferred in
 * §8.4). The numeric ids are stable digests of the key id, not real RAM ids.
 */
import { createHash } from 'node:crypto';
import { kmsError } from '../errors.js';
import type { ActionContext, ActionHandler } from './context.js';

/** The STS API version (documented: §8.4); the KMS actions answer only 2016-01-20. */
export const STS_API_VERSION = '2015-04-01';

/** The role every emulated STS credential belongs to (inferred naming, see above). */
export const EMULATOR_ROLE_NAME = 'byok-emulator-role';

/** A stable 16-digit id for `seed` (RAM ids are 16-digit numbers; these are not real ones). */
function numericId(seed: string): string {
  const digest = createHash('sha256').update(seed).digest();
  return (digest.readBigUInt64BE(0) % 10n ** 16n).toString().padStart(16, '1');
}

/** The caller's identity, as GetCallerIdentity answers it (RequestId is added by the caller). */
export function callerIdentityOf(accountId: string, accessKeyId: string, sts: boolean): Record<string, string> {
  if (sts) {
    const roleId = numericId(`role:${EMULATOR_ROLE_NAME}`);
    return {
      IdentityType: 'AssumedRoleUser',
      AccountId: accountId,
      Arn: `acs:ram::${accountId}:assumed-role/${EMULATOR_ROLE_NAME}/${accessKeyId}`,
      PrincipalId: `${roleId}:${accessKeyId}`,
      RoleId: roleId,
    };
  }
  const userId = numericId(`user:${accessKeyId}`);
  return {
    IdentityType: 'RAMUser',
    AccountId: accountId,
    Arn: `acs:ram::${accountId}:user/${accessKeyId}`,
    PrincipalId: userId,
    UserId: userId,
  };
}

const getCallerIdentity: ActionHandler = (ctx: ActionContext) => {
  // The pipeline authenticates every request first and names the caller; without it there is no answer.
  if (ctx.caller === undefined) throw kmsError('InternalFailure');
  return callerIdentityOf(ctx.accountId, ctx.caller.accessKeyId, ctx.caller.sts);
};

/** STS actions by name. */
export const stsActions: Readonly<Record<string, ActionHandler>> = {
  GetCallerIdentity: getCallerIdentity,
};
