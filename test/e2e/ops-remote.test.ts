/**
 * End to end: the on-call CLI in remote mode invoking the built `ops` bundle under the local FC
 * host through both client SDKs (FC 3.0 invoke on @alicloud/openapi-client, and @alicloud/fc2),
 * and every bundle copied alone into an empty directory answering a timer event.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedLineage } from '../../scripts/local/stack.js';
import { runCli } from '../../scripts/ops/cli.js';
import { startE2eStack } from '../support/local-stack.js';

let env: Awaited<ReturnType<typeof startE2eStack>>;

/** The aliyun CLI profile fields of an access key. */
function akFields(c: { accessKeyId: string; accessKeySecret: string }) {
  return { access_key_id: c.accessKeyId, access_key_secret: c.accessKeySecret };
}
let keyId: string;

beforeAll(async () => {
  env = await startE2eStack();
  keyId = (await seedLineage(env.stack, 'alias/remote', 'e2e-test')).keyId;
}, 120_000);
afterAll(async () => {
  await env?.close();
});

async function cli(
  argv: string[],
  extraEnv: Record<string, string | undefined> = {},
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, {
    env: { ...env.stack.cliEnv, ...extraEnv },
    stdout: (s) => (out += s),
    stderr: (s) => (err += s),
  });
  return { code, out, err };
}

describe('the CLI in remote mode', () => {
  it.each([
    ['FC 3.0 invoke (@alicloud/openapi-client)', ['--remote']],
    ['FC 2.0 invoke (@alicloud/fc2)', ['--remote', '--fc2']],
  ])('returns the lineage from status through %s', async (_name, flags) => {
    const r = await cli([...flags, 'status', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out);
    expect(doc.command).toBe('status');
    expect(doc.rows).toContainEqual(
      expect.objectContaining({ keyId, lineage: 'remote', generation: 1, state: 'Enabled', escrowOk: true }),
    );
    expect(r.err).toContain('invoking byok-ops');
  });

  it.each([
    ['FC 3.0 invoke (credential client)', ['--remote']],
    ['FC 2.0 invoke (resolved values)', ['--remote', '--fc2']],
  ])('takes the invoker credentials from an aliyun CLI profile (--profile) through %s', async (_name, flags) => {
    const home = mkdtempSync(join(tmpdir(), 'byok-e2e-home-'));
    try {
      mkdirSync(join(home, '.aliyun'));
      const profile = { name: 'remote-oncall', mode: 'AK', ...akFields(env.stack.operator) };
      writeFileSync(join(home, '.aliyun', 'config.json'), JSON.stringify({ current: 'x', profiles: [profile] }));
      const noKeys = { HOME: home, ALIBABA_CLOUD_ACCESS_KEY_ID: undefined, ALIBABA_CLOUD_ACCESS_KEY_SECRET: undefined };
      const r = await cli([...flags, 'status', '--profile', 'remote-oncall', '--json'], noKeys);
      expect([r.code, JSON.parse(r.out).command]).toEqual([0, 'status']);
      expect(r.err).not.toContain(env.stack.operator.accessKeySecret);
      const wrong = await cli([...flags, 'status', '--profile', 'nobody'], noKeys);
      expect([wrong.code, wrong.err.split('\n')[0]]).toEqual([
        2,
        `error ERR_INVALID_INPUT: --profile: no profile "nobody" in ${join(home, '.aliyun', 'config.json')} ` +
          '(profiles: "remote-oncall")',
      ]);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it.each([
    ['FC 3.0 invoke', ['--remote']],
    ['FC 2.0 invoke', ['--remote', '--fc2']],
  ])('surfaces a function error as a CLI failure with a non-zero exit code through %s', async (_name, flags) => {
    const r = await cli([...flags, 'revoke', keyId, '--json']);
    expect(r.code).not.toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ ok: false, error: { code: 'ERR_CONFIRMATION_REQUIRED' } });
    // Nothing was revoked.
    const after = await cli(['--remote', 'status', '--json']);
    expect(JSON.parse(after.out).rows).toContainEqual(expect.objectContaining({ keyId, state: 'Enabled' }));
  });

  it('audits a remote write with the operator identity and the ops function as the run', async () => {
    const r = await cli(['--remote', '--fc2', 'renew', 'alias/remote', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ command: 'renew', keyId });
    const audit = env.lines.filter((l) => l.includes('"phase":"outcome"') && l.includes('"action":"renew"'));
    expect(
      audit.some(
        // The operator is the principal STS GetCallerIdentity names for the CLI's credentials (the emulator answers).
        (l) =>
          l.includes('"kind":"operator"') &&
          l.includes('"id":"acs:ram::1234567890123456:user/local-ak"') &&
          l.includes('"runId":"ops-'),
      ),
    ).toBe(true);
  });
});

describe('bundles', () => {
  // Only index.js is copied: its side files (scripts/lazy-packages.ts: SM2, XML, credential
  // providers) are left out on purpose, so a sweep over the emulator that needed one would fail here.
  it('each bundle, copied alone without its side files into an empty directory, answers a timer event', async () => {
    const names = readdirSync(env.distDir);
    expect(names.sort()).toEqual(['ops', 'sweep', 'webhook']);
    const s = env.stack;
    const fnEnv = { ...s.cliEnv, BYOK_AUDIT_SINK: 'stdout', PATH: process.env.PATH ?? '' };
    const context = {
      requestId: 'req-alone',
      credentials: { ...s.operator },
      function: { name: 'alone', timeout: 60 },
    };
    const timer = { triggerTime: '2031-01-01T00:00:00Z', triggerName: 'alone', payload: '' };
    const script =
      `const m = require('./index.js'); Promise.resolve().then(() => ` +
      `m.handler(Buffer.from(process.argv[1]), JSON.parse(process.argv[2]))).then((r) => { ` +
      `console.log('RESULT ' + JSON.stringify(r)); }, (e) => { console.log('ERROR ` +
      `' + JSON.stringify({ name: e.name, message: e.message })); });`;
    const answers: Record<string, string> = {};
    for (const name of names) {
      const dir = mkdtempSync(join(tmpdir(), `bundle-${name}-`));
      try {
        cpSync(join(env.distDir, name, 'index.js'), join(dir, 'index.js'));
        // Async: the emulator serving the bundle lives in this process, so it must not block.
        const { stdout: out } = await promisify(execFile)(
          process.execPath,
          ['-e', script, JSON.stringify(timer), JSON.stringify(context)],
          { cwd: dir, env: fnEnv, encoding: 'utf8' },
        );
        answers[name] = out.split('\n').find((l) => l.startsWith('RESULT ') || l.startsWith('ERROR ')) ?? out;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    // sweep runs a sweep; webhook answers an HTTP-shaped refusal; ops refuses a non-command with a coded error.
    expect(answers.sweep).toMatch(/^RESULT .*"planId":"plan-/);
    expect(answers.webhook).toMatch(/^RESULT .*"statusCode":400/);
    expect(answers.ops).toMatch(/^ERROR .*"name":"ERR_INVALID_INPUT"/);
  });
});
