/**
 * The `npm start` terminal (scripts/local/terminal.ts): each stack log line in, the line a person
 * reads (or nothing) out. The inputs are lines as the local stack logs them (copied from a run).
 */
import { describe, expect, it } from 'vitest';
import { clockPrefix, formatStackLine, sweepLine } from '../../../scripts/local/terminal.js';

const NOW = Date.parse('2026-12-03T10:33:41.512Z');
const fast = { nowMs: NOW, speed: 3600, verbose: false };
const realTime = { nowMs: NOW, speed: 1, verbose: false };
const verbose = { ...fast, verbose: true };

const fn = (name: string, fields: Record<string, unknown>) => `[fc] [${name}] ${JSON.stringify(fields)}`;
const audit = (fields: Record<string, unknown>) =>
  fn('byok-sweep', { v: 1, seq: 4, hash: 'a'.repeat(64), prevHash: 'b'.repeat(64), runId: 'sweep-1', ...fields });

describe('clockPrefix', () => {
  it('prints the emulated date and time under --speed, the time of day otherwise', () => {
    expect(clockPrefix(NOW, 3600)).toBe('2026-12-03 10:33Z');
    expect(clockPrefix(NOW, 1)).toBe('10:33:41');
  });
});

describe('formatStackLine', () => {
  it('puts the time in front of every line it shows', () => {
    expect(
      formatStackLine('[alert] [CRITICAL] key k-1 (lineage demo): gone. Fix: npm run ops -- reimport k-1', fast),
    ).toBe('2026-12-03 10:33Z  alert [CRITICAL] key k-1 (lineage demo): gone. Fix: npm run ops -- reimport k-1');
    expect(formatStackLine('[alert] [RESOLVED] key k-1 (lineage demo): gone', realTime)).toBe(
      '10:33:41  alert [RESOLVED] key k-1 (lineage demo): gone',
    );
  });

  it('turns the sweep summary into one line in words and hides the raw "sweep done" line', () => {
    const summary = fn('byok-sweep', {
      level: 'info',
      msg: 'alerts: sweep summary',
      byokEvent: 'sweep-summary',
      minDaysLeft: 28.1,
      critical: 0,
      warning: 0,
      ok: 0,
      failed: 0,
      skipped: 0,
      deferred: 0,
      alerted: 0,
      unusableKeys: '',
    });
    expect(formatStackLine(summary, fast)).toBe(
      '2026-12-03 10:33Z  sweep: nothing to do; no alerts; nearest expiry in 28.1 days',
    );
    const done = fn('byok-sweep', {
      level: 'info',
      msg: 'sweep done',
      ok: 0,
      failed: 0,
      triggerName: 'sweep-every-6h',
    });
    expect(formatStackLine(done, fast)).toBeUndefined();
  });

  it('names what a sweep did and what is wrong', () => {
    expect(
      sweepLine({ ok: 2, failed: 1, deferred: 1, skipped: 0, critical: 1, warning: 2, unusableKeys: 'k-1 k-2' }),
    ).toBe(
      'sweep: 2 actions done, 1 failed, 1 deferred to the next run; 1 critical alert, 2 warnings; UNUSABLE: k-1 k-2',
    );
    expect(sweepLine({ ok: 1, skipped: 1, critical: 2, warning: 0, unusableKeys: '', minDaysLeft: 0.9 })).toBe(
      'sweep: 1 action done, 1 skipped (another run holds the lineage); 2 critical alerts; nearest expiry in 0.9 days',
    );
  });

  it('shows a lifecycle action that changed something, in words, not as audit JSON', () => {
    const renewed = audit({
      action: 'renew',
      phase: 'outcome',
      outcome: 'ok',
      lineage: 'demo',
      keyId: 'key-1',
      reason: 'renewed until 2026-12-06T10:06:26.874Z',
    });
    expect(formatStackLine(renewed, fast)).toBe(
      '2026-12-03 10:33Z  byok-sweep: demo key-1: renewed until 2026-12-06T10:06:26.874Z',
    );
    const rotated = audit({
      action: 'rotate',
      phase: 'outcome',
      outcome: 'ok',
      lineage: 'demo',
      reason: 'rotated to gen 2',
    });
    expect(formatStackLine(rotated, fast)).toBe('2026-12-03 10:33Z  byok-sweep: demo: rotated to gen 2');
    const reimported = audit({ action: 'reimport', phase: 'outcome', outcome: 'ok', lineage: 'demo', keyId: 'key-3' });
    expect(formatStackLine(reimported, fast)).toBe('2026-12-03 10:33Z  byok-sweep: re-imported demo key-3');
  });

  it('shows a failed action with its code, and hides decisions, intents and step events', () => {
    const failed = audit({
      action: 'reimport',
      phase: 'outcome',
      outcome: 'failed',
      lineage: 'demo',
      keyId: 'key-1',
      errorCode: 'ERR_ESCROW_NOT_FOUND',
      reason: 'no escrow record',
    });
    expect(formatStackLine(failed, fast)).toBe(
      '2026-12-03 10:33Z  byok-sweep: reimport FAILED for demo key-1 (ERR_ESCROW_NOT_FOUND): no escrow record',
    );
    for (const e of [
      { action: 'renew', phase: 'decision', lineage: 'demo', reason: 'expires in 0.9 days' },
      { action: 'renew', phase: 'intent', lineage: 'demo' },
      { action: 'lease', phase: 'outcome', outcome: 'ok', lineage: 'demo', reason: 'lineage lease 3 taken' },
      { action: 'provision:self-tested', phase: 'outcome', outcome: 'ok', lineage: 'demo' },
    ]) {
      expect(formatStackLine(audit(e), fast)).toBeUndefined();
    }
  });

  it('hides routine emulator calls (the DescribeKey 404 of an onboarding) and shows server and auth failures', () => {
    const routine = [
      '[kms] kms-emulator POST / DescribeKey 404 Forbidden.AliasNotFound 0ms c8539a62-2b3f-4790-ad6d-88764453c39a',
      '[kms] kms-emulator POST / GetSecretValue 403 Forbidden.ResourceNotFound 1ms 3840017e-4832-4707-a741',
      '[kms] kms-emulator POST / ImportKeyMaterial 200 OK 3ms 5b56545f-d26a-411b-8008-069a3dfd30e4',
      '[kms] kms-emulator listening on http://127.0.0.1:4765',
    ];
    for (const l of routine) expect(formatStackLine(l, fast)).toBeUndefined();
    expect(
      formatStackLine(
        '[kms] kms-emulator POST / Encrypt 500 InternalFailure 2ms 5b56545f-d26a-411b-8008-069a3dfd30e4',
        fast,
      ),
    ).toBe('2026-12-03 10:33Z  KMS emulator: Encrypt answered 500 InternalFailure');
    expect(
      formatStackLine('[kms] kms-emulator POST / ListKeys 400 IncompleteSignature 1ms 5b56545f-d26a-411b', fast),
    ).toBe('2026-12-03 10:33Z  KMS emulator: ListKeys answered 400 IncompleteSignature');
    expect(formatStackLine(routine[0]!, verbose)).toBe(
      '2026-12-03 10:33Z  KMS emulator: DescribeKey 404 Forbidden.AliasNotFound',
    );
  });

  it('hides successful invocations and startup chatter, shows failed ones and refusals', () => {
    expect(formatStackLine('[fc] fc-host timer byok-sweep 03a17704-0085-40df ok (12 ms)', fast)).toBeUndefined();
    expect(
      formatStackLine(
        '[fc] fc-host invoke API: POST http://127.0.0.1:4766/2023-03-30/functions/<fn>/invocations (ACS3)',
        fast,
      ),
    ).toBeUndefined();
    expect(
      formatStackLine(
        '[fc] fc-host timer byok-sweep 03a17704 HandledInvocationError ERR_KMS_UNAVAILABLE: KMS down (40 ms)',
        fast,
      ),
    ).toBe('2026-12-03 10:33Z  byok-sweep (timer) failed: HandledInvocationError ERR_KMS_UNAVAILABLE: KMS down');
    expect(formatStackLine('[fc] fc-host invoke-fc3 invoke 9a8b refused: InvalidAccessKeyId', fast)).toBe(
      '2026-12-03 10:33Z  FC host: invoke-fc3 invoke 9a8b refused: InvalidAccessKeyId',
    );
  });

  it('says what a webhook call did and shows warnings with their code, hiding info lines', () => {
    const hook = fn('byok-webhook', {
      level: 'info',
      msg: 'webhook processed',
      accepted: 1,
      duplicates: 0,
      targets: 'demo',
    });
    expect(formatStackLine(hook, fast)).toBe('2026-12-03 10:33Z  webhook: 1 request accepted (demo)');
    const warn = fn('byok-sweep', {
      level: 'warn',
      msg: 'alerts: delivery failed',
      errorCode: 'ERR_KMS_NETWORK',
      errorMessage: 'connection refused',
    });
    expect(formatStackLine(warn, fast)).toBe(
      '2026-12-03 10:33Z  byok-sweep warning: alerts: delivery failed (ERR_KMS_NETWORK: connection refused)',
    );
    const info = fn('byok-sweep', { level: 'info', msg: '  demo gen 1: self-tested (key-1)' });
    expect(formatStackLine(info, fast)).toBeUndefined();
    expect(formatStackLine(info, verbose)).toBe('2026-12-03 10:33Z  byok-sweep:   demo gen 1: self-tested (key-1)');
    // Alert log lines are the receiver's [alert] lines already.
    const alertLog = fn('byok-sweep', { level: 'error', msg: 'alerts: alert', byokEvent: 'alert', keyId: 'key-1' });
    expect(formatStackLine(alertLog, fast)).toBeUndefined();
  });
});
