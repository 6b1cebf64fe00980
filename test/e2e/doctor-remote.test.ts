/**
 * End to end: `doctor` run by the built `ops` bundle under the local FC host (the CLI's remote
 * mode), so its probes run with the function's own (STS) credentials and its static RAM check uses
 * the policy bundled into the function.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedLineage } from '../../scripts/local/stack.js';
import { runCli } from '../../scripts/ops/cli.js';
import { startE2eStack } from '../support/local-stack.js';

let env: Awaited<ReturnType<typeof startE2eStack>>;

beforeAll(async () => {
  env = await startE2eStack();
  await seedLineage(env.stack, 'alias/doctor', 'e2e-test');
}, 120_000);
afterAll(async () => {
  await env?.close();
});

describe('doctor through the ops function', () => {
  it('checks the local deployment with the function role: every check ok, exit 0, no secret printed', async () => {
    let out = '';
    let err = '';
    const code = await runCli(['--remote', 'doctor', '--json'], {
      env: env.stack.cliEnv,
      stdout: (s) => (out += s),
      stderr: (s) => (err += s),
    });
    const doc = JSON.parse(out) as {
      command: string;
      ok: boolean;
      exitCode: number;
      checks: Array<{ name: string; status: string; detail: string }>;
    };
    expect(doc.checks.filter((c) => c.status !== 'ok')).toEqual([]);
    expect([code, doc.command, doc.ok, doc.exitCode]).toEqual([0, 'doctor', true, 0]);
    expect(doc.checks.map((c) => c.name)).toEqual([
      'credentials',
      'keys instance',
      'escrow instance',
      'shared gateway',
      'escrow key',
      'lease key',
      'escrow placement',
      'ram read calls',
      'ram write calls',
      'webhook secret',
      'webhook url token',
    ]);
    expect(doc.checks.find((c) => c.name === 'ram read calls')!.detail).toMatch(
      /^probed as the function role; answered: /,
    );
    expect(err).toContain('invoking byok-ops');
    for (const secret of [env.stack.secrets.webhookHmac, env.stack.secrets.webhookToken])
      expect(out + err).not.toContain(secret);
  });

  it('finds the same local deployment healthy in direct mode, with the operator credentials', async () => {
    let out = '';
    const code = await runCli(['doctor', '--json'], {
      env: env.stack.cliEnv,
      stdout: (s) => (out += s),
      stderr: () => {},
    });
    const doc = JSON.parse(out) as {
      exitCode: number;
      checks: Array<{ name: string; status: string; detail: string }>;
    };
    expect(doc.checks.filter((c) => c.status !== 'ok')).toEqual([]);
    expect([code, doc.exitCode]).toEqual([0, 0]);
    expect(doc.checks.find((c) => c.name === 'ram read calls')!.detail).toMatch(
      // The principal STS GetCallerIdentity names (the emulator answers it), and where the credentials came from.
      new RegExp(
        '^probed as acs:ram::1234567890123456:user/local-ak ' +
          '\\(access key local-ak from ALIBABA_CLOUD_ACCESS_KEY_ID\\); answered: ',
      ),
    );
  });
});
