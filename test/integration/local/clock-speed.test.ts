/**
 * `npm start -- --speed N` (issue 8): the engine's clock follows the emulator's continuously (it
 * used to sample the emulator once per invocation and then run at real speed, so two runs 0.5 s
 * apart at speed 3600 disagreed by 30 minutes), and after a restart the FC host's timers run on the
 * emulator's clock (they used to start again at real time while the emulator resumed ahead).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { invocationClock } from '../../../shared/fc/adapter.js';
import { systemClock } from '../../../shared/system.js';
import { startLocalStack } from '../../../scripts/local/stack.js';

const SPEED = 3600;
const MINUTE = 60_000;
const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});
/** A local stack at demo speed (no function is invoked, so the bundles need not exist). */
const stackOptions = (dir: string) => ({
  stateDir: join(dir, 'state'),
  distDir: join(dir, 'dist'),
  sYamlPath: join(ROOT, 's.yaml'),
  kmsPort: 0,
  fcPort: 0,
  fireTimers: false,
  speed: SPEED,
  log: () => {},
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the engine clock at demo speed', () => {
  it('two invocations apart in time agree with each other and with the emulator', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'byok-clock-'));
    dirs.push(dir);
    const stack = await startLocalStack(stackOptions(dir));
    try {
      const url = stack.cliEnv.BYOK_LOCAL_TIME_URL;
      const first = await invocationClock(systemClock, url);
      await sleep(500);
      const second = await invocationClock(systemClock, url);
      await sleep(700);
      const [a, b, e] = [first.nowMs(), second.nowMs(), stack.emu.clock.nowUnix() * 1000];
      // 0.5 s at speed 3600 is 30 minutes: the old clock of `first` ran at real speed and lagged by
      // that much (and by 72 minutes behind the emulator). The margin covers the sampling error: a
      // slow round trip to the emulator under a loaded test run (up to ~0.25 s, i.e. 15 minutes).
      expect(Math.abs(a - b)).toBeLessThan(15 * MINUTE);
      expect(Math.abs(a - e)).toBeLessThan(15 * MINUTE);
    } finally {
      await stack.close();
    }
  });
});

describe('the local stack after a restart', () => {
  it("fires timers on the emulator's clock", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'byok-clock-'));
    dirs.push(dir);
    const options = stackOptions(dir);
    const before = await startLocalStack(options);
    before.emu.clock.advance(30 * 24 * 3600); // a month of demo time went by
    await before.close();
    const after = await startLocalStack(options);
    try {
      const emuMs = after.emu.clock.nowUnix() * 1000;
      expect(emuMs - Date.now()).toBeGreaterThan(29 * 24 * 60 * MINUTE);
      expect(Math.abs(after.host.nowMs() - emuMs)).toBeLessThan(2 * MINUTE);
    } finally {
      await after.close();
    }
  });
});
