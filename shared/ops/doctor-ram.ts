/**
 * `doctor`'s RAM verdicts: which KMS actions the product calls, the live read probes' verdict, and
 * the static check of the shipped function-role policy for the write calls (never probed).
 */
import { CheckName, CheckStatus, isRefused, shownCode, type DoctorCheck, type ProbeError } from './doctor-checks.js';

/**
 * Every KMS action the product calls (`kms.<method>(` in shared/ and functions/; a unit test keeps
 * this list and the call sites in step), split by how doctor verifies it:
 * - read: probed live with harmless calls (Encrypt/Decrypt of a random probe change no state);
 * - write: never called. A "deliberately invalid argument" probe would need KMS to authorise before
 *   it validates, for every action; that order is not documented, and the emulator does not model
 *   RAM, so such a probe could not be shown to tell "allowed" from "refused". Writes are checked
 *   only statically, against the shipped RAM policy.
 */
export const KMS_ACTIONS = {
  read: [
    'ListKeys',
    'GetKmsInstance',
    'GetDefaultKmsInstance',
    'ListAliases',
    'DescribeKey',
    'ListResourceTags',
    'Encrypt',
    'Decrypt',
    'ListSecrets',
    'GetSecretValue',
    'DescribeSecret',
    'ListSecretVersionIds',
  ],
  write: [
    'CreateKey',
    'TagResource',
    'UntagResource',
    'CreateAlias',
    'UpdateAlias',
    'GetParametersForImport',
    'ImportKeyMaterial',
    'DeleteKeyMaterial',
    'CreateSecret',
    'PutSecretValue',
  ],
  /** Called by Secrets Manager with the caller's rights for CreateSecret / PutSecretValue under a customer CMK. */
  implied: ['GenerateDataKey'],
} as const;

/** Name of the shipped function-role policy, as output names it. */
export const RAM_POLICY_FILE = 'ram-policy-function.json';

/** One recorded probe: the action, and the error when it failed. */
export interface ProbeRecord {
  action: string;
  error?: ProbeError;
}

/** RAM wildcard match (`*`, `?`), case-insensitive as RAM compares actions. */
function wildcard(pattern: string, value: string): boolean {
  return new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  ).test(value);
}

/**
 * `kms:<Action>`s that no Allow statement of `policy` names (actions only: resources and conditions are not evaluated).
 */
export function ungrantedActions(policy: unknown, actions: readonly string[]): string[] {
  const statements = (policy as { Statement?: unknown } | undefined)?.Statement;
  const allowed = (Array.isArray(statements) ? statements : [])
    .filter(
      (s): s is { Effect: string; Action: unknown } =>
        typeof s === 'object' && s !== null && (s as { Effect?: unknown }).Effect === 'Allow',
    )
    .flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]))
    .filter((a): a is string => typeof a === 'string');
  return actions.map((a) => `kms:${a}`).filter((a) => !allowed.some((p) => wildcard(p, a)));
}

/**
 * Verdict on the live read probes. `expected` are the reads this configuration needs; an expected
 * read with no record was not probed (`skipped` says why). `attributed` maps actions whose refusal
 * another check already explains (Encrypt/Decrypt on the keys' instance -> shared gateway).
 */
export function ramReadCheck(input: {
  identity: string;
  expected: readonly string[];
  records: readonly ProbeRecord[];
  skipped: Record<string, string>;
  attributed?: Record<string, string>;
}): DoctorCheck {
  const answered: string[] = [];
  const refused: string[] = [];
  const notProbed = new Map<string, string[]>();
  const elsewhere: string[] = [];
  for (const action of input.expected) {
    const records = input.records.filter((r) => r.action === action);
    if (input.attributed?.[action]) {
      elsewhere.push(`${action} (${input.attributed[action]})`);
      continue;
    }
    const denied = records.find((r) => r.error && isRefused(r.error));
    if (denied) refused.push(`${action} (${shownCode(denied.error!)})`);
    else if (records.length > 0)
      answered.push(action); // answered, possibly "not found": that is authorised
    else {
      const why = input.skipped[action] ?? 'not reached';
      notProbed.set(why, [...(notProbed.get(why) ?? []), action]);
    }
  }
  const parts = [`probed as ${input.identity}`];
  if (answered.length) parts.push(`answered: ${answered.join(', ')}`);
  if (refused.length) parts.push(`refused: ${refused.join(', ')}`);
  if (elsewhere.length) parts.push(`see other checks: ${elsewhere.join(', ')}`);
  for (const [why, actions] of notProbed) parts.push(`not probed: ${actions.join(', ')} (${why})`);
  const status = refused.length ? CheckStatus.Fail : notProbed.size ? CheckStatus.Warn : CheckStatus.Ok;
  return {
    name: CheckName.RamReads,
    status,
    detail: parts.join('; '),
    ...(refused.length
      ? {
          fix:
            `grant ${refused.map((r) => `kms:${r.split(' ')[0]}`).join(', ')} ` +
            `to ${input.identity} (scripts/deploy/${RAM_POLICY_FILE})`,
        }
      : {}),
  };
}

/**
 * Verdict on the write calls: never probed (see KMS_ACTIONS), so the verdict is the static check
 * of the shipped policy document, which also covers every read call and the implied actions.
 * All granted -> ok (the detail still says "not probed"); any missing -> fail; no document -> warn.
 */
export function ramWriteCheck(policy: unknown | undefined): DoctorCheck {
  const name = CheckName.RamWrites;
  const head = `not probed (write): ${KMS_ACTIONS.write.join(', ')}`;
  if (policy === undefined)
    return {
      name,
      status: CheckStatus.Warn,
      detail: `${head}; no policy document to compare them with`,
      fix: `compare the role's policy with scripts/deploy/${RAM_POLICY_FILE}`,
    };
  const all = [...KMS_ACTIONS.read, ...KMS_ACTIONS.write, ...KMS_ACTIONS.implied];
  const missing = ungrantedActions(policy, all);
  if (missing.length) {
    return {
      name,
      status: CheckStatus.Fail,
      detail: `${head}; checked statically: ${RAM_POLICY_FILE} does not grant ${missing.join(', ')}`,
      fix: `add them to scripts/deploy/${RAM_POLICY_FILE} and update the role's policy`,
    };
  }
  return {
    name,
    status: CheckStatus.Ok,
    detail: `${head}; checked statically: ${RAM_POLICY_FILE} grants them and every read call (actions only)`,
  };
}
