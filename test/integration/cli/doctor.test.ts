/**
 * `npm run ops -- doctor` in direct mode, run in-process (`runCli`) against the KMS emulator
 * (KMS 3.0 instances) over real HTTP through the product's adapter, with the kms-secrets escrow
 * backend, as a cloud deployment has it.
 *
 * Healthy: the managed keys in one software instance with shared-gateway access, the escrow CMK
 * (tagged byok:escrow=true) with the escrow, lease and webhook secrets in another; every check ok,
 * exit 0. Broken (a second emulator): the escrow key in the keys' instance, the keys' instance
 * ending in 5 days with shared-gateway access off, a webhook secret name that does not exist;
 * exit 1. The engine clock is pinned at the emulator's start time, so "days left" is exact.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ACCOUNT_ID, startKmsEmulator, type KmsEmulator } from '@byok/kms-emulator';
import { ExitCode, runCli } from '../../../scripts/ops/cli.js';
import type { KmsPort } from '../../../shared/kms/port.js';
import { parseConfig } from '../../../shared/config/index.js';
import { ErrorCode, OrchestratorError } from '../../../shared/errors.js';
import { runDoctor } from '../../../shared/ops/doctor.js';
import { systemRandom } from '../../../shared/system.js';
import { emulatorKmsWithEscrowKey } from '../../support/cli-env.js';

const AK = { accessKeyId: 'doctor-ak-0001', accessKeySecret: 'doctor-SECRET-value-do-not-print-0123456789' };
/** Who direct mode probes as: the principal STS GetCallerIdentity names (the emulator answers it). */
const PROBED_AS =
  `acs:ram::${DEFAULT_ACCOUNT_ID}:user/${AK.accessKeyId} ` +
  `(access key ${AK.accessKeyId} from ALIBABA_CLOUD_ACCESS_KEY_ID)`;
const KEYS = 'kst-hzz65f176a0keys000001';
const ESCROW = 'kst-hzz65f176a0escrow0001';
const HMAC_VALUE = 'hmac-SECRET-value-never-printed-0123456789';
const TOKEN_VALUE = 'token-SECRET-value-never-printed-0123456789';
const iso = (unix: number) => new Date(unix * 1000).toISOString().replace('.000Z', 'Z');

/** Everything the CLI printed in this file, checked for secrets at the end. */
const everything: string[] = [];

interface Setup {
  emu: KmsEmulator;
  kms: KmsPort;
  dir: string;
  env: Record<string, string | undefined>;
  startUnix: number;
  escrowKeyId: string;
}

async function setUp(instances: { keysEndDays: number; escrowEndDays: number }): Promise<Setup> {
  const emu = await startKmsEmulator({
    port: 0,
    credentials: [AK],
    kmsVersion: 3,
    instances: [
      { id: KEYS, type: 'software', sharedGateway: true },
      { id: ESCROW, type: 'software', sharedGateway: true },
    ],
  });
  // One instant for the instances' end dates and the (pinned) engine clock, so days left are exact.
  const startUnix = emu.clock.nowUnix();
  emu.instances.upsert({ id: KEYS, type: 'software', endUnix: startUnix + instances.keysEndDays * 86_400 });
  emu.instances.upsert({ id: ESCROW, type: 'software', endUnix: startUnix + instances.escrowEndDays * 86_400 });
  const { kms, escrowKeyId } = await emulatorKmsWithEscrowKey(emu.endpoint, () => AK, ESCROW);
  await kms.tagResource(escrowKeyId, { 'byok:escrow': 'true' });
  for (const [name, value] of [
    ['byok-webhook-hmac', HMAC_VALUE],
    ['byok-webhook-url-token', TOKEN_VALUE],
  ] as const) {
    await kms.createSecret({
      secretName: name,
      versionId: 'v1',
      secretData: value,
      encryptionKeyId: escrowKeyId,
      dkmsInstanceId: ESCROW,
    });
  }
  const dir = await mkdtemp(join(tmpdir(), 'byok-doctor-'));
  const env = {
    BYOK_REGION: 'cn-hangzhou',
    BYOK_KMS_ENDPOINT: emu.endpoint,
    BYOK_KMS_PROTOCOL: 'http',
    BYOK_KMS_INSTANCE_ID: KEYS,
    BYOK_ESCROW_INSTANCE_ID: ESCROW,
    BYOK_ESCROW_BACKEND: 'kms-secrets',
    BYOK_ESCROW_KEY_ID: escrowKeyId,
    BYOK_AUDIT_SINK: 'file',
    BYOK_AUDIT_FILE: join(dir, 'audit.jsonl'),
    BYOK_WEBHOOK_SECRET_NAME: 'byok-webhook-hmac',
    BYOK_WEBHOOK_URL_TOKEN_NAME: 'byok-webhook-url-token',
    ALIBABA_CLOUD_ACCESS_KEY_ID: AK.accessKeyId,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: AK.accessKeySecret,
  };
  return { emu, kms, dir, env, startUnix, escrowKeyId: escrowKeyId };
}

async function ops(
  s: Setup,
  argv: string[],
  extraEnv: Record<string, string | undefined> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    env: { ...s.env, ...extraEnv },
    stdout: (x) => (stdout += x),
    stderr: (x) => (stderr += x),
    now: () => s.startUnix * 1000,
  });
  everything.push(stdout, stderr);
  return { code, stdout, stderr };
}

async function tearDown(s: Setup | undefined): Promise<void> {
  await s?.emu.close();
  if (s) await rm(s.dir, { recursive: true, force: true });
}

const READS =
  'ListKeys, GetKmsInstance, ListAliases, DescribeKey, ListResourceTags, Encrypt, ' +
  'Decrypt, ListSecrets, GetSecretValue, DescribeSecret, ListSecretVersionIds';
const WRITES_LINE =
  'ok    ram write calls    not probed (write): CreateKey, TagResource, UntagResource, CreateAlias, ' +
  'UpdateAlias, GetParametersForImport, ImportKeyMaterial, DeleteKeyMaterial, CreateSecret, ' +
  'PutSecretValue; checked statically: ram-policy-function.json grants them and every read call (actions only)';
const RENEW = (id: string) =>
  `renew ${id}: past its end date every key and secret in it stops working, and an ` +
  `instance not renewed within 15 days of expiry is released with every key and secret in it`;

describe('a healthy deployment', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp({ keysEndDays: 365, escrowEndDays: 400 });
  });
  afterAll(() => tearDown(s));

  it('doctor --help documents the line format and the exit codes, without touching KMS', async () => {
    const r = await ops(s, ['doctor', '--help'], { BYOK_REGION: undefined });
    expect(r.code).toBe(ExitCode.Ok);
    expect(r.stdout).toContain('One line per check: ok|warn|fail  <check>  <what it found>  [-> what to do].');
    expect(r.stdout).toContain(
      'doctor exits 0 when every check is ok, 3 when some warn and none fails, 1 when any fails.',
    );
  });

  it('before the first onboard: warns that the gateway and the secret reads could not be probed, exit 3', async () => {
    const r = await ops(s, ['doctor']);
    const lines = r.stdout.split('\n');
    expect(r.code).toBe(ExitCode.Alert);
    expect(lines.filter((l) => l.startsWith('warn'))).toEqual([
      `warn  shared gateway     not checked: no key yet (no Enabled ` +
        `managed key in ${KEYS})  -> run doctor again after the first onboard`,
      `warn  ram read calls     probed as ${PROBED_AS}; answered: ListKeys, ` +
        `GetKmsInstance, ListAliases, DescribeKey, ListResourceTags, ListSecrets, GetSecretValue; ` +
        'not probed: Encrypt, Decrypt (no managed key yet); not probed: ' +
        'DescribeSecret, ListSecretVersionIds (no escrow or lease secret yet)',
    ]);
  });

  it('after an onboard: every check ok, one line each, exit 0', async () => {
    const onboard = await ops(s, ['onboard', 'alias/payments', '--json']);
    expect(onboard.code).toBe(ExitCode.Ok);
    const keyId = JSON.parse(onboard.stdout).keyId as string;
    const r = await ops(s, ['doctor']);
    expect(r.code).toBe(ExitCode.Ok);
    expect(r.stdout.split('\n')).toEqual([
      `ok    credentials        ListKeys answered at http://${s.emu.endpoint} (cn-hangzhou): 2 keys`,
      `ok    keys instance      ${KEYS} Connected, subscription ` +
        `ends ${iso(s.startUnix + 365 * 86_400)} (365 days left)`,
      `ok    escrow instance    ${ESCROW} Connected, subscription ` +
        `ends ${iso(s.startUnix + 400 * 86_400)} (400 days left)`,
      `ok    shared gateway     Encrypt through http://${s.emu.endpoint} ` +
        `on ${keyId} (alias/payments) in ${KEYS} answered`,
      `ok    escrow key         ${s.escrowKeyId} Enabled, Aliyun_KMS, in ${ESCROW}, tagged byok:escrow=true`,
      `ok    escrow placement   escrow in ${ESCROW}, keys in ${KEYS}`,
      `ok    ram read calls     probed as ${PROBED_AS}; answered: ${READS}`,
      WRITES_LINE,
      'ok    webhook secret     secret byok-webhook-hmac readable (value not shown)',
      'ok    webhook url token  secret byok-webhook-url-token readable (value not shown)',
      '',
    ]);
  });

  it('--json prints {command, ok, exitCode, checks[{name, status, detail, fix?}]}', async () => {
    const r = await ops(s, ['doctor', '--json']);
    const doc = JSON.parse(r.stdout) as {
      command: string;
      ok: boolean;
      exitCode: number;
      checks: Array<Record<string, unknown>>;
    };
    expect([r.code, doc.command, doc.ok, doc.exitCode]).toEqual([0, 'doctor', true, 0]);
    expect(doc.checks.map((c) => [c['name'], c['status']])).toEqual([
      ['credentials', 'ok'],
      ['keys instance', 'ok'],
      ['escrow instance', 'ok'],
      ['shared gateway', 'ok'],
      ['escrow key', 'ok'],
      ['escrow placement', 'ok'],
      ['ram read calls', 'ok'],
      ['ram write calls', 'ok'],
      ['webhook secret', 'ok'],
      ['webhook url token', 'ok'],
    ]);
    expect(Object.keys(doc.checks[0]!).sort()).toEqual(['detail', 'name', 'status']);
  });

  it('a RAM refusal of one read (ListSecrets) fails the read check and names the action', async () => {
    const config = parseConfig(s.env);
    const refusing: KmsPort = {
      ...s.kms,
      listSecrets: async () => {
        throw new OrchestratorError(ErrorCode.KmsForbidden, 'KMS ListSecrets failed: Forbidden.RAM (HTTP 403)', {
          details: { action: 'ListSecrets', kmsCode: 'Forbidden.RAM', httpStatus: 403 },
        });
      },
    };
    const checks = await runDoctor({
      kms: refusing,
      config,
      nowMs: s.startUnix * 1000,
      random: systemRandom,
      identity: 'the function role',
    });
    expect(checks.find((c) => c.name === 'ram read calls')).toEqual({
      name: 'ram read calls',
      status: 'fail',
      detail:
        'probed as the function role; answered: ListKeys, GetKmsInstance, ListAliases, DescribeKey, ' +
        'ListResourceTags, Encrypt, Decrypt, GetSecretValue; refused: ListSecrets ' +
        '(Forbidden.RAM); not probed: DescribeSecret, ListSecretVersionIds (ListSecrets failed)',
      fix: 'grant kms:ListSecrets to the function role (scripts/deploy/ram-policy-function.json)',
    });
  });

  it('wrong credentials: the error code names what is wrong, the rest is not checked, exit 1', async () => {
    const r = await ops(s, ['doctor'], { ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'not-the-secret' });
    expect(r.code).toBe(ExitCode.Failure);
    expect(r.stdout.split('\n').slice(0, 3)).toEqual([
      `fail  credentials        ListKeys at http://${s.emu.endpoint} (cn-hangzhou) failed: the access ` +
        `key secret does not match the access key id (SignatureDoesNotMatch)  -> check the access key secret ` +
        'of the resolved credentials (ALIBABA_CLOUD_ACCESS_KEY_SECRET or the --profile entry)',
      'warn  keys instance      not checked: credentials failed',
      'warn  escrow instance    not checked: credentials failed',
    ]);
  });
});

describe('a broken deployment', () => {
  let s: Setup;
  let keyId: string;
  let badEscrowKeyId: string;
  beforeAll(async () => {
    s = await setUp({ keysEndDays: 5, escrowEndDays: 400 });
    // Onboard while the gateway is open, then close it: a key to probe, then the broken gateway.
    const onboard = await ops(s, ['onboard', 'alias/payments', '--json']);
    keyId = JSON.parse(onboard.stdout).keyId as string;
    s.emu.instances.upsert({ id: KEYS, type: 'software', sharedGateway: false });
    // The escrow key named in the config lives in the keys' instance.
    const bad = await s.kms.createKey({
      origin: 'Aliyun_KMS',
      keySpec: 'Aliyun_AES_256',
      description: 'escrow CMK in the wrong instance',
      dkmsInstanceId: KEYS,
    });
    await s.kms.tagResource(bad.keyId, { 'byok:escrow': 'true' });
    badEscrowKeyId = bad.keyId;
  });
  afterAll(() => tearDown(s));

  it('names every fault with what to do, exit 1', async () => {
    const r = await ops(s, ['doctor'], {
      BYOK_ESCROW_KEY_ID: badEscrowKeyId,
      BYOK_LEASE_KEY_ID: s.escrowKeyId,
      BYOK_WEBHOOK_SECRET_NAME: 'byok-webhook-missing',
      BYOK_WEBHOOK_URL_TOKEN_NAME: undefined,
      BYOK_WEBHOOK_URL_TOKEN: TOKEN_VALUE,
    });
    expect(r.code).toBe(ExitCode.Failure);
    expect(r.stdout.split('\n')).toEqual([
      `ok    credentials        ListKeys answered at http://${s.emu.endpoint} (cn-hangzhou): 3 keys`,
      `fail  keys instance      ${KEYS} Connected, subscription ` +
        `ends ${iso(s.startUnix + 5 * 86_400)} (5 days left)  -> ${RENEW(KEYS)}`,
      `ok    escrow instance    ${ESCROW} Connected, subscription ` +
        `ends ${iso(s.startUnix + 400 * 86_400)} (400 days left)`,
      `fail  shared gateway     Encrypt through http://${s.emu.endpoint} on ${keyId} (alias/payments) ` +
        `in ${KEYS} refused (Forbidden.NoPermission; or RAM denies kms:Encrypt)  -> turn on Internet ` +
        `access (shared gateway) for ${KEYS} in the KMS console (Instances > ${KEYS} > Share Resources)`,
      `fail  escrow key         ${badEscrowKeyId} is in ${KEYS} (the keys' instance), not in ${ESCROW} ` +
        `(BYOK_ESCROW_INSTANCE_ID)  -> point BYOK_ESCROW_KEY_ID at an Aliyun_KMS ` +
        `key in ${ESCROW}: its secrets must be encrypted by a key of their own instance`,
      `ok    lease key          ${s.escrowKeyId} Enabled, Aliyun_KMS, in ${ESCROW}, tagged byok:escrow=true`,
      `fail  escrow placement   the escrow key is in the keys' instance ${KEYS}: one lapsed ` +
        `or released instance would lose keys and escrow together  -> use an escrow key in ${ESCROW}`,
      `ok    ram read calls     probed as ${PROBED_AS}; answered: ListKeys, ` +
        `GetKmsInstance, ListAliases, DescribeKey, ListResourceTags, ListSecrets, GetSecretValue, ` +
        `DescribeSecret, ListSecretVersionIds; see other checks: Encrypt (shared gateway), Decrypt (shared gateway)`,
      WRITES_LINE,
      'fail  webhook secret     secret byok-webhook-missing (BYOK_WEBHOOK_SECRET_NAME) does not exist ' +
        '(Forbidden.ResourceNotFound)  -> create it (scripts/deploy/README.md) or correct BYOK_WEBHOOK_SECRET_NAME',
      'ok    webhook url token  set in BYOK_WEBHOOK_URL_TOKEN (value not shown)',
      '',
    ]);
  });

  it('an instance past its end date fails with the release warning', async () => {
    s.emu.instances.upsert({ id: ESCROW, type: 'software', endUnix: s.startUnix - 2 * 86_400 });
    const r = await ops(s, ['doctor']);
    expect(r.stdout.split('\n').find((l) => l.includes('escrow instance'))).toBe(
      `fail  escrow instance    ${ESCROW} subscription ended ${iso(s.startUnix - 2 * 86_400)} ` +
        `(2 days ago): its keys and secrets answer Rejected.Unavailable  -> ${RENEW(ESCROW)}`,
    );
  });
});

describe("the gateway probe uses only a managed key of the keys' instance", () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp({ keysEndDays: 365, escrowEndDays: 400 });
    await ops(s, ['onboard', 'alias/payments']);
  });
  afterAll(() => tearDown(s));

  it('with BYOK_KMS_INSTANCE_ID naming an instance without keys, the managed key elsewhere is not probed', async () => {
    const EMPTY = 'kst-hzz65f176a0empty00001';
    s.emu.instances.upsert({ id: EMPTY, type: 'software', sharedGateway: false });
    const r = await ops(s, ['doctor'], { BYOK_KMS_INSTANCE_ID: EMPTY });
    expect(r.stdout.split('\n').find((l) => l.includes('shared gateway'))).toBe(
      `warn  shared gateway     not checked: no key yet (no Enabled ` +
        `managed key in ${EMPTY})  -> run doctor again after the first onboard`,
    );
  });
});

afterAll(() => {
  // No secret ever printed: access key secret, webhook values.
  const all = everything.join('\n');
  for (const secret of [AK.accessKeySecret, HMAC_VALUE, TOKEN_VALUE]) expect(all).not.toContain(secret);
});
