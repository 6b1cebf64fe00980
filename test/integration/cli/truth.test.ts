import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KmsEmulator } from '@byok/kms-emulator';
import { type CliTestEnv, startCliTestEnv } from '../../support/cli-env.js';
import { $Kms, sdkClient } from '../emulator/helpers.js';
import {
  ExitCode,
  createDirectRunner,
  runCli,
  type OpsRequest,
  type OpsResult,
  type OpsRunner,
} from '../../../scripts/ops/cli.js';
import { ErrorCode } from '../../../shared/errors.js';
import type { KmsPort } from '../../../shared/kms/port.js';
import type { Action } from '../../../shared/lifecycle/plan.js';

const AK = { accessKeyId: 'truth-ak-0001', accessKeySecret: 'truth-SECRET-value-do-not-print-0123456789' };

let emu: KmsEmulator;
let kms: KmsPort;
let env: Record<string, string | undefined>;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function ops(argv: string[], runner?: OpsRunner, extraEnv: Record<string, string> = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    env: { ...env, ...extraEnv },
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    now: () => emu.clock.nowUnix() * 1000,
    ...(runner ? { runner } : {}),
  });
  return { code, stdout, stderr };
}

/** A runner that records requests and answers from a script. */
function scripted(answer: (req: OpsRequest) => OpsResult): OpsRunner & { requests: OpsRequest[] } {
  const requests: OpsRequest[] = [];
  return {
    mode: 'remote',
    requests,
    async run(req) {
      requests.push(req);
      return answer(req);
    },
  };
}

async function onboard(lineage: string): Promise<string> {
  const r = await ops(['onboard', `alias/${lineage}`, '--json']);
  expect(r.code).toBe(ExitCode.Ok);
  return (JSON.parse(r.stdout) as { keyId: string }).keyId;
}

let world: CliTestEnv | undefined;
beforeAll(async () => {
  // KMS 3.0: managed keys in one instance, the lease CMK and lease secrets in another.
  world = await startCliTestEnv(AK, 'byok-truth-');
  ({ emu, kms, env } = world);
});

afterAll(async () => {
  await world?.close();
});

describe('status while a managed key has no material', () => {
  it('exits 3, opens with an UNUSABLE section, and shows the expiry as none', async () => {
    const keyId = await onboard('unusable');
    await kms.deleteKeyMaterial(keyId);
    const r = await ops(['status']);
    expect(r.code).toBe(ExitCode.Alert);
    const lines = r.stdout.split('\n');
    expect(lines.slice(0, 2)).toEqual([
      'UNUSABLE: 1 managed key(s) cannot decrypt now',
      `  alias/unusable ${keyId}: PendingImport, no key material: every decrypt fails ` +
        `(fix: npm run ops -- reimport ${keyId})`,
    ]);
    const row = lines.find((l) => l.startsWith('alias/unusable'))!.split(/\s{2,}/);
    expect(row.slice(3, 5)).toEqual(['PendingImport', 'none']);
    const json = await ops(['status', '--json']);
    expect([json.code, JSON.parse(json.stdout).exitCode]).toEqual([ExitCode.Alert, ExitCode.Alert]);
    // Repaired: usable again, exit 0, no UNUSABLE section.
    expect((await ops(['reimport', keyId])).code).toBe(ExitCode.Ok);
    const after = await ops(['status']);
    expect([after.code, after.stdout.startsWith('Status at ')]).toEqual([ExitCode.Ok, true]);
  });
});

describe('restore of a Disabled key', () => {
  it('does not claim "Restored": says the key is still Disabled, how to enable it, and exits 6', async () => {
    const keyId = await onboard('disabled');
    await sdkClient(emu, AK).disableKey(new $Kms.DisableKeyRequest({ keyId }));
    const r = await ops(['restore', keyId]);
    expect(r.code).toBe(ExitCode.ActionNeeded);
    expect(r.stdout).not.toContain('Restored');
    expect(r.stdout).toMatch(
      new RegExp(
        `^NOT restored: ${keyId} has its material \\(valid until [0-9TZ:-]+\\) and no hold, but is still ` +
          `Disabled; this tool's role cannot enable keys \\(by design\\)\\. Enable it by hand: the KMS console, ` +
          `or aliyun kms EnableKey --KeyId ${keyId}\\n$`,
      ),
    );
    expect((await kms.describeKey(keyId)).keyState).toBe('Disabled');
    const json = JSON.parse((await ops(['restore', keyId, '--json'])).stdout);
    expect(json).toMatchObject({ command: 'restore', keyId, keyState: 'Disabled', ok: false, exitCode: 6 });
  });
});

describe('the same target forms everywhere', () => {
  it('renew and rotate accept a bare lineage name like onboard does', async () => {
    const keyId = await onboard('bare');
    const renew = await ops(['renew', 'bare']);
    expect([renew.code, renew.stdout]).toEqual([ExitCode.Ok, expect.stringMatching(`^Renewed ${keyId}: `)]);
    const rotate = await ops(['rotate', 'bare']);
    expect([rotate.code, rotate.stdout]).toEqual([
      ExitCode.Ok,
      expect.stringMatching(/^Rotated alias\/bare to generation 2: /),
    ]);
  });

  it('reimport of an Enabled key is a no-op with exit 0 and a message', async () => {
    const keyId = await onboard('enabled');
    const before = await kms.describeKey(keyId);
    const r = await ops(['reimport', keyId]);
    expect(r.code).toBe(ExitCode.Ok);
    expect(r.stdout).toMatch(
      new RegExp(
        `^Nothing to re-import: ${keyId} is Enabled with material valid until [0-9TZ:-]+ ` +
          `\\(to extend it: npm run ops -- renew ${keyId}\\); nothing changed\\n$`,
      ),
    );
    expect((await kms.describeKey(keyId)).materialExpireAtMs).toBe(before.materialExpireAtMs);
  });

  it('ERR_NOT_MANAGED says how to adopt the key, with the mode flags the user ran with', async () => {
    const { keyId } = await kms.createKey({ origin: 'EXTERNAL', keySpec: 'Aliyun_AES_256', description: 'by hand' });
    const r = await ops(['renew', keyId]);
    expect([r.code, r.stderr]).toEqual([
      ExitCode.Failure,
      `error ERR_NOT_MANAGED: key ${keyId} is not managed by this tool: adopt it with \`npm run ops -- adopt ` +
        `${keyId} --material-file <path> --alias <alias>\` (the raw material you imported), or use the right key\n`,
    ]);
    // The engine in-process behind --remote --fc2 (as the ops function would run it).
    const inProcess = createDirectRunner({ env, now: () => emu.clock.nowUnix() * 1000, writeLine: () => {} });
    const remote = await ops(['--remote', '--fc2', 'renew', keyId], inProcess);
    expect([remote.code, remote.stderr]).toEqual([
      ExitCode.Failure,
      expect.stringContaining(`adopt it with \`npm run ops -- --remote --fc2 adopt ${keyId} --material-file`),
    ]);
  });
});

const policy = {
  validityDays: 30,
  renewBeforeDays: 7,
  wrappingAlgorithm: 'RSAES_OAEP_SHA_256',
  keySpec: 'Aliyun_AES_256',
} as const;
const renewOf = (keyId: string, lineage: string): Action => ({
  kind: 'renew',
  keyId,
  lineage,
  generation: 1,
  expiresAtMs: 0,
  policy,
  reason: 'material expires in 6 d (renew 7 d before)',
});

describe('exit codes describe what happened', () => {
  const sweep = (results: Array<{ action: Action; outcome: 'ok' | 'skipped'; errorCode?: string }>): OpsResult => {
    const counts = { ok: 0, failed: 0, skipped: 0, deferred: 0, alerted: 0 };
    for (const x of results) counts[x.outcome]++;
    return {
      command: 'sweep',
      planId: 'plan-0000000000000000',
      counts,
      alertWorthy: false,
      results: results.map((x) => ({ detail: 'd', kmsRequestIds: [], ...x })),
    };
  };

  it('a sweep that wrote some actions and skipped others under a lease is partial (5), not refused (4)', async () => {
    const partial = await ops(
      ['sweep'],
      scripted(() =>
        sweep([
          { action: renewOf('k-1', 'payments'), outcome: 'ok' },
          { action: renewOf('k-2', 'orders'), outcome: 'skipped', errorCode: ErrorCode.LeaseHeld },
        ]),
      ),
    );
    expect(partial.code).toBe(ExitCode.Partial);
    expect(ExitCode.Partial).toBe(5);
    const refused = await ops(
      ['sweep'],
      scripted(() => sweep([{ action: renewOf('k-2', 'orders'), outcome: 'skipped', errorCode: ErrorCode.LeaseHeld }])),
    );
    expect(refused.code).toBe(ExitCode.Refused);
  });

  it('help lists the new codes', async () => {
    const r = await ops(['--help']);
    expect(r.stdout).toContain(
      "  5  partial: some actions done, others skipped under another run's lease (rerun later)\n",
    );
    expect(r.stdout).toContain('  6  done, but a step needs a person (e.g. enable a Disabled key by hand)\n');
  });
});

describe('local-only commands under --remote', () => {
  it.each(['config', 'audit tail', 'audit verify'])(
    '%s --remote refuses (exit 2) and says where the data lives, without running locally',
    async (command) => {
      const words = command.split(' ');
      const runner = scripted(() => {
        throw new Error('must not be called');
      });
      const r = await ops(['--remote', ...words], runner);
      expect([r.code, r.stdout, runner.requests]).toEqual([ExitCode.Usage, '', []]);
      const line = r.stderr.split('\n')[0]!;
      expect(line).toMatch(new RegExp(`^error ERR_INVALID_INPUT: ${command} --remote: `));
      if (words[0] === 'config') expect(line).toContain('s byok_ops info');
      else expect(line).toContain('`s byok_ops logs`');
    },
  );
});

describe('mode flags in suggested commands', () => {
  it('a follow-up command carries --remote --fc2 when the user ran with them', async () => {
    const r = await ops(
      ['--remote', '--fc2', 'revoke', 'k-1', '--confirm', 'k-1'],
      scripted(() => ({ command: 'revoke', keyId: 'k-1' })),
    );
    expect(r.stdout).toContain('bring it back with: npm run ops -- --remote --fc2 restore k-1');
  });
});

describe('config', () => {
  it('prints a table for people, secrets redacted, and --json has exactly one warnings field', async () => {
    const extra = { BYOK_WEBHOOK_SECRET: 'webhook-SECRET-0123456789abcdef' };
    const r = await ops(['config'], undefined, extra);
    expect(r.code).toBe(ExitCode.Ok);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^SETTING\s+VALUE$/);
    expect(r.stdout).not.toContain('{');
    expect(lines.find((l) => l.startsWith('region '))!.split(/\s{2,}/)).toEqual(['region', 'cn-hangzhou']);
    expect(lines.find((l) => l.startsWith('webhook.secret.value '))!.split(/\s{2,}/)).toEqual([
      'webhook.secret.value',
      '[redacted]',
    ]);
    expect(r.stdout).not.toContain('webhook-SECRET');
    const doc = JSON.parse((await ops(['config', '--json'], undefined, extra)).stdout);
    expect(doc.config.warnings).toBeUndefined();
    expect(Array.isArray(doc.warnings)).toBe(true);
    expect(JSON.stringify(doc).match(/"warnings"/g)).toHaveLength(1);
  });
});
