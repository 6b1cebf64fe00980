/**
 * `doctor`: checks a deployment before it is trusted, one line per check
 * (`ok|warn|fail  <check>  <what it found>  [-> what to do]`).
 *
 * Two halves, kept apart:
 * - probing (`runDoctor`): harmless KMS calls through the KmsPort (reads, and Encrypt/Decrypt of a
 *   random probe, which change no state). Nothing is ever written: no key, tag, alias, secret or
 *   material. Every call is recorded, so the RAM check can say exactly what was probed.
 * - pure builders (`instanceCheck`, `escrowPlacementCheck`, `ramWriteCheck`, ... and
 *   `renderDoctor`): observations in, checks or text out; unit-tested with values.
 *
 * Never printed: webhook secret values (nor their length), escrow secret data, key material.
 * A secret read as a probe is dropped unread.
 */
import type { Config, SecretSetting } from '../config/index.js';
import { ConfigVariable } from '../config/index.js';
import { ESCROW_SECRET_PREFIX } from '../escrow/kms-secrets-store.js';
import { ErrorCode, OrchestratorError } from '../errors.js';
import type { KeyMetadata, KmsInstanceInfo, KmsPort } from '../kms/port.js';
import { DAY_MS } from '../lifecycle/model.js';
import type { RandomSource } from '../runtime-types.js';

/** A check's verdict. */
export const CheckStatus = { Ok: 'ok', Warn: 'warn', Fail: 'fail' } as const;
/** A check's verdict. */
export type CheckStatus = (typeof CheckStatus)[keyof typeof CheckStatus];

/** One check: its name, verdict, what it found and, when something is wrong, what to do. */
export interface DoctorCheck {
  name: string;
  status: CheckStatus;
  detail: string;
  fix?: string;
}

/** Check names, in output order (stable: scripts match on them). */
export const CheckName = {
  Credentials: 'credentials',
  KeysInstance: 'keys instance',
  EscrowInstance: 'escrow instance',
  SharedGateway: 'shared gateway',
  EscrowKey: 'escrow key',
  LeaseKey: 'lease key',
  EscrowPlacement: 'escrow placement',
  RamReads: 'ram read calls',
  RamWrites: 'ram write calls',
  WebhookSecret: 'webhook secret',
  WebhookUrlToken: 'webhook url token',
} as const;

// ---------------------------------------------------------------------------------------------
// Thresholds and pure helpers

/** An instance whose subscription ends within this many days is a warning. */
export const INSTANCE_WARN_DAYS = 30;
/** ... and within this many days a failure (the same cliff as expiring material). */
export const INSTANCE_FAIL_DAYS = 7;

/** Whole days from `nowMs` to `endMs`, rounded down (as `status` counts material days left); negative once past. */
export function daysUntil(endMs: number, nowMs: number): number {
  return Math.floor((endMs - nowMs) / DAY_MS);
}

/** Verdict for an instance with `daysLeft` days of subscription: fail at <= 7, warn at <= 30. */
export function instanceExpiryStatus(daysLeft: number): CheckStatus {
  if (daysLeft <= INSTANCE_FAIL_DAYS) return CheckStatus.Fail;
  if (daysLeft <= INSTANCE_WARN_DAYS) return CheckStatus.Warn;
  return CheckStatus.Ok;
}

/** The worst verdict of `checks` (ok when there are none). */
export function worstStatus(checks: readonly DoctorCheck[]): CheckStatus {
  if (checks.some((c) => c.status === CheckStatus.Fail)) return CheckStatus.Fail;
  if (checks.some((c) => c.status === CheckStatus.Warn)) return CheckStatus.Warn;
  return CheckStatus.Ok;
}

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${Math.abs(n) === 1 ? one : many}`;

/** One line per check: status and name in aligned columns, then what was found and `-> fix`. */
export function renderDoctor(checks: readonly DoctorCheck[]): string {
  const width = Math.max(0, ...checks.map((c) => c.name.length));
  return checks.map((c) => `${c.status.padEnd(4)}  ${c.name.padEnd(width)}  ${c.detail}${c.fix ? `  -> ${c.fix}` : ''}`).join('\n') + (checks.length ? '\n' : '');
}

/** What a failed probe tells: our code and, when KMS answered, its own code. Never a message from KMS. */
export interface ProbeError {
  code: string;
  kmsCode?: string;
}

/** The code to show for a failed probe: KMS's own when it answered, else ours. */
const shownCode = (e: ProbeError): string => e.kmsCode ?? e.code;

function probeErrorOf(err: unknown): ProbeError {
  if (err instanceof OrchestratorError) return { code: err.code, ...(err.details.kmsCode ? { kmsCode: err.details.kmsCode } : {}) };
  return { code: ErrorCode.Internal };
}

/** KMS codes that say a thing does not exist (KMS files several of them under Forbidden.*). */
const NOT_FOUND_CODES = new Set(['Forbidden.KeyNotFound', 'Forbidden.AliasNotFound', 'Forbidden.ResourceNotFound', 'Forbidden.KeyVersionNotFound', 'Forbidden.DKMSInstanceNotFound']);
const isNotFound = (e: ProbeError): boolean => e.code === ErrorCode.KmsNotFound || (e.kmsCode !== undefined && NOT_FOUND_CODES.has(e.kmsCode));
/** Refused by the permission system (RAM, or an instance setting): Forbidden.* other than "not found" and instance state. */
const isRefused = (e: ProbeError): boolean =>
  e.code === ErrorCode.KmsForbidden && !isNotFound(e) && e.kmsCode !== 'Forbidden.DKMSInstanceStateInvalid' && !isCredentialCode(e.kmsCode);
const isCredentialCode = (c: string | undefined): boolean => c !== undefined && (c.startsWith('InvalidAccessKeyId') || c === 'SignatureDoesNotMatch' || c.startsWith('InvalidSecurityToken'));

// ---------------------------------------------------------------------------------------------
// 1. Credentials and region

/** What the first harmless read (ListKeys) told about credentials, region and endpoint. */
export function credentialsCheck(config: Pick<Config, 'region' | 'kms'>, outcome: { keys: number } | ProbeError): DoctorCheck {
  const where = `${config.kms.protocol}://${config.kms.endpoint} (${config.region})`;
  const name = CheckName.Credentials;
  if ('keys' in outcome) return { name, status: CheckStatus.Ok, detail: `ListKeys answered at ${where}: ${plural(outcome.keys, 'key')}` };
  const c = outcome.kmsCode ?? '';
  const fail = (what: string, fix: string): DoctorCheck => ({ name, status: CheckStatus.Fail, detail: `ListKeys at ${where} failed: ${what} (${shownCode(outcome)})`, fix });
  if (c.startsWith('InvalidAccessKeyId')) return fail('KMS does not know the access key id', 'check ALIBABA_CLOUD_ACCESS_KEY_ID (direct mode) or the function role\'s credentials');
  if (c === 'SignatureDoesNotMatch') return fail('the access key secret does not match the access key id', 'check ALIBABA_CLOUD_ACCESS_KEY_SECRET');
  if (c.startsWith('InvalidSecurityToken')) return fail('the STS security token is invalid or expired', 'refresh ALIBABA_CLOUD_SECURITY_TOKEN with the access key pair it was issued with');
  if (c === 'IllegalTimestamp' || c === 'InvalidTimeStamp.Expired') return fail('the request time is too far from KMS\'s clock', 'synchronise this machine\'s clock (NTP)');
  if (outcome.code === ErrorCode.KmsForbidden) return fail('the permission system refuses kms:ListKeys', 'grant kms:ListKeys to this identity (scripts/deploy/ram-policy-function.json)');
  if (outcome.code === ErrorCode.KmsNetwork) return fail('KMS cannot be reached', `check ${ConfigVariable.Region} and ${ConfigVariable.KmsEndpoint} (and the network route to it)`);
  return fail('KMS refused a harmless read', `check ${ConfigVariable.Region}, ${ConfigVariable.KmsEndpoint} and the credentials`);
}

// ---------------------------------------------------------------------------------------------
// 2. Instances

const RENEW_FIX = (id: string) => `renew ${id}: past its end date every key and secret in it stops working, and an instance not renewed within 15 days of expiry is released with every key and secret in it`;

/** Verdict on one configured instance from GetKmsInstance's answer at `nowMs`. */
export function instanceCheck(name: string, variable: string, id: string, outcome: KmsInstanceInfo | ProbeError, nowMs: number, region: string): DoctorCheck {
  if ('code' in outcome) {
    if (isNotFound(outcome)) return { name, status: CheckStatus.Fail, detail: `${id} not found in ${region} (${shownCode(outcome)})`, fix: `check ${variable} and ${ConfigVariable.Region}` };
    return { name, status: CheckStatus.Fail, detail: `GetKmsInstance ${id} failed (${shownCode(outcome)})`, fix: isRefused(outcome) ? 'grant kms:GetKmsInstance to this identity' : `check ${variable}` };
  }
  const end = outcome.endDateMs;
  if (end !== undefined && end <= nowMs) {
    return { name, status: CheckStatus.Fail, detail: `${id} subscription ended ${iso(end)} (${plural(-daysUntil(end, nowMs), 'day')} ago): its keys and secrets answer Rejected.Unavailable`, fix: RENEW_FIX(id) };
  }
  if (outcome.status !== 'Connected') {
    return { name, status: CheckStatus.Fail, detail: `${id} is ${outcome.status || 'in no reported state'}, not Connected`, fix: `wait for it to connect, or repair it in the KMS console (Instances > ${id})` };
  }
  if (end === undefined) return { name, status: CheckStatus.Ok, detail: `${id} Connected, no subscription end date reported` };
  const days = daysUntil(end, nowMs);
  const status = instanceExpiryStatus(days);
  return { name, status, detail: `${id} Connected, subscription ends ${iso(end)} (${plural(days, 'day')} left)`, ...(status === CheckStatus.Ok ? {} : { fix: RENEW_FIX(id) }) };
}

/** BYOK_KMS_INSTANCE_ID unset: what that means, and whether the account has a default instance. */
export function unsetKeysInstanceCheck(defaultInstance: { instanceId?: string } | ProbeError): DoctorCheck {
  const found =
    'code' in defaultInstance
      ? `GetDefaultKmsInstance failed (${shownCode(defaultInstance)})`
      : defaultInstance.instanceId
        ? `the account's default instance is ${defaultInstance.instanceId}`
        : 'the account has no default instance';
  return {
    name: CheckName.KeysInstance,
    status: CheckStatus.Warn,
    detail: `${ConfigVariable.KmsInstanceId} unset: new CMKs become the region's default key (only one: a second lineage or a rotation fails) or land in the default instance of a migrated account; ${found}`,
    fix: `set ${ConfigVariable.KmsInstanceId} to the key management instance the keys belong in`,
  };
}

/** BYOK_ESCROW_INSTANCE_ID unset with the kms-secrets backend. */
export function unsetEscrowInstanceCheck(escrowKeyInstance: string | undefined): DoctorCheck {
  return {
    name: CheckName.EscrowInstance,
    status: CheckStatus.Warn,
    detail: `${ConfigVariable.EscrowInstanceId} unset: escrow and lease secrets are created without an instance id (the default instance)${escrowKeyInstance ? `, but the escrow key is in ${escrowKeyInstance}` : ''}`,
    fix: `set ${ConfigVariable.EscrowInstanceId} to the escrow key's instance${escrowKeyInstance ? ` (${escrowKeyInstance})` : ''}`,
  };
}

// ---------------------------------------------------------------------------------------------
// 3. Shared gateway

/** What the Encrypt probe on a managed key of the keys' instance found. */
export type GatewayObservation =
  | { kind: 'no-instance' }
  | { kind: 'no-key'; instanceId: string }
  | { kind: 'lookup-failed'; instanceId: string; action: string; error: ProbeError }
  | { kind: 'probed'; instanceId: string; keyId: string; alias?: string; error?: ProbeError };

/** Verdict on crypto through the configured (shared) endpoint on the keys' instance. */
export function sharedGatewayCheck(o: GatewayObservation, endpoint: string): DoctorCheck {
  const name = CheckName.SharedGateway;
  switch (o.kind) {
    case 'no-instance':
      return { name, status: CheckStatus.Warn, detail: `not checked: ${ConfigVariable.KmsInstanceId} unset` };
    case 'no-key':
      return { name, status: CheckStatus.Warn, detail: `not checked: no key yet (no Enabled managed key in ${o.instanceId})`, fix: 'run doctor again after the first onboard' };
    case 'lookup-failed':
      return { name, status: CheckStatus.Warn, detail: `not checked: looking for a managed key in ${o.instanceId} failed (${o.action}: ${shownCode(o.error)})` };
    case 'probed': {
      const key = `${o.keyId}${o.alias ? ` (${o.alias})` : ''}`;
      if (!o.error) return { name, status: CheckStatus.Ok, detail: `Encrypt through ${endpoint} on ${key} in ${o.instanceId} answered` };
      // Real KMS publishes no code for "Internet access is off"; Forbidden.NoPermission is inferred
      // (docs/kms-3-instances.md §6), and a RAM deny of kms:Encrypt looks the same: any refusal
      // (Forbidden.* other than not-found) is read as this, and the detail says it could be RAM.
      if (isRefused(o.error)) {
        return {
          name,
          status: CheckStatus.Fail,
          detail: `Encrypt through ${endpoint} on ${key} in ${o.instanceId} refused (${shownCode(o.error)}; or RAM denies kms:Encrypt)`,
          fix: `turn on Internet access (shared gateway) for ${o.instanceId} in the KMS console (Instances > ${o.instanceId} > Share Resources)`,
        };
      }
      if (o.error.kmsCode === 'Rejected.Unavailable') {
        return { name, status: CheckStatus.Fail, detail: `Encrypt on ${key} in ${o.instanceId} answered Rejected.Unavailable: the instance has lapsed`, fix: RENEW_FIX(o.instanceId) };
      }
      return { name, status: CheckStatus.Fail, detail: `Encrypt through ${endpoint} on ${key} in ${o.instanceId} failed (${shownCode(o.error)})` };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 4. Escrow and lease keys

/** The escrow tag the function role's policy requires before Secrets Manager may use a key. */
export const ESCROW_TAG = { key: 'byok:escrow', value: 'true' } as const;

/** Verdict on the escrow (or lease) CMK from DescribeKey and its tags. */
export function protectorKeyCheck(
  name: string,
  variable: string,
  keyRef: string,
  outcome: { meta: Pick<KeyMetadata, 'keyId' | 'keyState' | 'origin' | 'dkmsInstanceId'>; tags?: Record<string, string> } | ProbeError,
  instances: { keys?: string; escrow?: string },
): DoctorCheck {
  if ('code' in outcome) {
    if (isNotFound(outcome)) return { name, status: CheckStatus.Fail, detail: `${keyRef} not found (${shownCode(outcome)})`, fix: `check ${variable} and ${ConfigVariable.Region}` };
    return { name, status: CheckStatus.Fail, detail: `DescribeKey ${keyRef} failed (${shownCode(outcome)})`, ...(isRefused(outcome) ? { fix: 'grant kms:DescribeKey to this identity' } : {}) };
  }
  const { meta, tags } = outcome;
  const problems: string[] = [];
  const fixes: string[] = [];
  if (meta.keyState !== 'Enabled') {
    problems.push(`is ${meta.keyState}, not Enabled`);
    fixes.push('enable it (the orchestrator never enables keys)');
  }
  if (meta.origin !== 'Aliyun_KMS') {
    problems.push(`has Origin ${meta.origin}, not Aliyun_KMS`);
    fixes.push(`point ${variable} at an Aliyun_KMS key: protecting escrow with imported material makes recovery depend on what it recovers`);
  }
  const where = meta.dkmsInstanceId ?? 'no KMS instance';
  if (instances.escrow !== undefined && meta.dkmsInstanceId !== instances.escrow) {
    const shared = instances.keys !== undefined && meta.dkmsInstanceId === instances.keys ? ' (the keys\' instance)' : '';
    problems.push(`is in ${where}${shared}, not in ${instances.escrow} (${ConfigVariable.EscrowInstanceId})`);
    fixes.push(`point ${variable} at an Aliyun_KMS key in ${instances.escrow}: its secrets must be encrypted by a key of their own instance`);
  }
  const tagged = tags?.[ESCROW_TAG.key] === ESCROW_TAG.value;
  if (problems.length > 0) return { name, status: CheckStatus.Fail, detail: `${meta.keyId} ${problems.join('; ')}`, fix: fixes.join('; ') };
  const found = `${meta.keyId} Enabled, Aliyun_KMS, in ${where}`;
  if (!tagged) {
    return {
      name,
      status: CheckStatus.Warn,
      detail: `${found}, not tagged ${ESCROW_TAG.key}=${ESCROW_TAG.value}: the function role's policy lets Secrets Manager use only keys with that tag`,
      fix: `tag ${meta.keyId} ${ESCROW_TAG.key}=${ESCROW_TAG.value}`,
    };
  }
  return { name, status: CheckStatus.Ok, detail: `${found}, tagged ${ESCROW_TAG.key}=${ESCROW_TAG.value}` };
}

// ---------------------------------------------------------------------------------------------
// 5. Escrow placement

/**
 * Escrow must not share fate with the keys: the config refuses a shared instance at start unless
 * break-glass or BYOK_ALLOW_ESCROW_IN_KEY_INSTANCE accepts it (recomputed here from the config),
 * and the escrow key's observed instance must not be the keys' one either.
 */
export function escrowPlacementCheck(config: Pick<Config, 'escrow' | 'instances'>, escrowKeyInstance: string | undefined): DoctorCheck {
  const name = CheckName.EscrowPlacement;
  if (config.escrow.backend === 'file') return { name, status: CheckStatus.Ok, detail: 'escrow backend file: sealed files, in no KMS instance' };
  const { keys, escrow } = config.instances;
  const breakGlass = config.escrow.recoveryPublicKeyFile !== undefined;
  if (keys === escrow) {
    const where = keys ?? 'the default instance (both unset)';
    return {
      name,
      status: CheckStatus.Warn,
      detail: `escrow and keys share ${where}: one lapsed or released instance loses both; ${breakGlass ? `accepted because the offline break-glass copy (${ConfigVariable.RecoveryPublicKeyFile}) is configured` : `accepted by ${ConfigVariable.AllowEscrowInKeyInstance}=true`}`,
      fix: `put the escrow key and secrets in another instance (${ConfigVariable.EscrowInstanceId})`,
    };
  }
  if (keys !== undefined && escrowKeyInstance === keys) {
    return {
      name,
      status: CheckStatus.Fail,
      detail: `the escrow key is in the keys' instance ${keys}: one lapsed or released instance would lose keys and escrow together`,
      fix: `use an escrow key in ${escrow ?? 'another instance'}`,
    };
  }
  return { name, status: CheckStatus.Ok, detail: `escrow in ${escrow ?? 'the default instance'}, keys in ${keys ?? 'the default key / instance'}${breakGlass ? '; offline break-glass copy configured' : ''}` };
}

// ---------------------------------------------------------------------------------------------
// 6. RAM

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
  read: ['ListKeys', 'GetKmsInstance', 'GetDefaultKmsInstance', 'ListAliases', 'DescribeKey', 'ListResourceTags', 'Encrypt', 'Decrypt', 'ListSecrets', 'GetSecretValue', 'DescribeSecret', 'ListSecretVersionIds'],
  write: ['CreateKey', 'TagResource', 'UntagResource', 'CreateAlias', 'UpdateAlias', 'GetParametersForImport', 'ImportKeyMaterial', 'DeleteKeyMaterial', 'CreateSecret', 'PutSecretValue'],
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
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i').test(value);
}

/** `kms:<Action>`s that no Allow statement of `policy` names (actions only: resources and conditions are not evaluated). */
export function ungrantedActions(policy: unknown, actions: readonly string[]): string[] {
  const statements = (policy as { Statement?: unknown } | undefined)?.Statement;
  const allowed = (Array.isArray(statements) ? statements : [])
    .filter((s): s is { Effect: string; Action: unknown } => typeof s === 'object' && s !== null && (s as { Effect?: unknown }).Effect === 'Allow')
    .flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]))
    .filter((a): a is string => typeof a === 'string');
  return actions.map((a) => `kms:${a}`).filter((a) => !allowed.some((p) => wildcard(p, a)));
}

/**
 * Verdict on the live read probes. `expected` are the reads this configuration needs; an expected
 * read with no record was not probed (`skipped` says why). `attributed` maps actions whose refusal
 * another check already explains (Encrypt/Decrypt on the keys' instance -> shared gateway).
 */
export function ramReadCheck(input: { identity: string; expected: readonly string[]; records: readonly ProbeRecord[]; skipped: Record<string, string>; attributed?: Record<string, string> }): DoctorCheck {
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
    else if (records.length > 0) answered.push(action); // answered, possibly "not found": that is authorised
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
    ...(refused.length ? { fix: `grant ${refused.map((r) => `kms:${r.split(' ')[0]}`).join(', ')} to ${input.identity} (scripts/deploy/${RAM_POLICY_FILE})` } : {}),
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
  if (policy === undefined) return { name, status: CheckStatus.Warn, detail: `${head}; no policy document to compare them with`, fix: `compare the role's policy with scripts/deploy/${RAM_POLICY_FILE}` };
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
  return { name, status: CheckStatus.Ok, detail: `${head}; checked statically: ${RAM_POLICY_FILE} grants them and every read call (actions only)` };
}

// ---------------------------------------------------------------------------------------------
// 7. Webhook secrets

/** Verdict on one webhook secret setting; a secret's value (and length) is never looked at. */
export function webhookSecretCheck(
  which: 'secret' | 'urlToken',
  setting: SecretSetting | undefined,
  outcome?: 'readable' | ProbeError,
): DoctorCheck {
  const name = which === 'secret' ? CheckName.WebhookSecret : CheckName.WebhookUrlToken;
  const [valueVar, nameVar] = which === 'secret' ? [ConfigVariable.WebhookSecret, ConfigVariable.WebhookSecretName] : [ConfigVariable.WebhookUrlToken, ConfigVariable.WebhookUrlTokenName];
  if (setting === undefined) {
    return {
      name,
      status: CheckStatus.Warn,
      detail: `${nameVar} and ${valueVar} unset: the webhook rejects every ${which === 'secret' ? 'signed call (x-byok-signature)' : 'CloudMonitor callback (?token=)'}`,
      fix: `create the secret ${which === 'secret' ? 'byok-webhook-hmac' : 'byok-webhook-url-token'} and set ${nameVar}`,
    };
  }
  if (setting.source === 'value') return { name, status: CheckStatus.Ok, detail: `set in ${valueVar} (value not shown)` };
  const secret = setting.secretName;
  if (outcome === undefined) return { name, status: CheckStatus.Warn, detail: `not checked: secret ${secret} (${nameVar})` };
  if (outcome === 'readable') return { name, status: CheckStatus.Ok, detail: `secret ${secret} readable (value not shown)` };
  if (isNotFound(outcome)) {
    return { name, status: CheckStatus.Fail, detail: `secret ${secret} (${nameVar}) does not exist (${shownCode(outcome)})`, fix: `create it (scripts/deploy/README.md) or correct ${nameVar}` };
  }
  if (isRefused(outcome)) {
    return { name, status: CheckStatus.Fail, detail: `reading secret ${secret} (${nameVar}) refused (${shownCode(outcome)})`, fix: 'grant kms:GetSecretValue on it (the function role reads only byok-* secrets)' };
  }
  return { name, status: CheckStatus.Fail, detail: `reading secret ${secret} (${nameVar}) failed (${shownCode(outcome)})` };
}

// ---------------------------------------------------------------------------------------------
// Probing

/** What doctor needs: the KMS client, the configuration and a few ambient values. */
export interface DoctorInput {
  kms: KmsPort;
  config: Config;
  nowMs: number;
  random: RandomSource;
  /** Who the probes run as, for the RAM check (`access key <id>`, `the function role`). */
  identity: string;
  /** The shipped function-role policy document, compared statically; undefined = not compared. */
  ramPolicy?: unknown;
}

/** At most this many DescribeKey calls while looking for a managed key to probe the gateway with. */
const MAX_KEY_LOOKUPS = 25;
/** Name prefix of lineage lease secrets (shared/lifecycle/lease.ts). */
const LEASE_SECRET_PREFIX = 'byok-lease/';

/** A probe's outcome as a value. */
type Probed<T> = { ok: true; value: T } | { ok: false; error: ProbeError };

/** Records every probe (action, outcome) so the RAM check can report exactly what was called. */
class ProbeLog {
  readonly records: ProbeRecord[] = [];
  readonly skipped: Record<string, string> = {};

  async run<T>(action: string, call: () => Promise<T>): Promise<Probed<T>> {
    try {
      const value = await call();
      this.records.push({ action });
      return { ok: true, value };
    } catch (err) {
      const error = probeErrorOf(err);
      this.records.push({ action, error });
      return { ok: false, error };
    }
  }

  /** Records why `actions` were not probed (the first reason wins). */
  skip(actions: readonly string[], why: string): void {
    for (const a of actions) this.skipped[a] ??= why;
  }
}

const valueOr = <T>(p: Probed<T>): T | ProbeError => (p.ok ? p.value : p.error);

/** Runs every check; never writes, never throws for a KMS answer (each becomes a check). */
export async function runDoctor(input: DoctorInput): Promise<DoctorCheck[]> {
  const { kms, config, nowMs } = input;
  const probes = new ProbeLog();
  const endpoint = `${config.kms.protocol}://${config.kms.endpoint}`;
  const { keys: keysInstance, escrow: escrowInstance } = config.instances;
  const escrowKeyRef = config.escrow.backend === 'kms-secrets' ? config.escrow.keyId : undefined;
  const separateLeaseKey = config.leaseKeyId !== escrowKeyRef;

  // 1. Credentials and region: one harmless read. If it fails, every other KMS check would only
  // repeat its error, so they are reported as not checked.
  const listed = await probes.run('ListKeys', () => kms.listKeys());
  const checks: DoctorCheck[] = [credentialsCheck(config, listed.ok ? { keys: listed.value.length } : listed.error)];
  if (!listed.ok) {
    const notChecked = (name: string): DoctorCheck => ({ name, status: CheckStatus.Warn, detail: `not checked: ${CheckName.Credentials} failed` });
    const webhook = (which: 'secret' | 'urlToken', name: string) => (config.webhook[which]?.source === 'kms-secret' ? notChecked(name) : webhookSecretCheck(which, config.webhook[which]));
    return [
      ...checks,
      notChecked(CheckName.KeysInstance),
      ...(escrowInstance !== undefined || escrowKeyRef !== undefined ? [notChecked(CheckName.EscrowInstance)] : []),
      notChecked(CheckName.SharedGateway),
      ...(escrowKeyRef !== undefined ? [notChecked(CheckName.EscrowKey)] : []),
      ...(separateLeaseKey ? [notChecked(CheckName.LeaseKey)] : []),
      escrowPlacementCheck(config, undefined),
      notChecked(CheckName.RamReads),
      ramWriteCheck(input.ramPolicy),
      webhook('secret', CheckName.WebhookSecret),
      webhook('urlToken', CheckName.WebhookUrlToken),
    ];
  }

  // 2. Instances (one GetKmsInstance per distinct id).
  const instanceInfo = new Map<string, KmsInstanceInfo | ProbeError>();
  for (const id of new Set([keysInstance, escrowInstance].filter((x): x is string => x !== undefined))) {
    instanceInfo.set(id, valueOr(await probes.run('GetKmsInstance', () => kms.getKmsInstance(id))));
  }
  if (instanceInfo.size === 0) probes.skip(['GetKmsInstance'], 'no instance configured');
  if (keysInstance !== undefined) checks.push(instanceCheck(CheckName.KeysInstance, ConfigVariable.KmsInstanceId, keysInstance, instanceInfo.get(keysInstance)!, nowMs, config.region));
  else checks.push(unsetKeysInstanceCheck(valueOr(await probes.run('GetDefaultKmsInstance', () => kms.getDefaultKmsInstance()))));

  // 4, observed here because 2 and 5 use the escrow key's instance: escrow and lease keys.
  const describeProtector = async (keyRef: string) => {
    const meta = await probes.run('DescribeKey', () => kms.describeKey(keyRef));
    if (!meta.ok) return meta.error;
    const tags = await probes.run('ListResourceTags', () => kms.listResourceTags(meta.value.keyId));
    return { meta: meta.value, ...(tags.ok ? { tags: tags.value } : {}) };
  };
  const escrowKey = escrowKeyRef === undefined ? undefined : await describeProtector(escrowKeyRef);
  const leaseKey = separateLeaseKey ? await describeProtector(config.leaseKeyId) : undefined;
  const escrowKeyInstance = escrowKey !== undefined && 'meta' in escrowKey ? escrowKey.meta.dkmsInstanceId : undefined;

  if (escrowInstance !== undefined) checks.push(instanceCheck(CheckName.EscrowInstance, ConfigVariable.EscrowInstanceId, escrowInstance, instanceInfo.get(escrowInstance)!, nowMs, config.region));
  else if (escrowKeyRef !== undefined) checks.push(unsetEscrowInstanceCheck(escrowKeyInstance));

  // 3. Shared gateway: Encrypt (then Decrypt) a random probe under a managed key of the keys' instance.
  const gateway = await probeGateway(input, probes, listed.value);
  checks.push(sharedGatewayCheck(gateway, endpoint));

  const placement = { ...(keysInstance !== undefined ? { keys: keysInstance } : {}), ...(escrowInstance !== undefined ? { escrow: escrowInstance } : {}) };
  if (escrowKeyRef === undefined) checks.push({ name: CheckName.EscrowKey, status: CheckStatus.Ok, detail: 'skipped: escrow backend file (sealed files, no escrow CMK)' });
  else checks.push(protectorKeyCheck(CheckName.EscrowKey, ConfigVariable.EscrowKeyId, escrowKeyRef, escrowKey!, placement));
  if (leaseKey !== undefined) checks.push(protectorKeyCheck(CheckName.LeaseKey, ConfigVariable.LeaseKeyId, config.leaseKeyId, leaseKey, placement));

  // 5. Placement.
  checks.push(escrowPlacementCheck(config, escrowKeyInstance));

  // 7 (probed before the RAM verdict, which counts its GetSecretValue calls): webhook secrets,
  // read and dropped; neither value nor length is looked at.
  const webhookChecks: DoctorCheck[] = [];
  for (const which of ['secret', 'urlToken'] as const) {
    const setting = config.webhook[which];
    if (setting?.source !== 'kms-secret') {
      webhookChecks.push(webhookSecretCheck(which, setting));
      continue;
    }
    const read = await probes.run('GetSecretValue', async () => {
      await kms.getSecretValue({ secretName: setting.secretName });
    });
    webhookChecks.push(webhookSecretCheck(which, setting, read.ok ? 'readable' : read.error));
  }

  // 6. RAM: the remaining reads (secrets), then the verdicts.
  await probeSecretReads(input, probes);
  const expected = KMS_ACTIONS.read.filter((a) => a !== 'GetDefaultKmsInstance' || keysInstance === undefined);
  const attributed: Record<string, string> = {};
  if (gateway.kind === 'probed' && gateway.error && isRefused(gateway.error)) {
    attributed['Encrypt'] = CheckName.SharedGateway;
    attributed['Decrypt'] = CheckName.SharedGateway;
  }
  checks.push(ramReadCheck({ identity: input.identity, expected, records: probes.records, skipped: probes.skipped, attributed }));
  checks.push(ramWriteCheck(input.ramPolicy));
  checks.push(...webhookChecks);
  return checks;
}

/** Finds an Enabled managed key in the keys' instance (aliased keys first, then ListKeys order) and probes Encrypt/Decrypt with it. */
async function probeGateway(input: DoctorInput, probes: ProbeLog, keyIds: readonly string[]): Promise<GatewayObservation> {
  const { kms, config, random } = input;
  const instanceId = config.instances.keys;
  if (instanceId === undefined) {
    probes.skip(['ListAliases', 'Encrypt', 'Decrypt'], `${ConfigVariable.KmsInstanceId} unset`);
    return { kind: 'no-instance' };
  }
  const aliases = await probes.run('ListAliases', () => kms.listAliases());
  if (!aliases.ok) {
    probes.skip(['Encrypt', 'Decrypt'], 'ListAliases failed');
    return { kind: 'lookup-failed', instanceId, action: 'ListAliases', error: aliases.error };
  }
  const aliasOf = new Map<string, string>();
  for (const a of [...aliases.value].sort((x, y) => x.aliasName.localeCompare(y.aliasName))) if (!aliasOf.has(a.keyId)) aliasOf.set(a.keyId, a.aliasName);
  const candidates = [...new Set([...aliasOf.keys(), ...keyIds])].slice(0, MAX_KEY_LOOKUPS);
  let found: { keyId: string; alias?: string } | undefined;
  for (const keyId of candidates) {
    const meta = await probes.run('DescribeKey', () => kms.describeKey(keyId));
    if (!meta.ok) {
      if (isNotFound(meta.error)) continue; // deleted since ListKeys
      probes.skip(['Encrypt', 'Decrypt'], 'DescribeKey failed');
      return { kind: 'lookup-failed', instanceId, action: 'DescribeKey', error: meta.error };
    }
    if (meta.value.dkmsInstanceId !== instanceId || meta.value.keyState !== 'Enabled') continue;
    const tags = await probes.run('ListResourceTags', () => kms.listResourceTags(meta.value.keyId));
    if (!tags.ok) {
      probes.skip(['Encrypt', 'Decrypt'], 'ListResourceTags failed');
      return { kind: 'lookup-failed', instanceId, action: 'ListResourceTags', error: tags.error };
    }
    if (tags.value['byok:managed'] !== 'true') continue;
    const alias = aliasOf.get(keyId);
    found = { keyId: meta.value.keyId, ...(alias ? { alias } : {}) };
    break;
  }
  if (!found) {
    probes.skip(['Encrypt', 'Decrypt'], 'no managed key yet');
    return { kind: 'no-key', instanceId };
  }
  // Encrypt changes no state; the random 16-byte probe is never kept.
  const plaintext = random.bytes(16).toString('base64');
  const enc = await probes.run('Encrypt', () => kms.encrypt({ keyId: found.keyId, plaintext }));
  if (!enc.ok) {
    probes.skip(['Decrypt'], 'Encrypt failed');
    return { kind: 'probed', instanceId, ...found, error: enc.error };
  }
  await probes.run('Decrypt', () => kms.decrypt({ ciphertextBlob: enc.value.ciphertextBlob }));
  return { kind: 'probed', instanceId, ...found };
}

/**
 * ListSecrets, then GetSecretValue / DescribeSecret / ListSecretVersionIds on one byok secret: an
 * escrow secret if one exists (the path observe takes), else a lease secret. The value read is
 * dropped without being looked at.
 */
async function probeSecretReads(input: DoctorInput, probes: ProbeLog): Promise<void> {
  const { kms } = input;
  const perSecret = ['GetSecretValue', 'DescribeSecret', 'ListSecretVersionIds'];
  const secrets = await probes.run('ListSecrets', () => kms.listSecrets());
  if (!secrets.ok) {
    probes.skip(perSecret, 'ListSecrets failed');
    return;
  }
  const names = secrets.value.map((s) => s.secretName).sort();
  const target = names.find((n) => n.startsWith(ESCROW_SECRET_PREFIX)) ?? names.find((n) => n.startsWith(LEASE_SECRET_PREFIX));
  if (target === undefined) {
    probes.skip(perSecret, 'no escrow or lease secret yet');
    return;
  }
  await probes.run('GetSecretValue', async () => {
    await kms.getSecretValue({ secretName: target });
  });
  await probes.run('DescribeSecret', () => kms.describeSecret(target));
  await probes.run('ListSecretVersionIds', () => kms.listSecretVersionIds(target));
}
