/**
 * The on-call CLI in direct mode, run in-process (`runCli`) against the KMS emulator over real
 * HTTP with the official SDK, the file escrow backend and a file audit sink in a temp dir.
 *
 * Engine time: the emulator clock runs with real time, so reading it on every call would make
 * "days left" drop from 30 to 29 whenever a second ticks between onboard and status. The engine
 * clock here starts at the emulator's time and is advanced in lockstep with `emu.clock.advance`
 * (it lags the emulator by the seconds the test has run, far below any window that matters).
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ACCOUNT_ID, type KmsEmulator } from '@byok/kms-emulator';
import { ExitCode, runCli } from '../../../scripts/ops/cli.js';
import { type CliTestEnv, startCliTestEnv } from '../../support/cli-env.js';
import type { KmsPort } from '../../../shared/kms/port.js';
import { DAY_MS } from '../../../shared/lifecycle/model.js';

const AK = { accessKeyId: 'oncall-ak-0001', accessKeySecret: 'oncall-SECRET-value-do-not-print-0123456789' };
const STS_TOKEN = 'sts-token-SECRET-must-not-appear';

let emu: KmsEmulator;
let kms: KmsPort;
let dir: string;
let env: Record<string, string | undefined>;
let engineNowMs: number;
/** Everything the CLI printed in this file, checked for secrets at the end. */
const everything: string[] = [];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function ops(argv: string[], extraEnv: Record<string, string | undefined> = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    env: { ...env, ...extraEnv },
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    now: () => engineNowMs,
  });
  everything.push(stdout, stderr);
  return { code, stdout, stderr };
}

/** Runs with --json and parses stdout (which must be exactly one JSON document). */
// biome-ignore lint/suspicious/noExplicitAny: the CLI's JSON documents, read field by field in assertions
type Doc = Record<string, any>;

async function opsJson(argv: string[]): Promise<{ code: number; doc: Doc; stderr: string }> {
  const r = await ops([...argv, '--json']);
  return { code: r.code, doc: JSON.parse(r.stdout) as Doc, stderr: r.stderr };
}

function advanceDays(days: number): void {
  emu.clock.advance(days * 86_400);
  engineNowMs += days * DAY_MS;
}

let world: CliTestEnv | undefined;
beforeAll(async () => {
  // KMS 3.0: managed keys in one instance, the lease CMK and lease secrets in another.
  world = await startCliTestEnv(AK, 'byok-cli-');
  ({ emu, kms, dir, env } = world);
  engineNowMs = emu.clock.nowUnix() * 1000;
});

afterAll(async () => {
  await world?.close();
});

describe('usage and configuration errors', () => {
  it('--help lists every command and the exit codes, exit 0', async () => {
    const r = await ops(['--help']);
    expect(r.code).toBe(ExitCode.Ok);
    for (const c of [
      'status',
      'plan',
      'sweep',
      'onboard <alias>',
      'renew <alias|key>',
      'rotate <alias>',
      'reimport <key>',
      'revoke <key>',
      'restore <key>',
      'verify-escrow',
      'audit verify',
      'audit tail',
    ]) {
      expect(r.stdout).toContain(`  ${c}`);
    }
    expect(r.stdout).toContain('4  refused, nothing changed');
  });

  it("<command> --help shows that command's flags, without touching KMS or config", async () => {
    const r = await ops(['onboard', '--help'], { BYOK_REGION: undefined });
    expect(r.code).toBe(ExitCode.Ok);
    expect(r.stdout).toContain(
      'Usage: npm run ops -- onboard <alias> [--validity-days <days>] [--key-spec <spec>] [--json]',
    );
    expect((await ops(['audit', 'tail', '--help'])).stdout).toContain('--lines, -n <n>');
  });

  it('no command at all is a usage error (help on stderr), exit 2', async () => {
    const r = await ops([]);
    expect([r.code, r.stdout, r.stderr.startsWith('Usage: npm run ops --')]).toEqual([ExitCode.Usage, '', true]);
  });

  it('an unknown command is named, exit 2', async () => {
    const r = await ops(['rotat', 'alias/x']);
    expect(r.code).toBe(ExitCode.Usage);
    expect(r.stderr.split('\n')[0]).toBe(
      'error ERR_INVALID_INPUT: unknown command "rotat"; run with --help for the list',
    );
  });

  it('an unknown flag is named, exit 2', async () => {
    const r = await ops(['status', '--verbose']);
    expect([r.code, r.stderr.split('\n')[0]]).toEqual([
      ExitCode.Usage,
      'error ERR_INVALID_INPUT: status: unknown flag --verbose',
    ]);
  });

  it('a missing argument is named, exit 2', async () => {
    const r = await ops(['revoke']);
    expect([r.code, r.stderr.split('\n')[0]]).toEqual([
      ExitCode.Usage,
      'error ERR_INVALID_INPUT: revoke: missing <key>',
    ]);
  });

  it('a bad BYOK_* value is named with its rule, exit 2, with --json a parseable error document', async () => {
    const r = await ops(['status', '--json'], { BYOK_POLICY_VALIDITY_DAYS: 'abc' });
    expect(r.code).toBe(ExitCode.Usage);
    expect(r.stderr).toBe(
      'error ERR_INVALID_CONFIG: BYOK_POLICY_VALIDITY_DAYS: must be a whole number from 2 to 3650, got "abc"\n',
    );
    expect(JSON.parse(r.stdout)).toMatchObject({
      command: 'status',
      ok: false,
      exitCode: 2,
      error: { code: 'ERR_INVALID_CONFIG', details: { field: 'BYOK_POLICY_VALIDITY_DAYS' } },
    });
  });

  it('missing credentials and a bad variable are listed together, exit 2', async () => {
    const r = await ops(['status'], {
      ALIBABA_CLOUD_ACCESS_KEY_ID: undefined,
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: undefined,
      BYOK_KMS_PROTOCOL: 'ftp',
      HOME: join(dir, 'no-home'), // no ~/.aliyun/config.json: no other source of the credential chain
    });
    const idRule =
      'ALIBABA_CLOUD_ACCESS_KEY_ID: required in direct mode (your access key id), unless another source of the ' +
      'credential chain is set (--profile, ~/.aliyun/config.json, OIDC, ECS RAM role; see --help)';
    expect(r.code).toBe(ExitCode.Usage);
    expect(r.stderr).toBe(
      'error ERR_INVALID_CONFIG: 3 configuration problems: BYOK_KMS_PROTOCOL: must be one of http, https, got "ftp"; ' +
        `${idRule}; ALIBABA_CLOUD_ACCESS_KEY_SECRET: required in direct mode (value not shown)\n` +
        '  - BYOK_KMS_PROTOCOL: must be one of http, https, got "ftp"\n' +
        `  - ${idRule}\n` +
        '  - ALIBABA_CLOUD_ACCESS_KEY_SECRET: required in direct mode (value not shown)\n',
    );
  });

  it('config prints the effective configuration, webhook secret redacted', async () => {
    const { code, doc } = await opsJson(['config']).then((x) => x);
    expect(code).toBe(ExitCode.Ok);
    expect(doc['config']).toMatchObject({
      region: 'cn-hangzhou',
      kms: { endpoint: emu.endpoint, protocol: 'http' },
      escrow: { backend: 'file' },
    });
    const withSecret = await ops(['config'], { BYOK_WEBHOOK_SECRET: 'webhook-SECRET-0123456789abcdef' });
    expect(withSecret.stdout).toMatch(/^webhook\.secret\.value\s+\[redacted\]$/m);
    expect(withSecret.stdout).not.toContain('webhook-SECRET');
  });
});

describe('a lineage through onboard, renew, revoke and restore', () => {
  let keyId = '';
  let unmanagedKeyId = '';

  it('onboard creates generation 1 (exit 0)', async () => {
    const { code, doc } = await opsJson(['onboard', 'alias/payments']);
    expect(code).toBe(ExitCode.Ok);
    expect(doc).toMatchObject({ command: 'onboard', ok: true, exitCode: 0, lineage: 'payments', created: true });
    keyId = doc['keyId'] as string;
    expect(keyId).toMatch(/^key-[a-z0-9]{20,}$/); // a KMS 3.0 instance key id
    const again = await ops(['onboard', 'alias/payments']);
    expect([again.code, again.stdout]).toEqual([
      ExitCode.Ok,
      `alias/payments is already onboarded (${keyId}); nothing changed\n`,
    ]);
  });

  it('status shows the lineage with days left = validity, and an unmanaged EXTERNAL key as report-only', async () => {
    unmanagedKeyId = (
      await kms.createKey({ origin: 'EXTERNAL', keySpec: 'Aliyun_AES_256', description: "someone else's" })
    ).keyId;
    const { code, doc } = await opsJson(['status']);
    expect(code).toBe(ExitCode.Ok);
    const rows = doc['rows'] as Array<Record<string, unknown>>;
    expect(rows.find((r) => r['keyId'] === keyId)).toMatchObject({
      alias: 'alias/payments',
      lineage: 'payments',
      generation: 1,
      managed: true,
      state: 'Enabled',
      materialExpireAtMs: engineNowMs + 30 * DAY_MS,
      daysLeft: 30,
      escrowOk: true,
      next: 'nothing',
    });
    expect(rows.find((r) => r['keyId'] === unmanagedKeyId)).toMatchObject({
      managed: false,
      state: 'PendingImport',
      next: 'not managed (report only)',
    });

    const human = await ops(['status']);
    const line = human.stdout.split('\n').find((l) => l.includes(keyId))!;
    expect(line.split(/\s{2,}/)).toEqual([
      'alias/payments',
      keyId,
      '1',
      'Enabled',
      new Date(engineNowMs + 30 * DAY_MS).toISOString().replace('.000Z', 'Z'),
      '30',
      'ok',
      'nothing',
    ]);
    expect(human.stdout.split('\n').find((l) => l.includes(unmanagedKeyId))).toMatch(/report only \(not managed\)$/);
  });

  it('plan is empty right after onboarding', async () => {
    const { code, doc } = await opsJson(['plan']);
    expect([code, doc['plan'].actions]).toEqual([ExitCode.Ok, []]);
    expect((await ops(['plan'])).stdout).toMatch(/^Plan plan-[0-9a-f]{16} at .*: nothing to do\.\n$/);
  });

  it('24 days later, plan shows a renew with its reason', async () => {
    advanceDays(24);
    const { code, doc } = await opsJson(['plan']);
    expect(code).toBe(ExitCode.Ok);
    expect(doc['plan'].actions).toEqual([
      {
        kind: 'renew',
        keyId,
        lineage: 'payments',
        generation: 1,
        expiresAtMs: engineNowMs + 6 * DAY_MS,
        policy: {
          validityDays: 30,
          renewBeforeDays: 7,
          wrappingAlgorithm: 'RSAES_OAEP_SHA_256',
          keySpec: 'Aliyun_AES_256',
        },
        reason: 'material expires in 6 d (renew 7 d before)',
      },
    ]);
    const human = await ops(['plan']);
    expect(human.stdout.split('\n')[2]!.split(/\s{2,}/)).toEqual([
      'renew',
      'alias/payments',
      keyId,
      'material expires in 6 d (renew 7 d before)',
    ]);
  });

  it('sweep renews, with progress on stderr and a summary on stdout', async () => {
    const r = await ops(['sweep']);
    expect(r.code).toBe(ExitCode.Ok);
    expect(r.stderr).toContain(`renew payments ${keyId}: material expires in 6 d (renew 7 d before)\n`);
    expect(r.stdout).toMatch(/Sweep plan-[0-9a-f]{16}: 1 ok, 0 failed, 0 skipped, 0 deferred, 0 alert\(s\)\n$/);
    const { doc } = await opsJson(['status']);
    expect((doc['rows'] as Array<Record<string, unknown>>).find((x) => x['keyId'] === keyId)).toMatchObject({
      state: 'Enabled',
      daysLeft: 30,
      materialExpireAtMs: engineNowMs + 30 * DAY_MS,
    });
  });

  it('revoke without --confirm exits 4 and changes nothing', async () => {
    const before = await kms.describeKey(keyId);
    const r = await ops(['revoke', keyId]);
    expect(r.code).toBe(ExitCode.Refused);
    expect(r.stderr).toBe(
      `error ERR_CONFIRMATION_REQUIRED: revoke deletes the key ` +
        `material of ${keyId}; repeat the key id with --confirm to proceed\n`,
    );
    const after = await kms.describeKey(keyId);
    expect({ state: after.keyState, expires: after.materialExpireAtMs }).toEqual({
      state: before.keyState,
      expires: before.materialExpireAtMs,
    });
    expect((await kms.listResourceTags(keyId))['byok:hold']).toBeUndefined();
    const wrong = await ops(['revoke', keyId, '--confirm', 'alias/payments']);
    expect(wrong.code).toBe(ExitCode.Refused);
    expect((await kms.describeKey(keyId)).keyState).toBe('Enabled');
  });

  it('revoke --confirm <key> deletes the material and status shows the key held', async () => {
    const r = await ops(['revoke', keyId, '--confirm', keyId]);
    expect([r.code, r.stdout]).toEqual([
      ExitCode.Ok,
      `Revoked ${keyId}: material deleted, key held (escrow ` +
        `kept; bring it back with: npm run ops -- restore ${keyId})\n`,
    ]);
    const { doc } = await opsJson(['status']);
    expect((doc['rows'] as Array<Record<string, unknown>>).find((x) => x['keyId'] === keyId)).toMatchObject({
      state: 'PendingImport',
      hold: 'revoked',
      next: 'nothing',
    });
    const human = await ops(['status']);
    expect(
      human.stdout
        .split('\n')
        .find((l) => l.includes(keyId))!
        .split(/\s{2,}/)[3],
    ).toBe('PendingImport (held: revoked)');
  });

  it('sweep does not re-import a revoked key', async () => {
    const { code, doc } = await opsJson(['sweep']);
    expect(code).toBe(ExitCode.Ok);
    expect(doc['results']).toEqual([]);
    expect((await kms.describeKey(keyId)).keyState).toBe('PendingImport');
  });

  it('restore brings the key back to Enabled with a fresh validity', async () => {
    const r = await ops(['restore', keyId]);
    expect([r.code, r.stdout]).toEqual([
      ExitCode.Ok,
      `Restored ${keyId}: material valid ` +
        `until ${new Date(engineNowMs + 30 * DAY_MS).toISOString().replace('.000Z', 'Z')}\n`,
    ]);
    const meta = await kms.describeKey(keyId);
    expect([meta.keyState, (await kms.listResourceTags(keyId))['byok:hold']]).toEqual(['Enabled', undefined]);
    const { doc } = await opsJson(['status']);
    expect((doc['rows'] as Array<Record<string, unknown>>).find((x) => x['keyId'] === keyId)).toMatchObject({
      state: 'Enabled',
      daysLeft: 30,
    });
  });

  it('verify-escrow finds the escrow matching the key (exit 0)', async () => {
    const { code, doc } = await opsJson(['verify-escrow']);
    expect([code, doc['checks']]).toEqual([
      ExitCode.Ok,
      [{ keyId, lineage: 'payments', ok: true, detail: 'escrow matches the key fingerprint' }],
    ]);
  });

  it('a command on a lineage whose lease another run holds exits 4 and changes nothing', async () => {
    const name = 'byok-lease/payments';
    const seq = (JSON.parse((await kms.getSecretValue({ secretName: name })).secretData) as { seq: number }).seq;
    const until = engineNowMs + 10 * 60_000;
    await kms.putSecretValue({
      secretName: name,
      versionId: `lease-${seq + 1}`,
      secretData: JSON.stringify({ v: 1, seq: seq + 1, holder: 'run-other', expiresAtMs: until, intent: 'test' }),
    });
    const before = await kms.describeKey(keyId);
    const r = await ops(['renew', keyId]);
    expect([r.code, r.stderr]).toEqual([
      ExitCode.Refused,
      `error ERR_LEASE_HELD: lineage payments is being changed by ` +
        `another run (run-other) until ${new Date(until).toISOString()}\n`,
    ]);
    expect((await kms.describeKey(keyId)).materialExpireAtMs).toBe(before.materialExpireAtMs);
    await kms.putSecretValue({
      secretName: name,
      versionId: `lease-${seq + 2}`,
      secretData: JSON.stringify({ v: 1, seq: seq + 2, holder: null, expiresAtMs: 0 }),
    });
  });

  it('renew by alias renews; reimport of an Enabled key is a no-op (exit 0) that says so', async () => {
    const renew = await ops(['renew', 'alias/payments']);
    expect(renew.code).toBe(ExitCode.Ok);
    expect(renew.stdout).toMatch(new RegExp(`^Renewed ${keyId}: material valid until `));
    const reimport = await ops(['reimport', keyId]);
    expect([reimport.code, reimport.stderr]).toEqual([ExitCode.Ok, '']);
    expect(reimport.stdout).toMatch(new RegExp(`^Nothing to re-import: ${keyId} is Enabled .*; nothing changed\n$`));
  });
});

describe('alert-worthy outcomes', () => {
  it('a lineage whose escrow record vanished makes plan, status and sweep exit 3 with a critical alert', async () => {
    const { doc } = await opsJson(['onboard', 'alias/orders', '--validity-days', '10']);
    const ordersKey = doc['keyId'] as string;
    await rm(join(env['BYOK_ESCROW_DIR']!, `${ordersKey}.escrow`));
    const plan = await opsJson(['plan']);
    expect(plan.code).toBe(ExitCode.Alert);
    expect(plan.doc['plan'].actions).toEqual([
      {
        kind: 'alert',
        severity: 'critical',
        keyId: ordersKey,
        lineage: 'orders',
        reason: 'escrow record missing: the key cannot be restored if its material is lost',
      },
    ]);
    const status = await ops(['status']);
    expect(status.code).toBe(ExitCode.Alert);
    expect(status.stdout).toContain(
      `\nAlerts:\n  critical: alias/orders ${ordersKey} escrow ` +
        `record missing: the key cannot be restored if its material is lost\n`,
    );
    expect(
      status.stdout
        .split('\n')
        .find((l) => l.includes(ordersKey))!
        .split(/\s{2,}/)
        .slice(5),
    ).toEqual(['10', 'NO', 'alert(critical)']);
    const sweep = await opsJson(['sweep']);
    expect([sweep.code, sweep.doc['alertWorthy'], sweep.doc['counts']]).toEqual([
      ExitCode.Alert,
      true,
      { ok: 0, failed: 0, skipped: 0, deferred: 0, alerted: 1 },
    ]);
    const verify = await ops(['verify-escrow']);
    expect(verify.code).toBe(ExitCode.Failure);
    expect(verify.stdout).toContain(`${ordersKey}  alias/orders    FAILED  no escrow record for ${ordersKey}`);
  });
});

describe('audit sinks in the CLI', () => {
  it('with BYOK_AUDIT_SINK=both, audit lines go to stderr and stdout stays one JSON document', async () => {
    const r = await ops(['plan', '--json'], { BYOK_AUDIT_SINK: 'both' });
    expect(JSON.parse(r.stdout)).toMatchObject({ command: 'plan' });
    // plan writes no audit event; renew, a single-lineage plan, writes the executor's trail:
    // its decision, the lease taken, intent + outcome.
    const renew = await ops(['renew', 'alias/payments', '--json'], { BYOK_AUDIT_SINK: 'both' });
    expect(JSON.parse(renew.stdout)).toMatchObject({ command: 'renew', ok: true });
    const events = renew.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.map((e) => [e['action'], e['phase'], e['outcome']])).toEqual([
      ['renew', 'decision', undefined],
      ['lease', 'outcome', 'ok'],
      ['renew', 'intent', undefined],
      ['renew', 'outcome', 'ok'],
    ]);
  });
});

describe('audit file commands', () => {
  const auditFile = () => env['BYOK_AUDIT_FILE']!;

  it('audit verify accepts the chain the commands wrote', async () => {
    const lines = (await readFile(auditFile(), 'utf8')).split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(10);
    const r = await ops(['audit', 'verify']);
    expect([r.code, r.stdout]).toEqual([
      ExitCode.Ok,
      `audit chain ok: ${auditFile()}, ${lines.length} event(s) in 1 chain(s)\n`,
    ]);
  });

  it('audit tail -n 3 --json gives the last three events, operator as actor', async () => {
    const { code, doc } = await opsJson(['audit', 'tail', '-n', '3']);
    expect(code).toBe(ExitCode.Ok);
    const events = doc['events'] as Doc[];
    expect(events).toHaveLength(3);
    // The resolved principal (STS GetCallerIdentity, answered by the emulator), not the bare access key id.
    const principal = `acs:ram::${DEFAULT_ACCOUNT_ID}:user/${AK.accessKeyId}`;
    expect(events.map((e) => e['actor'])).toEqual(Array(3).fill({ kind: 'operator', id: principal }));
  });

  it('audit verify fails (exit 1) and names the line after one line is tampered with', async () => {
    const original = await readFile(auditFile(), 'utf8');
    const lines = original.split('\n');
    const target = 4; // 1-based line number
    lines[target - 1] = lines[target - 1]!.replace(/"action":"[^"]+"/, '"action":"nothing-to-see"');
    const tampered = join(dir, 'tampered.jsonl');
    await writeFile(tampered, lines.join('\n'));
    const r = await ops(['audit', 'verify', '--file', tampered]);
    expect(r.code).toBe(ExitCode.Failure);
    expect(r.stdout).toMatch(
      new RegExp(`^audit chain BROKEN: ${tampered.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, line ${target}: `),
    );
    const json = await opsJson(['audit', 'verify', '--file', tampered]);
    expect(json.doc).toMatchObject({ command: 'audit verify', ok: false, exitCode: 1, line: target });
  });

  it('audit verify without a file is a usage error naming the flag and the variable', async () => {
    const r = await ops(['audit', 'verify'], { BYOK_AUDIT_FILE: undefined });
    expect([r.code, r.stderr.split('\n')[0]]).toEqual([
      ExitCode.Usage,
      'error ERR_INVALID_INPUT: audit verify: no audit file: pass --file <path> or set BYOK_AUDIT_FILE',
    ]);
  });
});

describe('secrets', () => {
  it('never prints the access key secret or the security token', async () => {
    await ops(['status'], { ALIBABA_CLOUD_SECURITY_TOKEN: STS_TOKEN });
    await ops(['status', '--json'], { ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'wrong-SECRET-value-for-this-key' });
    const all = everything.join('\n');
    expect(all.length).toBeGreaterThan(1000);
    expect(all).not.toContain(AK.accessKeySecret);
    expect(all).not.toContain(STS_TOKEN);
    expect(all).not.toContain('wrong-SECRET-value');
    expect(await readFile(env['BYOK_AUDIT_FILE']!, 'utf8')).not.toContain(AK.accessKeySecret);
  });

  it('a wrong secret fails with the KMS code, exit 1, and no stack trace', async () => {
    const r = await ops(['plan'], { ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'wrong-SECRET-value-for-this-key' });
    expect(r.code).toBe(ExitCode.Failure);
    // STS refuses the same credentials first: a warning that the operator is unverified, then the error.
    expect(r.stderr.split('\n')[0]).toMatch(/^warning: could not verify who you are .*\(SignatureDoesNotMatch\)/);
    expect(r.stderr).toMatch(/^error ERR_KMS_FORBIDDEN: KMS \w+ failed: \w+/m);
    expect(r.stderr).not.toContain('    at ');
  });
});

describe('retire <key> --confirm <key>', () => {
  it('refuses without --confirm (exit 4), then retires a previous generation, audited', async () => {
    const { doc } = await opsJson(['onboard', 'alias/ledger']);
    const k1 = doc['keyId'] as string;
    expect((await ops(['rotate', 'alias/ledger'])).code).toBe(ExitCode.Ok);
    const refused = await ops(['retire', k1]);
    expect([refused.code, refused.stderr]).toEqual([
      ExitCode.Refused,
      `error ERR_CONFIRMATION_REQUIRED: retire stops renewing ${k1} (its material lapses); ` +
        'repeat the key id with --confirm to proceed\n',
    ]);
    expect((await kms.listResourceTags(k1))['byok:phase']).toBe('ready');
    const r = await ops(['retire', k1, '--confirm', k1]);
    expect([r.code, r.stdout]).toEqual([
      ExitCode.Ok,
      `Retired ${k1}: no longer renewed; its material lapses at its Valid Until and data under it is ` +
        `unreadable until revived (npm run ops -- reimport ${k1}); escrow is kept\n`,
    ]);
    expect((await kms.listResourceTags(k1))['byok:phase']).toBe('retired');
    const audit = (await readFile(env['BYOK_AUDIT_FILE']!, 'utf8')).split('\n').filter(Boolean);
    const retireEvents = audit.map((l) => JSON.parse(l) as Doc).filter((e) => e['action'] === 'retire');
    expect(retireEvents.map((e) => [e['phase'], e['outcome'] ?? e['reason']])).toEqual([
      ['decision', 'operator retire'],
      ['intent', 'operator retire'],
      ['outcome', 'ok'],
    ]);
    expect((await ops(['--help'])).stdout).toContain('  retire <key>');
  });
});
