/**
 * Configuration: parsed and validated once, from a plain map of environment variables (the caller
 * passes `process.env`; nothing in shared/ reads it). Every problem is collected, and all of them
 * are reported in one InvalidConfig error whose message names each variable and the rule it broke.
 *
 * Variables (the README copies this table):
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `BYOK_REGION` | required | KMS region id, e.g. `cn-hangzhou` |
 * | `BYOK_KMS_ENDPOINT` | `kms.<region>.aliyuncs.com` | KMS endpoint as `host[:port]`, no scheme (a VPC endpoint, or `127.0.0.1:PORT` for the emulator) |
 * | `BYOK_KMS_PROTOCOL` | `https` | `http` or `https` (`http` only for the local emulator) |
 * | `BYOK_KMS_MAX_RPS` | none | client-side ceiling on KMS requests per second (a number > 0, at most 1000) |
 * | `BYOK_KMS_CONCURRENCY` | `4` | KMS calls in flight at once, 1-64 |
 * | `BYOK_KMS_INSTANCE_ID` | none (warned) | KMS 3.0 instance (`kst-...`) the managed CMKs are created in; unset = the region's default key (only one) or the default instance of a migrated account |
 * | `BYOK_ESCROW_INSTANCE_ID` | none | KMS 3.0 instance of the escrow CMK and of the escrow and lease secrets; must differ from `BYOK_KMS_INSTANCE_ID` (see `BYOK_ALLOW_ESCROW_IN_KEY_INSTANCE`) |
 * | `BYOK_ALLOW_ESCROW_IN_KEY_INSTANCE` | `false` | `true` accepts escrow in the keys' own instance (one released or lapsed instance then loses keys and escrow together); not needed when `BYOK_RECOVERY_PUBLIC_KEY_FILE` is set |
 * | `BYOK_ESCROW_BACKEND` | `kms-secrets` | where escrowed material lives: `kms-secrets` (KMS Secrets Manager) or `file` (sealed local files) |
 * | `BYOK_ESCROW_KEY_ID` | required for `kms-secrets` | the `Aliyun_KMS` CMK that encrypts escrow secrets (also the default lease key) |
 * | `BYOK_ESCROW_DIR` | required for `file` | directory of sealed escrow files |
 * | `BYOK_ESCROW_MASTER_KEY_FILE` | required for `file` | 32-byte master key of the file backend (created when the store is empty) |
 * | `BYOK_RECOVERY_PUBLIC_KEY_FILE` | none | PEM of an offline RSA-4096 break-glass public key; every escrow record is also sealed to it |
 * | `BYOK_LEASE_KEY_ID` | `BYOK_ESCROW_KEY_ID` | the `Aliyun_KMS` CMK that encrypts lineage lease secrets; one of the two is required |
 * | `BYOK_LEASE_TTL_SECONDS` | `900` | how long a lineage lease lasts (60-86400); keep it above the function timeout |
 * | `BYOK_AUDIT_SINK` | `stdout` | `stdout`, `file` or `both` |
 * | `BYOK_AUDIT_FILE` | required for `file`/`both` | audit JSONL file (appended) |
 * | `BYOK_POLICY_VALIDITY_DAYS` | `30` | Valid Until of each import, days from now (2-3650) |
 * | `BYOK_POLICY_RENEW_BEFORE_DAYS` | `7` | renew this many days before Valid Until (1-3649, less than the validity) |
 * | `BYOK_POLICY_ROTATE_AFTER_DAYS` | `365` | new generation after this many days (0 = never, else 1-36500) |
 * | `BYOK_POLICY_RETAIN_PREVIOUS_DAYS` | `90` | keep renewing a superseded generation this long (1-36500) |
 * | `BYOK_POLICY_WRAPPING_ALGORITHM` | `RSAES_OAEP_SHA_256` | `RSAES_OAEP_SHA_256`, `RSAES_OAEP_SHA_1`, `RSAES_PKCS1_V1_5` or `SM2PKE` |
 * | `BYOK_POLICY_KEY_SPEC` | `Aliyun_AES_256` | key spec of new CMKs: `Aliyun_AES_256`, `Aliyun_AES_192`, `Aliyun_AES_128`, `Aliyun_SM4` |
 * | `BYOK_POLICY_OVERRIDES` | none | JSON `{"<lineage>": {"validityDays": 10, ...}}`; fields as the policy variables in camelCase |
 * | `BYOK_WEBHOOK_SECRET` | none | webhook HMAC secret (>= 16 characters); prefer `..._NAME` |
 * | `BYOK_WEBHOOK_SECRET_NAME` | none | name of the KMS secret holding the webhook HMAC secret (set one of the two at most) |
 * | `BYOK_WEBHOOK_URL_TOKEN` | none | webhook URL token (>= 16 URL-safe characters); prefer `..._NAME` |
 * | `BYOK_WEBHOOK_URL_TOKEN_NAME` | none | name of the KMS secret holding the URL token (set one of the two at most) |
 *
 * An empty value counts as unset. Values are trimmed, except secrets. Secret values are kept in a
 * SecretString, which prints and serialises as `[redacted]`; `redactConfig` is the only view of a
 * Config meant for output.
 */
import { inspect } from 'node:util';
import { ErrorCode, OrchestratorError } from '../errors.js';
import { lineageProblem } from '../lineage.js';
import { KeySpec, WrappingAlgorithm, isKeySpec, isWrappingAlgorithm } from '../wrap/index.js';

/** Every variable this module reads (plus BYOK_DEBUG, read by the CLI), for typo warnings. */
export const ConfigVariable = {
  Region: 'BYOK_REGION',
  KmsEndpoint: 'BYOK_KMS_ENDPOINT',
  KmsProtocol: 'BYOK_KMS_PROTOCOL',
  KmsMaxRps: 'BYOK_KMS_MAX_RPS',
  KmsConcurrency: 'BYOK_KMS_CONCURRENCY',
  KmsInstanceId: 'BYOK_KMS_INSTANCE_ID',
  EscrowInstanceId: 'BYOK_ESCROW_INSTANCE_ID',
  AllowEscrowInKeyInstance: 'BYOK_ALLOW_ESCROW_IN_KEY_INSTANCE',
  EscrowBackend: 'BYOK_ESCROW_BACKEND',
  EscrowKeyId: 'BYOK_ESCROW_KEY_ID',
  EscrowDir: 'BYOK_ESCROW_DIR',
  EscrowMasterKeyFile: 'BYOK_ESCROW_MASTER_KEY_FILE',
  RecoveryPublicKeyFile: 'BYOK_RECOVERY_PUBLIC_KEY_FILE',
  LeaseKeyId: 'BYOK_LEASE_KEY_ID',
  LeaseTtlSeconds: 'BYOK_LEASE_TTL_SECONDS',
  AuditSink: 'BYOK_AUDIT_SINK',
  AuditFile: 'BYOK_AUDIT_FILE',
  PolicyValidityDays: 'BYOK_POLICY_VALIDITY_DAYS',
  PolicyRenewBeforeDays: 'BYOK_POLICY_RENEW_BEFORE_DAYS',
  PolicyRotateAfterDays: 'BYOK_POLICY_ROTATE_AFTER_DAYS',
  PolicyRetainPreviousDays: 'BYOK_POLICY_RETAIN_PREVIOUS_DAYS',
  PolicyWrappingAlgorithm: 'BYOK_POLICY_WRAPPING_ALGORITHM',
  PolicyKeySpec: 'BYOK_POLICY_KEY_SPEC',
  PolicyOverrides: 'BYOK_POLICY_OVERRIDES',
  WebhookSecret: 'BYOK_WEBHOOK_SECRET',
  WebhookSecretName: 'BYOK_WEBHOOK_SECRET_NAME',
  WebhookUrlToken: 'BYOK_WEBHOOK_URL_TOKEN',
  WebhookUrlTokenName: 'BYOK_WEBHOOK_URL_TOKEN_NAME',
  Debug: 'BYOK_DEBUG',
  // Read by the CLI's remote mode and the local stack (scripts/), listed so they are not typos.
  FcEndpoint: 'BYOK_FC_ENDPOINT',
  FcAccountId: 'BYOK_FC_ACCOUNT_ID',
  OpsFunction: 'BYOK_OPS_FUNCTION',
  Fc2Service: 'BYOK_FC2_SERVICE',
  LocalTimeUrl: 'BYOK_LOCAL_TIME_URL',
} as const;
/** A configuration variable name. */
export type ConfigVariable = (typeof ConfigVariable)[keyof typeof ConfigVariable];

/** Variables whose values are secrets: never echoed, never trimmed, never printed. */
const SECRET_VARIABLES: ReadonlySet<string> = new Set([ConfigVariable.WebhookSecret, ConfigVariable.WebhookUrlToken]);

/** A secret value that prints, inspects and serialises as `[redacted]`; `reveal()` gives the value. */
export class SecretString {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  /** The secret itself: call only where it is used (an HMAC key), never to print it. */
  reveal(): string {
    return this.#value;
  }
  /** Serialises as `[redacted]`. */
  toJSON(): string {
    return REDACTED;
  }
  /** Prints as `[redacted]`. */
  toString(): string {
    return REDACTED;
  }
  /** util.inspect / console.log show `[redacted]`. */
  [inspect.custom](): string {
    return REDACTED;
  }
}

/** What redacted values look like in output. */
export const REDACTED = '[redacted]';

/** KMS transport protocols. */
export const KmsProtocol = { Http: 'http', Https: 'https' } as const;
/** A KMS transport protocol. */
export type KmsProtocol = (typeof KmsProtocol)[keyof typeof KmsProtocol];

/** Audit sinks. */
export const AuditSink = { Stdout: 'stdout', File: 'file', Both: 'both' } as const;
/** An audit sink choice. */
export type AuditSink = (typeof AuditSink)[keyof typeof AuditSink];

/** Escrow backends (same values as shared/escrow's EscrowBackend). */
export const EscrowBackendName = { File: 'file', KmsSecrets: 'kms-secrets' } as const;
/** An escrow backend name. */
export type EscrowBackendName = (typeof EscrowBackendName)[keyof typeof EscrowBackendName];

/** One lineage policy (structurally the lifecycle's LineagePolicy; config stays a leaf module). */
export interface PolicyConfig {
  validityDays: number;
  renewBeforeDays: number;
  /** 0 = never rotate. */
  rotateAfterDays: number;
  retainPreviousDays: number;
  wrappingAlgorithm: WrappingAlgorithm;
  keySpec: KeySpec;
}

/** Policy defaults plus per-lineage overrides (structurally the lifecycle's Policies). */
export interface PoliciesConfig {
  defaults: PolicyConfig;
  lineages: Record<string, Partial<PolicyConfig>>;
}

/** Where a webhook secret comes from: the value itself, or the name of a KMS secret holding it. */
export type SecretSetting = { source: 'value'; value: SecretString } | { source: 'kms-secret'; secretName: string };

/** Escrow backend settings. */
export type EscrowConfig =
  | { backend: 'file'; dir: string; masterKeyFile: string; recoveryPublicKeyFile?: string }
  | { backend: 'kms-secrets'; keyId: string; recoveryPublicKeyFile?: string };

/** The validated configuration. Print it only through `redactConfig`. */
export interface Config {
  region: string;
  kms: {
    /** host[:port], no scheme. */
    endpoint: string;
    protocol: KmsProtocol;
    /** Client-side QPS ceiling; undefined = none. */
    maxRequestsPerSecond?: number;
    concurrency: number;
  };
  escrow: EscrowConfig;
  /**
   * KMS 3.0 placement (docs/kms-3-instances.md): `keys` = instance of the managed CMKs, `escrow` =
   * instance of the escrow CMK and the escrow/lease secrets. Undefined = no DKMSInstanceId sent.
   */
  instances: { keys?: string; escrow?: string };
  /** Aliyun_KMS CMK that encrypts lease secrets. */
  leaseKeyId: string;
  leaseTtlSeconds: number;
  audit: { sink: AuditSink; file?: string };
  policies: PoliciesConfig;
  webhook: { secret?: SecretSetting; urlToken?: SecretSetting };
  /** Things worth telling an operator that do not stop the start (unknown BYOK_* names, ignored variables). */
  warnings: string[];
}

/** One configuration problem: the variable (or `VAR.path` inside a JSON variable) and the rule. */
export interface ConfigProblem {
  variable: string;
  message: string;
}

/** InvalidConfig carrying every problem found; the message lists them all. */
export class ConfigError extends OrchestratorError {
  override readonly name: string = 'ConfigError';
  readonly problems: readonly ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    const lines = problems.map((p) => p.message);
    const message = lines.length === 1 ? lines[0]! : `${lines.length} configuration problems: ${lines.join('; ')}`;
    super(ErrorCode.InvalidConfig, message, {
      details: { field: problems[0]?.variable, variables: [...new Set(problems.map((p) => p.variable.split('.')[0]!))].join(',') },
    });
    this.problems = problems;
  }
}

/** Policy defaults (issue #3 §4): 30 d validity, renew 7 d before, rotate yearly, keep previous 90 d. */
export const DEFAULT_POLICY: Readonly<PolicyConfig> = {
  validityDays: 30,
  renewBeforeDays: 7,
  rotateAfterDays: 365,
  retainPreviousDays: 90,
  wrappingAlgorithm: WrappingAlgorithm.RsaesOaepSha256,
  keySpec: KeySpec.Aes256,
};

/** Default KMS calls in flight. */
export const DEFAULT_KMS_CONCURRENCY = 4;
/** Default lease lifetime: above the sweep function's 600 s timeout. */
export const DEFAULT_LEASE_TTL_SECONDS = 900;

/** Integer ranges of numeric settings (one place, so messages and checks agree). */
const Range = {
  validityDays: [2, 3650],
  renewBeforeDays: [1, 3649],
  rotateAfterDays: [0, 36500],
  retainPreviousDays: [1, 36500],
  concurrency: [1, 64],
  leaseTtlSeconds: [60, 86400],
} as const;

const POLICY_FIELDS = ['validityDays', 'renewBeforeDays', 'rotateAfterDays', 'retainPreviousDays', 'wrappingAlgorithm', 'keySpec'] as const;
type PolicyField = (typeof POLICY_FIELDS)[number];

/** `cn-hangzhou`, `ap-southeast-1`, `cn-shanghai-finance-1`. */
const REGION_PATTERN = /^[a-z]{2,}(?:-[a-z0-9]+)+$/;
/** A DNS name or IPv4 address, optional port. */
const ENDPOINT_PATTERN = /^([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)(?::(\d{1,5}))?$/;
/** CMK ids (UUID or `key-...`), `alias/...` names or ARNs: no spaces. */
const KEY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,255}$/;
/** Secrets Manager names: <= 192 chars of letters, digits and `_ / + = . @ -` (docs/kms-api.md §2.12). */
const SECRET_NAME_PATTERN = /^[A-Za-z0-9_/+=.@-]{1,192}$/;
/**
 * KMS 3.0 instance ids: `kst-` + a region prefix and random lowercase letters and digits
 * (documented example `kst-hzz62ee817bvyyr5x****`; the exact length is inferred, so be lenient).
 */
const INSTANCE_ID_PATTERN = /^kst-[a-z0-9]{6,48}$/;
/** RFC 3986 unreserved characters: a URL token must survive a URL unescaped. */
const URL_TOKEN_PATTERN = /^[A-Za-z0-9._~-]+$/;
const MIN_SECRET_CHARS = 16;

/** How a bad value is shown: quoted, escaped, cut at 64 characters; secrets never. */
function shown(variable: string, raw: string): string {
  if (SECRET_VARIABLES.has(variable)) return 'a value (not shown)';
  const cut = raw.length > 64 ? `${raw.slice(0, 64)}...` : raw;
  return JSON.stringify(cut);
}

type Env = Record<string, string | undefined>;

/** Collects problems while reading variables. */
class Reader {
  readonly problems: ConfigProblem[] = [];
  readonly warnings: string[] = [];
  constructor(private readonly env: Env) {}

  fail(variable: string, rule: string): undefined {
    this.problems.push({ variable, message: `${variable}: ${rule}` });
    return undefined;
  }

  /** The raw value: undefined when unset or empty; trimmed unless secret. */
  raw(variable: string): string | undefined {
    const v = this.env[variable];
    if (v === undefined) return undefined;
    if (SECRET_VARIABLES.has(variable)) return v === '' ? undefined : v;
    const t = v.trim();
    return t === '' ? undefined : t;
  }

  isSet(variable: string): boolean {
    return this.raw(variable) !== undefined;
  }

  string(variable: string, pattern: RegExp, rule: string): string | undefined {
    const v = this.raw(variable);
    if (v === undefined) return undefined;
    return pattern.test(v) ? v : this.fail(variable, `${rule}, got ${shown(variable, v)}`);
  }

  required(variable: string, rule: string, value: string | undefined): string | undefined {
    if (value === undefined && !this.isSet(variable)) this.fail(variable, `required: ${rule}`);
    return value;
  }

  oneOf<T extends string>(variable: string, allowed: readonly T[], fallback: T): T | undefined {
    const v = this.raw(variable);
    if (v === undefined) return fallback;
    return (allowed as readonly string[]).includes(v) ? (v as T) : this.fail(variable, `must be one of ${allowed.join(', ')}, got ${shown(variable, v)}`);
  }

  int(variable: string, [min, max]: readonly [number, number], fallback: number, note = ''): number | undefined {
    const v = this.raw(variable);
    if (v === undefined) return fallback;
    return checkInt(v, min, max) ?? this.fail(variable, `must be a whole number from ${min} to ${max}${note}, got ${shown(variable, v)}`);
  }
}

function checkInt(v: string, min: number, max: number): number | undefined {
  if (!/^\d{1,9}$/.test(v)) return undefined;
  const n = Number(v);
  return n >= min && n <= max ? n : undefined;
}

/** Parses and validates the whole configuration, or throws one ConfigError listing every problem. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const r = new Reader(env);
  const V = ConfigVariable;

  // Region and KMS endpoint.
  const region = r.required(V.Region, 'the KMS region id, e.g. cn-hangzhou', r.string(V.Region, REGION_PATTERN, 'must be a region id such as cn-hangzhou'));
  let endpoint: string | undefined;
  const rawEndpoint = r.raw(V.KmsEndpoint);
  if (rawEndpoint !== undefined) {
    const m = ENDPOINT_PATTERN.exec(rawEndpoint);
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(rawEndpoint)) {
      r.fail(V.KmsEndpoint, `must be host[:port] without a scheme (set ${V.KmsProtocol} instead), got ${shown(V.KmsEndpoint, rawEndpoint)}`);
    } else if (!m || (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535))) {
      r.fail(V.KmsEndpoint, `must be host[:port] with a port from 1 to 65535, got ${shown(V.KmsEndpoint, rawEndpoint)}`);
    } else {
      endpoint = rawEndpoint;
    }
  } else if (region !== undefined) {
    endpoint = `kms.${region}.aliyuncs.com`;
  }
  const protocol = r.oneOf(V.KmsProtocol, Object.values(KmsProtocol), KmsProtocol.Https);
  let maxRequestsPerSecond: number | undefined;
  const rawRps = r.raw(V.KmsMaxRps);
  if (rawRps !== undefined) {
    const n = /^\d+(?:\.\d+)?$/.test(rawRps) ? Number(rawRps) : NaN;
    if (n > 0 && n <= 1000) maxRequestsPerSecond = n;
    else r.fail(V.KmsMaxRps, `must be a number greater than 0 and at most 1000, got ${shown(V.KmsMaxRps, rawRps)}`);
  }
  const concurrency = r.int(V.KmsConcurrency, Range.concurrency, DEFAULT_KMS_CONCURRENCY);

  // Escrow and leases.
  const backend = r.oneOf(V.EscrowBackend, Object.values(EscrowBackendName), EscrowBackendName.KmsSecrets);
  const keyIdRule = 'must be a CMK id, alias/<name> or ARN without spaces';
  const escrowKeyId = r.string(V.EscrowKeyId, KEY_ID_PATTERN, keyIdRule);
  const recoveryPublicKeyFile = r.raw(V.RecoveryPublicKeyFile);
  let escrow: EscrowConfig | undefined;
  if (backend === EscrowBackendName.File) {
    const dir = r.required(V.EscrowDir, `the directory of sealed escrow files (${V.EscrowBackend}=file)`, r.raw(V.EscrowDir));
    const masterKeyFile = r.required(V.EscrowMasterKeyFile, `the escrow master key file (${V.EscrowBackend}=file)`, r.raw(V.EscrowMasterKeyFile));
    if (dir !== undefined && masterKeyFile !== undefined) escrow = { backend, dir, masterKeyFile, ...opt('recoveryPublicKeyFile', recoveryPublicKeyFile) };
  } else if (backend === EscrowBackendName.KmsSecrets) {
    const keyId = r.required(V.EscrowKeyId, `the Aliyun_KMS CMK that encrypts escrow secrets (${V.EscrowBackend}=kms-secrets)`, escrowKeyId);
    if (keyId !== undefined) escrow = { backend, keyId, ...opt('recoveryPublicKeyFile', recoveryPublicKeyFile) };
    for (const ignored of [V.EscrowDir, V.EscrowMasterKeyFile]) {
      if (r.isSet(ignored)) r.warnings.push(`${ignored} is ignored: ${V.EscrowBackend} is kms-secrets`);
    }
  }
  let leaseKeyId = r.string(V.LeaseKeyId, KEY_ID_PATTERN, keyIdRule);
  if (!r.isSet(V.LeaseKeyId)) {
    leaseKeyId = escrowKeyId;
    if (!r.isSet(V.EscrowKeyId)) {
      r.fail(V.LeaseKeyId, `required: the Aliyun_KMS CMK that encrypts lineage lease secrets; set it or ${V.EscrowKeyId}`);
    }
  }
  const leaseTtlSeconds = r.int(V.LeaseTtlSeconds, Range.leaseTtlSeconds, DEFAULT_LEASE_TTL_SECONDS);

  // KMS 3.0 instances, and the rule that escrow must not share fate with the keys it protects.
  const instanceRule = 'must be a KMS instance id such as kst-hzz62ee817bvyyr5x0000';
  const keysInstance = r.string(V.KmsInstanceId, INSTANCE_ID_PATTERN, instanceRule);
  const escrowInstance = r.string(V.EscrowInstanceId, INSTANCE_ID_PATTERN, instanceRule);
  const allowShared = r.oneOf(V.AllowEscrowInKeyInstance, ['true', 'false'] as const, 'false');
  if (!r.isSet(V.KmsInstanceId)) {
    r.warnings.push(
      `${V.KmsInstanceId} is unset: on KMS 3.0 new CMKs become the region's default key (at most one, so a second lineage or rotation fails) or, on an account migrated from KMS 1.0, land in its default instance; set it to the software or hardware key management instance the keys belong in`,
    );
  }
  // With the file backend the escrow is not in KMS; BYOK_ESCROW_INSTANCE_ID still places the lease secrets.
  if (backend === EscrowBackendName.KmsSecrets) checkEscrowPlacement(r, keysInstance, escrowInstance, recoveryPublicKeyFile !== undefined, allowShared === 'true');

  // Audit.
  const sink = r.oneOf(V.AuditSink, Object.values(AuditSink), AuditSink.Stdout);
  const auditFile = r.raw(V.AuditFile);
  if ((sink === AuditSink.File || sink === AuditSink.Both) && auditFile === undefined) {
    r.fail(V.AuditFile, `required: the audit JSONL file (${V.AuditSink}=${sink})`);
  }

  // Policies.
  const defaults = parsePolicyDefaults(r);
  const lineages = parseOverrides(r, defaults);

  // Webhook secrets.
  const secret = parseSecretSetting(r, V.WebhookSecret, V.WebhookSecretName, /^[\s\S]+$/, `at least ${MIN_SECRET_CHARS} characters`);
  const urlToken = parseSecretSetting(r, V.WebhookUrlToken, V.WebhookUrlTokenName, URL_TOKEN_PATTERN, `at least ${MIN_SECRET_CHARS} characters of A-Z a-z 0-9 . _ ~ -`);

  warnUnknown(r, env);

  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return {
    region: region!,
    kms: { endpoint: endpoint!, protocol: protocol!, ...opt('maxRequestsPerSecond', maxRequestsPerSecond), concurrency: concurrency! },
    escrow: escrow!,
    instances: { ...opt('keys', keysInstance), ...opt('escrow', escrowInstance) },
    leaseKeyId: leaseKeyId!,
    leaseTtlSeconds: leaseTtlSeconds!,
    audit: { sink: sink!, ...opt('file', auditFile) },
    policies: { defaults: defaults as PolicyConfig, lineages },
    webhook: { ...opt('secret', secret), ...opt('urlToken', urlToken) },
    warnings: r.warnings,
  };
}

/**
 * Escrow secrets live in a KMS instance too. Releasing an instance, or letting its subscription
 * lapse, makes every key and secret in it unusable (docs/kms-3-instances.md §5): escrow in the
 * keys' own instance would be lost in the same billing event as the keys. Refused unless an
 * offline break-glass copy exists or the operator accepts the risk explicitly. Both unset means
 * both land in the account's default instance: the same instance.
 */
function checkEscrowPlacement(r: Reader, keys: string | undefined, escrow: string | undefined, breakGlass: boolean, allowed: boolean): void {
  const V = ConfigVariable;
  if (r.problems.some((p) => p.variable === V.KmsInstanceId || p.variable === V.EscrowInstanceId)) return;
  if (keys !== escrow) return;
  const where = keys === undefined ? 'both unset, so both would live in the default instance' : `both ${keys}`;
  if (breakGlass || allowed) {
    r.warnings.push(
      `${V.EscrowInstanceId} and ${V.KmsInstanceId} name the same instance (${where}): escrow shares fate with the keys; ${breakGlass ? `the offline break-glass copy (${V.RecoveryPublicKeyFile}) is the only way back if that instance is released or lapses` : `accepted by ${V.AllowEscrowInKeyInstance}=true`}`,
    );
    return;
  }
  r.fail(
    V.EscrowInstanceId,
    `must name a different KMS instance than ${V.KmsInstanceId} (${where}): releasing or not renewing one instance would destroy the keys and their escrow together; put the escrow CMK and secrets in another instance, or set ${V.RecoveryPublicKeyFile} (offline break-glass copy), or set ${V.AllowEscrowInKeyInstance}=true to accept the risk`,
  );
}

/** `{ [key]: value }` when value is defined, else `{}` (exactOptionalPropertyTypes-friendly). */
function opt<K extends string, T>(key: K, value: T | undefined): { [P in K]?: T } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: T };
}

function parsePolicyDefaults(r: Reader): Partial<PolicyConfig> {
  const V = ConfigVariable;
  const p: Partial<PolicyConfig> = {
    validityDays: r.int(V.PolicyValidityDays, Range.validityDays, DEFAULT_POLICY.validityDays),
    renewBeforeDays: r.int(V.PolicyRenewBeforeDays, Range.renewBeforeDays, DEFAULT_POLICY.renewBeforeDays),
    rotateAfterDays: r.int(V.PolicyRotateAfterDays, Range.rotateAfterDays, DEFAULT_POLICY.rotateAfterDays, ' (0 = never)'),
    retainPreviousDays: r.int(V.PolicyRetainPreviousDays, Range.retainPreviousDays, DEFAULT_POLICY.retainPreviousDays),
    wrappingAlgorithm: r.oneOf(V.PolicyWrappingAlgorithm, Object.values(WrappingAlgorithm), DEFAULT_POLICY.wrappingAlgorithm),
    keySpec: r.oneOf(V.PolicyKeySpec, Object.values(KeySpec), DEFAULT_POLICY.keySpec),
  };
  if (p.validityDays !== undefined && p.renewBeforeDays !== undefined && p.renewBeforeDays >= p.validityDays) {
    // Renewing at or before the moment of import would renew on every sweep.
    r.fail(V.PolicyRenewBeforeDays, `must be less than ${V.PolicyValidityDays} (${p.validityDays}), got ${p.renewBeforeDays}`);
  }
  return p;
}

function describeJson(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}...` : v);
  if (typeof v === 'object') return 'an object';
  return String(v);
}

/** Validates BYOK_POLICY_OVERRIDES field by field, and each lineage's effective policy. */
function parseOverrides(r: Reader, defaults: Partial<PolicyConfig>): Record<string, Partial<PolicyConfig>> {
  const V = ConfigVariable.PolicyOverrides;
  const raw = r.raw(V);
  const out: Record<string, Partial<PolicyConfig>> = {};
  if (raw === undefined) return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    // JSON.parse's own message quotes the input; ours does not need to.
    r.fail(V, 'must be a JSON object {"<lineage>": {"validityDays": 10, ...}}, got text that is not valid JSON');
    return out;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    r.fail(V, `must be a JSON object {"<lineage>": {...}}, got ${describeJson(parsed)}`);
    return out;
  }
  for (const [lineage, body] of Object.entries(parsed as Record<string, unknown>)) {
    const at = `${V}.${lineage}`;
    if (lineage.startsWith('alias/')) {
      r.fail(V, `lineage "${lineage.slice(0, 64)}" must be written without the alias/ prefix`);
      continue;
    }
    const problem = lineageProblem(lineage);
    if (problem !== undefined) {
      r.fail(V, `lineage ${describeJson(lineage)}: ${problem.text}`);
      continue;
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      r.fail(at, `must be an object of policy fields, got ${describeJson(body)}`);
      continue;
    }
    const o: Partial<PolicyConfig> = {};
    let ok = true;
    for (const [field, value] of Object.entries(body as Record<string, unknown>)) {
      const bad = (rule: string): void => {
        ok = false;
        r.fail(`${at}.${field}`, `${rule}, got ${describeJson(value)}`);
      };
      switch (field as PolicyField) {
        case 'validityDays':
        case 'renewBeforeDays':
        case 'rotateAfterDays':
        case 'retainPreviousDays': {
          const [min, max] = Range[field as 'validityDays'];
          if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) o[field as 'validityDays'] = value;
          else bad(`must be a whole number from ${min} to ${max}${field === 'rotateAfterDays' ? ' (0 = never)' : ''}`);
          break;
        }
        case 'wrappingAlgorithm':
          if (isWrappingAlgorithm(value)) o.wrappingAlgorithm = value;
          else bad(`must be one of ${Object.values(WrappingAlgorithm).join(', ')}`);
          break;
        case 'keySpec':
          if (isKeySpec(value)) o.keySpec = value;
          else bad(`must be one of ${Object.values(KeySpec).join(', ')}`);
          break;
        default:
          ok = false;
          r.fail(at, `unknown field ${describeJson(field)} (allowed: ${POLICY_FIELDS.join(', ')})`);
      }
    }
    if (!ok) continue;
    const validity = o.validityDays ?? defaults.validityDays;
    const renew = o.renewBeforeDays ?? defaults.renewBeforeDays;
    if (validity !== undefined && renew !== undefined && renew >= validity) {
      r.fail(at, `renewBeforeDays (${renew}) must be less than validityDays (${validity})`);
      continue;
    }
    out[lineage] = o;
  }
  return out;
}

function parseSecretSetting(r: Reader, valueVar: string, nameVar: string, pattern: RegExp, rule: string): SecretSetting | undefined {
  const value = r.raw(valueVar);
  const name = r.string(nameVar, SECRET_NAME_PATTERN, 'must be a Secrets Manager secret name (1-192 letters, digits and _ / + = . @ -)');
  if (value !== undefined && r.isSet(nameVar)) {
    r.fail(valueVar, `set either ${valueVar} or ${nameVar}, not both`);
    return undefined;
  }
  if (value !== undefined) {
    if (value.length < MIN_SECRET_CHARS || !pattern.test(value)) return r.fail(valueVar, `must be ${rule} (value not shown)`);
    return { source: 'value', value: new SecretString(value) };
  }
  if (name === undefined) return undefined;
  // The function role may read only byok-* secrets (scripts/deploy/ram-policy-function.json).
  if (!name.startsWith('byok-')) r.warnings.push(`${nameVar}: the deployed function role can read only secrets named byok-*`);
  return { source: 'kms-secret', secretName: name };
}

const KNOWN: ReadonlySet<string> = new Set(Object.values(ConfigVariable));

/** Warns about BYOK_* variables nobody reads (typos silently falling back to defaults are the danger). */
function warnUnknown(r: Reader, env: Env): void {
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('BYOK_') || KNOWN.has(name) || env[name] === undefined) continue;
    // A near miss (a typo) or a name whose words all appear in a known name (a shortened name).
    const words = name.split('_');
    const near = [...KNOWN]
      .map((k) => ({ k, d: editDistance(k, name), contains: words.every((w) => k.split('_').includes(w)) }))
      .filter((c) => c.d <= Math.max(3, Math.floor(name.length / 4)) || c.contains)
      .sort((a, b) => a.d - b.d)[0];
    const hint = near ? ` (did you mean ${near.k}?)` : '';
    r.warnings.push(`${name} is not a known variable and is ignored${hint}`);
  }
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** A JSON-safe copy of `config` for `--show-config` output: secret values replaced by `[redacted]`. */
export function redactConfig(config: Config): Record<string, unknown> {
  const secret = (s: SecretSetting | undefined) => (s === undefined ? undefined : s.source === 'value' ? { source: 'value', value: REDACTED } : { source: s.source, secretName: s.secretName });
  return JSON.parse(
    JSON.stringify({
      ...config,
      webhook: { secret: secret(config.webhook.secret), urlToken: secret(config.webhook.urlToken) },
    }),
  ) as Record<string, unknown>;
}
