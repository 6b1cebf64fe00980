/**
 * The `npm start` terminal at demo speed (issue 9 §6), run for real: the banner names the demo
 * policy and the audit files; after it, every line carries the emulated date and time and says in
 * words what happened (a renewal, a rotation, each sweep), with no raw audit JSON and no routine
 * emulator call. At x43200 (12 hours a second) the demo policy renews within ~5 s and rotates
 * within ~7 s (the same schedule x3600 shows within two minutes); a sweep every 0.5 s still leaves
 * about four sweeps inside the one-day renew window, so the renewal does not depend on timing luck.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ROOT } from '../../support/local-stack.js';

let child: ChildProcess | undefined;
let dir: string | undefined;
afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child?.once('exit', r));
    child.kill('SIGINT');
    await exited;
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

const DATED = /^\d{4}-\d\d-\d\d \d\d:\d\dZ {2}\S/;

it('shows a renewal and a rotation in words, each line dated, nothing raw', async () => {
  dir = await mkdtemp(join(tmpdir(), 'byok-start-'));
  const argv = ['--import', 'tsx', 'scripts/start.ts', '--speed', '43200', '--kms-port', '0', '--fc-port', '0'];
  const proc = spawn(process.execPath, [...argv, '--state-dir', join(dir, 'state')], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = proc;
  let out = '';
  let err = '';
  proc.stdout?.on('data', (b: Buffer) => {
    out += b.toString('utf8');
  });
  proc.stderr?.on('data', (b: Buffer) => {
    err += b.toString('utf8');
  });
  const deadline = Date.now() + 100_000;
  while (!/rotated to generation 2/.test(out) && Date.now() < deadline && proc.exitCode === null) {
    await new Promise((r) => setTimeout(r, 250));
  }
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGINT');
  await exited;

  expect(err).toBe('');
  const [banner, after = ''] = out.split('Ctrl-C stops everything.\n');
  expect(banner).toContain('demo policy       material valid 3 days, renewed 1 day before it lapses');
  expect(banner).toContain('at x43200: a sweep every 1 s');
  expect(banner).toMatch(/audit files +\S+audit-<function>\.jsonl and audit-cli\.jsonl/);
  const lines = after.split('\n').filter((l) => l !== '' && l !== 'Stopping...');
  expect(lines.filter((l) => !DATED.test(l))).toEqual([]);
  expect(lines.filter((l) => /"hash"|^\S+ \S+ {2}\{|kms-emulator|DescribeKey/.test(l))).toEqual([]);
  expect(lines.some((l) => /Z {2}byok-sweep: demo key-\S+: renewed until \S+$/.test(l))).toBe(true);
  expect(lines.some((l) => /Z {2}byok-sweep: demo: rotated to generation 2 \(key-\S+\)$/.test(l))).toBe(true);
  expect(lines.some((l) => /Z {2}sweep: nothing to do; no alerts; nearest expiry in [\d.]+ days$/.test(l))).toBe(true);
}, 150_000);
