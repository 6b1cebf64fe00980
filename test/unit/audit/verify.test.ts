import { describe, expect, it } from 'vitest';
import { computeEventHash } from '../../../shared/audit/event.js';
import type { AuditEvent } from '../../../shared/audit/event.js';
import { createAuditLog, memoryAuditSink } from '../../../shared/audit/log.js';
import { verifyAuditChain } from '../../../shared/audit/verify.js';

const actor = { kind: 'timer', id: 'sweep' } as const;

/** `n` events of one run, as the lines a sink holds. */
async function chain(runId: string, n: number, startMs = 1_700_000_000_000): Promise<string[]> {
  let t = startMs;
  const memory = memoryAuditSink();
  const log = await createAuditLog({ runId, actor, clock: { nowMs: () => (t += 1000) }, sinks: [memory] });
  for (let i = 0; i < n; i++)
    log.record({
      action: 'renew',
      phase: i % 2 === 0 ? 'intent' : 'outcome',
      keyId: '1234abcd-12ab-34cd-56ef-1234567890ab',
    });
  return memory.lines;
}

/** Re-serialises an edited event, optionally recomputing its hash (a smarter forger). */
function edit(line: string, change: (e: AuditEvent) => void, rehash: boolean): string {
  const e = JSON.parse(line) as AuditEvent;
  change(e);
  if (rehash) e.hash = computeEventHash(e);
  return JSON.stringify(e);
}

describe('verifyAuditChain', () => {
  it('accepts an intact chain and counts its events', async () => {
    expect(verifyAuditChain(await chain('run-1', 5))).toEqual({ ok: true, events: 5, chains: 1 });
  });

  it('accepts the JSONL text with its trailing newline', async () => {
    expect(verifyAuditChain(`${(await chain('run-1', 2)).join('\n')}\n`)).toEqual({ ok: true, events: 2, chains: 1 });
  });

  it('accepts an empty log', () => {
    expect(verifyAuditChain([])).toEqual({ ok: true, events: 0, chains: 0 });
  });

  it('accepts several runs, each from its own genesis, even interleaved', async () => {
    const [a, b] = await Promise.all([chain('run-a', 3), chain('run-b', 3)]);
    const interleaved = [a[0], b[0], b[1], a[1], a[2], b[2]].map(String);
    expect(verifyAuditChain(interleaved)).toEqual({ ok: true, events: 6, chains: 2 });
  });

  it('reports an altered field as hash-mismatch on that line', async () => {
    const lines = await chain('run-1', 4);
    lines[2] = edit(lines[2] ?? '', (e) => (e.action = 'revoke'), false);
    expect(verifyAuditChain(lines)).toMatchObject({ ok: false, line: 3, kind: 'hash-mismatch' });
  });

  it('reports an altered and re-hashed event as broken-link on the next line', async () => {
    const lines = await chain('run-1', 4);
    lines[1] = edit(lines[1] ?? '', (e) => (e.phase = 'decision'), true);
    expect(verifyAuditChain(lines)).toMatchObject({ ok: false, line: 3, kind: 'broken-link' });
  });

  it('reports a deleted line as broken-link where the gap is', async () => {
    const lines = await chain('run-1', 4);
    lines.splice(1, 1);
    expect(verifyAuditChain(lines)).toMatchObject({ ok: false, line: 2, kind: 'broken-link' });
  });

  it('reports a deleted first line as broken-link on line 1', async () => {
    const lines = await chain('run-1', 3);
    expect(verifyAuditChain(lines.slice(1))).toMatchObject({ ok: false, line: 1, kind: 'broken-link' });
  });

  it('reports two swapped lines as broken-link on the first of them', async () => {
    const lines = await chain('run-1', 4);
    [lines[1], lines[2]] = [lines[2] ?? '', lines[1] ?? ''];
    expect(verifyAuditChain(lines)).toMatchObject({ ok: false, line: 2, kind: 'broken-link' });
  });

  it('reports a duplicated line as broken-link on the copy', async () => {
    const lines = await chain('run-1', 3);
    lines.splice(2, 0, lines[1] ?? '');
    expect(verifyAuditChain(lines)).toMatchObject({ ok: false, line: 3, kind: 'broken-link' });
  });

  it('reports a re-hashed seq change as seq-mismatch', async () => {
    const lines = await chain('run-1', 3);
    lines[1] = edit(lines[1] ?? '', (e) => (e.seq = 7), true);
    expect(verifyAuditChain(lines)).toMatchObject({ ok: false, line: 2, kind: 'seq-mismatch' });
  });

  it('reports a second genesis of the same run as duplicate-genesis', async () => {
    const lines = [...(await chain('run-1', 2)), ...(await chain('run-1', 1, 1_800_000_000_000))];
    expect(verifyAuditChain(lines)).toMatchObject({ ok: false, line: 3, kind: 'duplicate-genesis' });
  });

  it('reports a line that is not JSON as bad-json', async () => {
    const lines = await chain('run-1', 3);
    lines[1] = (lines[1] ?? '').slice(0, 30);
    expect(verifyAuditChain(lines)).toMatchObject({ ok: false, line: 2, kind: 'bad-json' });
  });

  it('reports a blank line inside the log as bad-json', async () => {
    const lines = await chain('run-1', 2);
    lines.splice(1, 0, '');
    expect(verifyAuditChain(lines)).toMatchObject({ ok: false, line: 2, kind: 'bad-json' });
  });

  it('reports JSON that is not an audit event as bad-schema', async () => {
    const lines = await chain('run-1', 2);
    lines.push('{"hello":"world"}');
    expect(verifyAuditChain(lines)).toMatchObject({ ok: false, line: 3, kind: 'bad-schema' });
  });
});
