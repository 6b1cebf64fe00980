import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../shared/errors.js';
import { fileAuditSink } from '../../../shared/audit/file-sink.js';
import { createAuditLog } from '../../../shared/audit/log.js';
import { verifyAuditChain } from '../../../shared/audit/verify.js';

const roots: string[] = [];
afterAll(async () => {
  await Promise.all(roots.map((r) => fs.rm(r, { recursive: true, force: true })));
});

async function auditFile(): Promise<string> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'audit-file-'));
  roots.push(root);
  return path.join(root, 'logs', 'audit.jsonl');
}

const clock = { nowMs: () => 1_700_000_000_000 };
const actor = { kind: 'system', id: 'test' } as const;

async function runOnce(file: string, runId: string, events: number): Promise<void> {
  const log = await createAuditLog({ runId, actor, clock, sinks: [fileAuditSink(file)] });
  for (let i = 0; i < events; i++) log.record({ action: 'sweep', phase: 'decision' });
  await log.close();
}

describe('JSONL file audit sink', () => {
  it('creates the file with mode 0600 and one line per event', async () => {
    const file = await auditFile();
    await runOnce(file, 'run-1', 3);
    const [stat, text] = await Promise.all([fs.stat(file), fs.readFile(file, 'utf8')]);
    expect([(stat.mode & 0o777).toString(8), text.split('\n')]).toEqual([
      '600',
      [expect.any(String), expect.any(String), expect.any(String), ''],
    ]);
  });

  it('resumes the chain from the last line when a later run opens the file', async () => {
    const file = await auditFile();
    await runOnce(file, 'run-1', 2);
    await runOnce(file, 'run-2', 2);
    const events = (await fs.readFile(file, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; runId: string; prevHash: string; hash: string });
    expect([events.map((e) => `${e.runId}#${e.seq}`), events[2]?.prevHash === events[1]?.hash]).toEqual([
      ['run-1#1', 'run-1#2', 'run-2#3', 'run-2#4'],
      true,
    ]);
  });

  it('keeps a file written by several runs verifiable as one chain', async () => {
    const file = await auditFile();
    for (const run of ['run-1', 'run-2', 'run-3']) await runOnce(file, run, 2);
    expect(verifyAuditChain(await fs.readFile(file, 'utf8'))).toEqual({ ok: true, events: 6, chains: 1 });
  });

  it('appends (O_APPEND) even when two writers opened the file at the same size', async () => {
    const file = await auditFile();
    const a = await createAuditLog({ runId: 'run-a', actor, clock, sinks: [fileAuditSink(file)] });
    const b = await createAuditLog({ runId: 'run-b', actor, clock, sinks: [fileAuditSink(file)] });
    a.record({ action: 'sweep', phase: 'decision' });
    b.record({ action: 'sweep', phase: 'decision' });
    a.record({ action: 'sweep', phase: 'outcome' });
    await Promise.all([a.close(), b.close()]);
    expect(verifyAuditChain(await fs.readFile(file, 'utf8'))).toEqual({ ok: true, events: 3, chains: 2 });
  });

  it('refuses to open a file whose last line is torn (AuditChainBroken)', async () => {
    const file = await auditFile();
    await runOnce(file, 'run-1', 2);
    await fs.appendFile(file, '{"v":1,"seq":3');
    await expect(createAuditLog({ runId: 'run-2', actor, clock, sinks: [fileAuditSink(file)] })).rejects.toMatchObject({
      code: ErrorCode.AuditChainBroken,
    });
  });

  it('refuses to open a file whose last line was altered (AuditChainBroken)', async () => {
    const file = await auditFile();
    await runOnce(file, 'run-1', 2);
    const text = await fs.readFile(file, 'utf8');
    await fs.writeFile(file, text.replace(/"phase":"decision"(?![\s\S]*"phase")/, '"phase":"outcome"'));
    await expect(createAuditLog({ runId: 'run-2', actor, clock, sinks: [fileAuditSink(file)] })).rejects.toMatchObject({
      code: ErrorCode.AuditChainBroken,
    });
  });
});
