/**
 * `--state-dir` reaches every tool that talks to a running local stack (issue 9 §6): `npm run ops
 * -- --local` and `npm run local:webhook` read the stack's settings from the state dir they are
 * given (--state-dir, else BYOK_LOCAL_STATE_DIR, else ./.local), not always from ./.local (which,
 * with another state dir, gave false critical alerts and 401s). A state dir without settings is
 * refused with the command that creates them.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedLineage, writeCliEnvFile } from '../../../scripts/local/stack.js';
import { runCli } from '../../../scripts/ops/cli.js';
import { buildKms } from '../../../shared/bootstrap.js';
import { parseConfig } from '../../../shared/config/index.js';
import { systemRandom } from '../../../shared/system.js';
import { ROOT, startE2eStack } from '../../support/local-stack.js';
import { tsxCommand } from '../../support/tsx.js';

let env: Awaited<ReturnType<typeof startE2eStack>>;
let stateDir: string;
let empty: string;

beforeAll(async () => {
  env = await startE2eStack();
  stateDir = join(env.dir, 'state');
  await writeCliEnvFile(stateDir, env.stack.cliEnv);
  await seedLineage(env.stack, 'alias/elsewhere', 'state-dir-test');
  empty = await mkdtemp(join(tmpdir(), 'byok-no-stack-'));
}, 120_000);
afterAll(async () => {
  await env?.close();
  if (empty) await rm(empty, { recursive: true, force: true });
});

/** The CLI in-process with only `vars` set (no BYOK_* variables: everything comes from the state dir). */
async function ops(argv: string[], vars: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { env: vars, stdout: (s) => void out.push(s), stderr: (s) => void err.push(s) });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

const exec = (script: string, argv: string[], cwd: string, vars: Record<string, string> = {}) =>
  promisify(execFile)(...tsxCommand(join(ROOT, script), argv), {
    cwd,
    env: { PATH: process.env['PATH'] ?? '', ...vars },
    timeout: 60_000,
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe('npm run ops -- --local', () => {
  it('reads the stack of --state-dir <dir>', async () => {
    const r = await ops(['--local', '--state-dir', stateDir, 'status', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.stringify(JSON.parse(r.stdout))).toContain('"elsewhere"');
  }, 60_000);

  it('reads the stack of BYOK_LOCAL_STATE_DIR, and the flag wins over it', async () => {
    const fromEnv = await ops(['--local', 'status', '--json'], { BYOK_LOCAL_STATE_DIR: stateDir });
    expect(fromEnv.code).toBe(0);
    expect(fromEnv.stdout).toContain('elsewhere');
    const flagWins = await ops(['--local', '--state-dir', stateDir, 'status'], { BYOK_LOCAL_STATE_DIR: empty });
    expect(flagWins.code).toBe(0);
  }, 60_000);

  it('refuses a state dir without a stack, with the command that starts one', async () => {
    const missing = join(empty, 'nowhere');
    const r = await ops(['--local', '--state-dir', missing, 'status']);
    expect([r.code, r.stdout]).toEqual([2, '']);
    expect(r.stderr).toBe(
      `error ERR_INVALID_CONFIG: --local: no local stack settings in ${missing} (${missing} does not exist): ` +
        `run \`npm start -- --state-dir ${missing}\` first\n`,
    );
    const noSettings = await ops(['--local', 'status'], { BYOK_LOCAL_STATE_DIR: empty });
    expect(noSettings.stderr).toContain(
      `(${join(empty, 'cli.env')} is missing): run \`npm start -- --state-dir ${empty}\` first`,
    );
  });

  it('refuses --state-dir without --local', async () => {
    const r = await ops(['--state-dir', stateDir, 'status']);
    expect([r.code, r.stderr.split('\n')[0]]).toEqual([
      2,
      'error ERR_INVALID_INPUT: --state-dir: only meaningful with --local',
    ]);
  });

  it('without a state dir, looks in ./.local and says how to name another', async () => {
    const r = await exec('scripts/ops.ts', ['--local', 'status'], empty);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `error ERR_INVALID_CONFIG: --local: no local stack settings in .local (${join(empty, '.local')} does not ` +
        'exist): run `npm start` first, or pass --state-dir <dir> (or set BYOK_LOCAL_STATE_DIR) for a stack ' +
        'started with another state dir\n',
    );
  }, 60_000);
});

describe('follow-up commands', () => {
  it('carry the same --local --state-dir <dir> (an unusable key in that stack, not in ./.local)', async () => {
    const { keyId } = await seedLineage(env.stack, 'alias/broken', 'state-dir-test');
    await buildKms(parseConfig(env.stack.cliEnv), () => env.stack.operator, systemRandom).deleteKeyMaterial(keyId);
    const r = await ops(['--local', '--state-dir', stateDir, 'status']);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain(`fix: npm run ops -- --local --state-dir ${stateDir} reimport ${keyId}`);
  }, 60_000);
});

describe('npm run local:webhook', () => {
  it('signs with the secret of the --state-dir stack and reaches its webhook (200, not 401)', async () => {
    const body = JSON.stringify({ action: 'check', alias: 'alias/elsewhere', reason: 'state-dir test' });
    const r = await exec('scripts/local/send-webhook.ts', ['--state-dir', stateDir, body], empty);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^POST http:\/\/127\.0\.0\.1:\d+\/http\/byok-webhook -> 200$/);
  }, 60_000);

  it('reads BYOK_LOCAL_STATE_DIR too', async () => {
    const r = await exec('scripts/local/send-webhook.ts', [], empty, { BYOK_LOCAL_STATE_DIR: stateDir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/-> 200\n/);
  }, 60_000);

  it('says which stack to start when the settings are there but the stack is not', async () => {
    const stale = join(empty, 'stale');
    await mkdir(stale);
    await writeFile(join(stale, 'secrets.json'), JSON.stringify({ webhookHmac: 'x'.repeat(32) }));
    await writeCliEnvFile(stale, { ...env.stack.cliEnv, BYOK_FC_ENDPOINT: 'http://127.0.0.1:1' });
    const r = await exec('scripts/local/send-webhook.ts', ['--state-dir', stale], empty);
    expect([r.code, r.stderr]).toEqual([
      1,
      'local:webhook: cannot reach http://127.0.0.1:1/http/byok-webhook: ' +
        `is \`npm start -- --state-dir ${stale}\` running?\n`,
    ]);
  }, 60_000);

  it('refuses a state dir without a stack, with the command that starts one', async () => {
    const missing = join(empty, 'nowhere');
    const r = await exec('scripts/local/send-webhook.ts', ['--state-dir', missing], empty);
    expect([r.code, r.stdout, r.stderr]).toEqual([
      2,
      '',
      `local:webhook: no local stack settings in ${missing} (${missing} does not exist): ` +
        `run \`npm start -- --state-dir ${missing}\` first\n`,
    ]);
  }, 60_000);
});
