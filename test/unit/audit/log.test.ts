import { describe, expect, it } from 'vitest';
import { ErrorCode, OrchestratorError } from '../../../shared/errors.js';
import { genesisHash } from '../../../shared/audit/event.js';
import { type AuditLog, createAuditLog, memoryAuditSink, writerAuditSink } from '../../../shared/audit/log.js';
import type { AuditSink } from '../../../shared/audit/log.js';
import { verifyAuditChain } from '../../../shared/audit/verify.js';
import type { Clock } from '../../../shared/runtime-types.js';

function steppingClock(startMs: number, stepMs: number): Clock {
  let t = startMs - stepMs;
  return { nowMs: () => (t += stepMs) };
}
const actor = { kind: 'timer', id: 'sweep' } as const;

async function newLog(sinks: AuditSink[] = [memoryAuditSink()]): Promise<AuditLog> {
  return createAuditLog({ runId: 'run-1', actor, clock: steppingClock(1_700_000_000_000, 1000), sinks });
}

function thrown(fn: () => unknown): OrchestratorError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(OrchestratorError);
    return err as OrchestratorError;
  }
  throw new Error('expected a throw');
}

const failingSink: AuditSink = {
  name: 'broken',
  write() {
    throw new Error('disk full');
  },
};

describe('AuditLog', () => {
  it('starts the chain at seq 1 with prevHash = genesisHash(runId)', async () => {
    const log = await newLog();
    const e = log.record({ action: 'sweep', phase: 'decision' });
    expect([e.seq, e.prevHash]).toEqual([1, genesisHash('run-1')]);
  });

  it('links each event to the previous one', async () => {
    const log = await newLog();
    const a = log.record({ action: 'sweep', phase: 'decision' });
    const b = log.record({ action: 'renew', phase: 'intent' });
    expect([b.seq, b.prevHash]).toEqual([2, a.hash]);
  });

  it('takes time from the injected clock', async () => {
    const log = await newLog();
    log.record({ action: 'sweep', phase: 'decision' });
    const e = log.record({ action: 'sweep', phase: 'decision' });
    expect([e.timeMs, e.time]).toEqual([1_700_000_001_000, '2023-11-14T22:13:21.000Z']);
  });

  it('records the log actor unless the event names its own', async () => {
    const log = await newLog();
    const a = log.record({ action: 'sweep', phase: 'decision' });
    const b = log.record({ action: 'revoke', phase: 'intent', actor: { kind: 'operator', id: 'alice' } });
    expect([a.actor, b.actor]).toEqual([actor, { kind: 'operator', id: 'alice' }]);
  });

  it('writes the same canonical line, newline-terminated, to every sink', async () => {
    const written: string[] = [];
    const memory = memoryAuditSink();
    const log = await newLog([writerAuditSink((l) => written.push(l)), memory]);
    log.record({ action: 'sweep', phase: 'decision' });
    expect(written).toEqual([`${memory.lines[0]}\n`]);
  });

  it('produces lines that verify as one chain', async () => {
    const memory = memoryAuditSink();
    const log = await newLog([memory]);
    for (const phase of ['decision', 'intent', 'outcome'] as const)
      log.record({ action: 'renew', phase, outcome: phase === 'outcome' ? 'ok' : undefined });
    expect(verifyAuditChain(memory.lines)).toEqual({ ok: true, events: 3, chains: 1 });
  });

  it('writes nothing and keeps its position when the guard refuses an event', async () => {
    const memory = memoryAuditSink();
    const log = await newLog([memory]);
    thrown(() => log.record({ action: 'x', phase: 'intent', details: { token: 'abc' } }));
    const next = log.record({ action: 'sweep', phase: 'decision' });
    expect([memory.lines.length, next.seq]).toEqual([1, 1]);
  });

  it('advances and reports AuditWriteFailed naming the sink when one sink of several fails', async () => {
    const memory = memoryAuditSink();
    const log = await newLog([memory, failingSink]);
    const err = thrown(() => log.record({ action: 'sweep', phase: 'decision' }));
    expect([err.code, err.details.failedSinks, memory.lines.length, log.head().seq]).toEqual([
      ErrorCode.AuditWriteFailed,
      'broken',
      1,
      1,
    ]);
  });

  it('does not advance when every sink fails', async () => {
    const log = await newLog([failingSink]);
    thrown(() => log.record({ action: 'sweep', phase: 'decision' }));
    expect(log.head()).toEqual({ seq: 0, hash: genesisHash('run-1') });
  });

  it('requires at least one sink (InvalidConfig)', async () => {
    await expect(newLog([])).rejects.toMatchObject({ code: ErrorCode.InvalidConfig });
  });

  it('refuses to record after close', async () => {
    const log = await newLog();
    await log.close();
    expect(thrown(() => log.record({ action: 'sweep', phase: 'decision' })).code).toBe(ErrorCode.AuditWriteFailed);
  });

  it('continues the chain a sink reports at open', async () => {
    const resuming: AuditSink = { name: 'resuming', open: async () => ({ seq: 41, hash: 'a'.repeat(64) }), write() {} };
    const log = await newLog([resuming]);
    const e = log.record({ action: 'sweep', phase: 'decision' });
    expect([e.seq, e.prevHash]).toEqual([42, 'a'.repeat(64)]);
  });

  it('refuses sinks that hold different chains (InvalidConfig)', async () => {
    const a: AuditSink = { name: 'a', open: async () => ({ seq: 1, hash: 'a'.repeat(64) }), write() {} };
    const b: AuditSink = { name: 'b', open: async () => ({ seq: 1, hash: 'b'.repeat(64) }), write() {} };
    await expect(newLog([a, b])).rejects.toMatchObject({ code: ErrorCode.InvalidConfig });
  });
});
