/**
 * The CLI's exit-code table and rendering, driven through `runCli` with a scripted OpsRunner (the
 * seam a remote mode plugs into), so outcomes that are awkward to provoke against the emulator
 * (a failed action, a lease held mid-sweep) are checked exactly.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  ExitCode,
  exitCodeFor,
  runCli,
  type OpsRequest,
  type OpsResult,
  type OpsRunner,
} from '../../../scripts/ops/cli.js';
import { ErrorCode, OrchestratorError } from '../../../shared/errors.js';
import type { ActionResult, Outcome } from '../../../shared/lifecycle/engine.js';
import type { Action } from '../../../shared/lifecycle/plan.js';
import { tsxCommand } from '../../support/tsx.js';

/** A runner that records requests and answers from a script. */
function scripted(
  answer: (req: OpsRequest, progress: (line: string) => void) => OpsResult | Promise<OpsResult>,
): OpsRunner & { requests: OpsRequest[] } {
  const requests: OpsRequest[] = [];
  return {
    mode: 'remote',
    requests,
    async run(req, hooks) {
      requests.push(req);
      return answer(req, hooks.progress);
    },
  };
}

async function run(argv: string[], runner: OpsRunner): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { env: {}, stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), runner });
  return { code, stdout, stderr };
}

const policy = {
  validityDays: 30,
  renewBeforeDays: 7,
  wrappingAlgorithm: 'RSAES_OAEP_SHA_256',
  keySpec: 'Aliyun_AES_256',
} as const;
const renew: Action = {
  kind: 'renew',
  keyId: 'k-1',
  lineage: 'payments',
  generation: 1,
  expiresAtMs: 0,
  policy,
  reason: 'material expires in 6 d (renew 7 d before)',
};
const critical: Action = {
  kind: 'alert',
  severity: 'critical',
  keyId: 'k-2',
  lineage: 'orders',
  reason: 'escrow record missing: the key cannot be restored if its material is lost',
};
const warning: Action = { kind: 'alert', severity: 'warning', keyId: 'k-3', lineage: 'orders', reason: 'drift' };

function sweepOf(results: Array<Pick<ActionResult, 'action' | 'outcome'> & { errorCode?: string }>): OpsResult {
  const counts: Record<Outcome, number> = { ok: 0, failed: 0, skipped: 0, deferred: 0, alerted: 0 };
  for (const r of results) counts[r.outcome]++;
  const alertWorthy =
    counts.failed > 0 || results.some((r) => r.action.kind === 'alert' && r.action.severity === 'critical');
  return {
    command: 'sweep',
    planId: 'plan-0000000000000000',
    counts,
    alertWorthy,
    results: results.map((r) => ({ detail: 'd', kmsRequestIds: [], ...r })),
  };
}

describe('exit codes', () => {
  it('maps error codes in one table: usage 2, refused 4, everything else 1', () => {
    expect(
      [
        ErrorCode.InvalidInput,
        ErrorCode.InvalidConfig,
        ErrorCode.ConfirmationRequired,
        ErrorCode.LeaseHeld,
        ErrorCode.KmsForbidden,
        ErrorCode.EscrowNotFound,
        ErrorCode.PreconditionFailed,
        ErrorCode.Internal,
      ].map(exitCodeFor),
    ).toEqual([2, 2, 4, 4, 1, 1, 1, 1]);
  });

  // Name and expected exit code first: the title's %s and %i take the first two elements.
  it.each([
    ['all ok', ExitCode.Ok, [{ action: renew, outcome: 'ok' as const }]],
    [
      'an action failed',
      ExitCode.Failure,
      [
        { action: renew, outcome: 'failed' as const, errorCode: ErrorCode.KmsUnavailable },
        { action: critical, outcome: 'alerted' as const },
      ],
    ],
    [
      'a critical alert, nothing failed',
      ExitCode.Alert,
      [
        { action: renew, outcome: 'ok' as const },
        { action: critical, outcome: 'alerted' as const },
      ],
    ],
    ['only a warning alert', ExitCode.Ok, [{ action: warning, outcome: 'alerted' as const }]],
    [
      'a lineage skipped because another run holds its lease',
      ExitCode.Refused,
      [{ action: renew, outcome: 'skipped' as const, errorCode: ErrorCode.LeaseHeld }],
    ],
  ])('sweep: %s -> exit %i', async (_name, expected, results) => {
    const r = await run(
      ['sweep'],
      scripted(() => sweepOf(results)),
    );
    expect(r.code).toBe(expected);
  });

  it('status and plan exit 3 while a critical alert is pending, 0 with only warnings', async () => {
    const plan = (actions: Action[]) => ({ planId: 'plan-1', createdAtMs: 0, actions });
    expect(
      (
        await run(
          ['plan'],
          scripted(() => ({ command: 'plan', plan: plan([renew, critical]) })),
        )
      ).code,
    ).toBe(ExitCode.Alert);
    expect(
      (
        await run(
          ['plan'],
          scripted(() => ({ command: 'plan', plan: plan([renew, warning]) })),
        )
      ).code,
    ).toBe(ExitCode.Ok);
    expect(
      (
        await run(
          ['status', '--json'],
          scripted(() => ({ command: 'status', nowMs: 0, rows: [], plan: plan([critical]) })),
        )
      ).code,
    ).toBe(ExitCode.Alert);
  });

  it('verify-escrow exits 1 when one record fails', async () => {
    const r = await run(
      ['verify-escrow'],
      scripted(() => ({
        command: 'verify-escrow',
        checks: [
          { keyId: 'k-1', ok: true, detail: 'fine' },
          { keyId: 'k-2', lineage: 'orders', ok: false, detail: 'no escrow record for k-2' },
        ],
      })),
    );
    expect(r.code).toBe(ExitCode.Failure);
    expect(r.stdout.split('\n').slice(-3)).toEqual([
      'k-2  alias/orders  FAILED  no escrow record for k-2',
      '1 ok, 1 failed',
      '',
    ]);
  });

  it('a LeaseHeld error from a single-lineage command exits 4 and prints the code', async () => {
    const r = await run(
      ['rotate', 'alias/payments'],
      scripted(() => {
        throw new OrchestratorError(ErrorCode.LeaseHeld, 'lineage payments is being changed by another run (run-abc)', {
          retryable: true,
        });
      }),
    );
    expect([r.code, r.stderr]).toEqual([
      ExitCode.Refused,
      'error ERR_LEASE_HELD: lineage payments is being changed by another run (run-abc)\n',
    ]);
  });

  it('an unexpected non-product error prints a fixed message, no raw text, no stack', async () => {
    const r = await run(
      ['status'],
      scripted(() => {
        throw new TypeError('raw text with AccessKeySecret=abc');
      }),
    );
    expect([r.code, r.stderr]).toEqual([
      ExitCode.Failure,
      'error ERR_INTERNAL: unexpected TypeError; BYOK_DEBUG=1 shows details\n',
    ]);
  });

  it('BYOK_DEBUG=1 adds the stack trace', async () => {
    let stderr = '';
    await runCli(['status'], {
      env: { BYOK_DEBUG: '1' },
      stdout: () => {},
      stderr: (s) => (stderr += s),
      runner: scripted(() => {
        throw new TypeError('boom');
      }),
    });
    expect(stderr).toMatch(
      /^error ERR_INTERNAL: unexpected TypeError; BYOK_DEBUG=1 shows details\nTypeError: boom\n\s+at /,
    );
  });
});

describe('requests sent to the runner', () => {
  it.each([
    [
      ['onboard', 'alias/p', '--validity-days', '10', '--key-spec', 'Aliyun_SM4'],
      { command: 'onboard', alias: 'alias/p', validityDays: 10, keySpec: 'Aliyun_SM4' },
    ],
    [['onboard', '--validity-days=12', 'p'], { command: 'onboard', alias: 'p', validityDays: 12 }],
    [['--json', 'renew', 'k-1'], { command: 'renew', target: 'k-1' }],
    [['revoke', 'k-1', '--confirm', 'k-1'], { command: 'revoke', keyId: 'k-1', confirm: 'k-1' }],
    [['revoke', 'k-1'], { command: 'revoke', keyId: 'k-1' }],
    [['retire', 'k-1', '--confirm', 'k-1'], { command: 'retire', keyId: 'k-1', confirm: 'k-1' }],
    [['reimport', 'k-1'], { command: 'reimport', keyId: 'k-1' }],
    [['restore', 'k-1'], { command: 'restore', keyId: 'k-1' }],
    [['rotate', 'alias/p'], { command: 'rotate', alias: 'alias/p' }],
  ])('%j -> %j', async (argv, request) => {
    const runner = scripted(() => ({ command: 'revoke', keyId: 'k-1' }));
    await run(argv, runner);
    expect(runner.requests).toEqual([request]);
  });

  it.each([
    [
      ['onboard', 'p', '--validity-days', 'ten'],
      'error ERR_INVALID_INPUT: onboard: --validity-days must be a whole number, got "ten"',
    ],
    [
      ['onboard', 'p', '--key-spec', 'RSA_2048'],
      'error ERR_INVALID_INPUT: onboard: --key-spec must be Aliyun_AES_256, ' +
        'Aliyun_AES_192, Aliyun_AES_128 or Aliyun_SM4, got "RSA_2048"',
    ],
    [['onboard', 'p', '--validity-days'], 'error ERR_INVALID_INPUT: onboard: flag --validity-days needs a value'],
    [['status', 'extra'], 'error ERR_INVALID_INPUT: status: unexpected argument "extra"'],
    [['status', '--json=yes'], 'error ERR_INVALID_INPUT: status: flag --json takes no value'],
    [['audit'], 'error ERR_INVALID_INPUT: audit: missing subcommand (verify or tail)'],
    [['audit', 'grep'], 'error ERR_INVALID_INPUT: audit: unknown subcommand "grep" (verify or tail)'],
    [['--bogus'], 'error ERR_INVALID_INPUT: unknown flag "--bogus"'],
  ])('%j is a usage error (exit 2) before anything runs', async (argv, line) => {
    const runner = scripted(() => ({ command: 'plan', plan: { planId: 'p', createdAtMs: 0, actions: [] } }));
    const r = await run(argv, runner);
    expect([r.code, r.stderr.split('\n')[0], runner.requests]).toEqual([ExitCode.Usage, line, []]);
  });

  it('help <command> equals <command> --help', async () => {
    const runner = scripted(() => ({ command: 'plan', plan: { planId: 'p', createdAtMs: 0, actions: [] } }));
    const a = await run(['help', 'revoke'], runner);
    const b = await run(['revoke', '--help'], runner);
    expect([a.code, a.stdout]).toEqual([ExitCode.Ok, b.stdout]);
    expect(a.stdout).toContain('--confirm <key>');
  });

  it('--json sweep prints exactly one JSON document with ok and exitCode', async () => {
    const r = await run(
      ['sweep', '--json'],
      scripted((_req, progress) => {
        progress('renew payments k-1: material expires in 6 d');
        return sweepOf([{ action: renew, outcome: 'ok' }]);
      }),
    );
    expect(JSON.parse(r.stdout)).toMatchObject({ command: 'sweep', ok: true, exitCode: 0, counts: { ok: 1 } });
    expect(r.stderr).toBe('renew payments k-1: material expires in 6 d\n');
  });
});

describe('the npm run ops entry (scripts/ops.ts under tsx)', () => {
  const exec = (argv: string[]) =>
    promisify(execFile)(...tsxCommand('scripts/ops.ts', argv), { env: { PATH: process.env['PATH'] ?? '' } }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  it('starts, prints help and exits 0', async () => {
    const r = await exec(['--help']);
    expect([r.code, r.stdout.split('\n')[0]]).toEqual([
      0,
      'Usage: npm run ops -- [--remote [--fc2]] [--local [--state-dir <dir>]] [--profile <name>] <command> [args]',
    ]);
  });

  it('sets the process exit code (2 for a config error) and prints no stack', async () => {
    const r = await exec(['status']);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(
      /^error ERR_INVALID_CONFIG: \d+ configuration problems: BYOK_REGION: required/,
    );
    expect(r.stderr).not.toContain('    at ');
  });
});
