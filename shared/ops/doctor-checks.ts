/**
 * `doctor`'s check model and its pure verdict builders for credentials and instances: observations
 * in, checks out, unit-tested with values. The probing that makes the observations is in doctor.ts
 * and doctor-probes.ts; the other verdicts are in doctor-gateway.ts (shared gateway),
 * doctor-secrets.ts (escrow and lease keys, placement, webhook secrets) and doctor-ram.ts; the output
 * is in doctor-render.ts.
 */
import type { Config } from '../config/index.js';
import { ConfigVariable } from '../config/index.js';
import { ErrorCode, OrchestratorError } from '../errors.js';
import type { KmsInstanceInfo } from '../kms/port.js';
import { DAY_MS } from '../lifecycle/model.js';

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

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${Math.abs(n) === 1 ? one : many}`;

/** What a failed probe tells: our code and, when KMS answered, its own code. Never a message from KMS. */
export interface ProbeError {
  code: string;
  kmsCode?: string;
}

/** The code to show for a failed probe: KMS's own when it answered, else ours. */
export const shownCode = (e: ProbeError): string => e.kmsCode ?? e.code;

/** What a thrown error tells about a failed probe (codes only). */
export function probeErrorOf(err: unknown): ProbeError {
  if (err instanceof OrchestratorError)
    return { code: err.code, ...(err.details.kmsCode ? { kmsCode: err.details.kmsCode } : {}) };
  return { code: ErrorCode.Internal };
}

/** KMS codes that say a thing does not exist (KMS files several of them under Forbidden.*). */
const NOT_FOUND_CODES = new Set([
  'Forbidden.KeyNotFound',
  'Forbidden.AliasNotFound',
  'Forbidden.ResourceNotFound',
  'Forbidden.KeyVersionNotFound',
  'Forbidden.DKMSInstanceNotFound',
]);
/** A "not found" answer (ours or KMS's). */
export const isNotFound = (e: ProbeError): boolean =>
  e.code === ErrorCode.KmsNotFound || (e.kmsCode !== undefined && NOT_FOUND_CODES.has(e.kmsCode));
/**
 * Refused by the permission system (RAM, or an instance setting): Forbidden.* other than "not found" and instance
 * state.
 */
export const isRefused = (e: ProbeError): boolean =>
  e.code === ErrorCode.KmsForbidden &&
  !isNotFound(e) &&
  e.kmsCode !== 'Forbidden.DKMSInstanceStateInvalid' &&
  !isCredentialCode(e.kmsCode);
const isCredentialCode = (c: string | undefined): boolean =>
  c !== undefined &&
  (c.startsWith('InvalidAccessKeyId') || c === 'SignatureDoesNotMatch' || c.startsWith('InvalidSecurityToken'));

// ---------------------------------------------------------------------------------------------
// 1. Credentials and region

/** What the first harmless read (ListKeys) told about credentials, region and endpoint. */
export function credentialsCheck(
  config: Pick<Config, 'region' | 'kms'>,
  outcome: { keys: number } | ProbeError,
): DoctorCheck {
  const where = `${config.kms.protocol}://${config.kms.endpoint} (${config.region})`;
  const name = CheckName.Credentials;
  if ('keys' in outcome)
    return { name, status: CheckStatus.Ok, detail: `ListKeys answered at ${where}: ${plural(outcome.keys, 'key')}` };
  const c = outcome.kmsCode ?? '';
  const fail = (what: string, fix: string): DoctorCheck => ({
    name,
    status: CheckStatus.Fail,
    detail: `ListKeys at ${where} failed: ${what} (${shownCode(outcome)})`,
    fix,
  });
  if (c.startsWith('InvalidAccessKeyId'))
    return fail(
      'KMS does not know the access key id',
      'check the credentials the CLI resolved (ALIBABA_CLOUD_ACCESS_KEY_ID, --profile / ~/.aliyun/config.json; ' +
        "doctor's credentials line names their source) or the function role's credentials",
    );
  if (c === 'SignatureDoesNotMatch')
    return fail(
      'the access key secret does not match the access key id',
      'check the access key secret of the resolved credentials ' +
        '(ALIBABA_CLOUD_ACCESS_KEY_SECRET or the --profile entry)',
    );
  if (c.startsWith('InvalidSecurityToken'))
    return fail(
      'the STS security token is invalid or expired',
      'refresh ALIBABA_CLOUD_SECURITY_TOKEN with the access key pair it was issued with',
    );
  if (c === 'IllegalTimestamp' || c === 'InvalidTimeStamp.Expired')
    return fail("the request time is too far from KMS's clock", "synchronise this machine's clock (NTP)");
  if (outcome.code === ErrorCode.KmsForbidden)
    return fail(
      'the permission system refuses kms:ListKeys',
      'grant kms:ListKeys to this identity (scripts/deploy/ram-policy-function.json)',
    );
  if (outcome.code === ErrorCode.KmsNetwork)
    return fail(
      'KMS cannot be reached',
      `check ${ConfigVariable.Region} and ${ConfigVariable.KmsEndpoint} (and the network route to it)`,
    );
  return fail(
    'KMS refused a harmless read',
    `check ${ConfigVariable.Region}, ${ConfigVariable.KmsEndpoint} and the credentials`,
  );
}

// ---------------------------------------------------------------------------------------------
// 2. Instances

/** What to do about an instance whose subscription ends soon or has ended. */
export const RENEW_FIX = (id: string) =>
  `renew ${id}: past its end date every key and secret in it stops working, and an ` +
  `instance not renewed within 15 days of expiry is released with every key and secret in it`;

/** Verdict on one configured instance from GetKmsInstance's answer at `nowMs`. */
export function instanceCheck(
  name: string,
  variable: string,
  id: string,
  outcome: KmsInstanceInfo | ProbeError,
  nowMs: number,
  region: string,
): DoctorCheck {
  if ('code' in outcome) {
    if (isNotFound(outcome))
      return {
        name,
        status: CheckStatus.Fail,
        detail: `${id} not found in ${region} (${shownCode(outcome)})`,
        fix: `check ${variable} and ${ConfigVariable.Region}`,
      };
    return {
      name,
      status: CheckStatus.Fail,
      detail: `GetKmsInstance ${id} failed (${shownCode(outcome)})`,
      fix: isRefused(outcome) ? 'grant kms:GetKmsInstance to this identity' : `check ${variable}`,
    };
  }
  const end = outcome.endDateMs;
  if (end !== undefined && end <= nowMs) {
    return {
      name,
      status: CheckStatus.Fail,
      detail:
        `${id} subscription ended ${iso(end)} (${plural(-daysUntil(end, nowMs), 'day')} ` +
        `ago): its keys and secrets answer Rejected.Unavailable`,
      fix: RENEW_FIX(id),
    };
  }
  if (outcome.status !== 'Connected') {
    return {
      name,
      status: CheckStatus.Fail,
      detail: `${id} is ${outcome.status || 'in no reported state'}, not Connected`,
      fix: `wait for it to connect, or repair it in the KMS console (Instances > ${id})`,
    };
  }
  if (end === undefined)
    return { name, status: CheckStatus.Ok, detail: `${id} Connected, no subscription end date reported` };
  const days = daysUntil(end, nowMs);
  const status = instanceExpiryStatus(days);
  return {
    name,
    status,
    detail: `${id} Connected, subscription ends ${iso(end)} (${plural(days, 'day')} left)`,
    ...(status === CheckStatus.Ok ? {} : { fix: RENEW_FIX(id) }),
  };
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
    detail:
      `${ConfigVariable.KmsInstanceId} unset: new CMKs become the region's default key (only ` +
      `one: a second lineage or a rotation fails) or land in the default instance of a migrated account; ${found}`,
    fix: `set ${ConfigVariable.KmsInstanceId} to the key management instance the keys belong in`,
  };
}

/** BYOK_ESCROW_INSTANCE_ID unset with the kms-secrets backend. */
export function unsetEscrowInstanceCheck(escrowKeyInstance: string | undefined): DoctorCheck {
  return {
    name: CheckName.EscrowInstance,
    status: CheckStatus.Warn,
    detail:
      `${ConfigVariable.EscrowInstanceId} unset: escrow and lease secrets are created without ` +
      'an instance id (the default instance)' +
      (escrowKeyInstance ? `, but the escrow key is in ${escrowKeyInstance}` : ''),
    fix:
      `set ${ConfigVariable.EscrowInstanceId} to the escrow key's instance` +
      (escrowKeyInstance ? ` (${escrowKeyInstance})` : ''),
  };
}
