/**
 * Timer triggers of the local host (§3): event shape, real firing on `@every`, the scaled clock,
 * and the schedule parser (6-field cron, CRON_TZ, @every; 5 fields rejected).
 */
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { buildFixtures, fixtureFunction, json, startTestHost } from './helpers.js';
import { formatTriggerTime, parseSchedule } from '@byok/fc-local-host';
import type { FcHost } from '@byok/fc-local-host';
import { FcHostErrorCode as ErrorCode } from '@byok/fc-local-host';

describe('timer triggers', () => {
  let distDir: string;
  let cleanup: () => void;
  let host: FcHost | undefined;

  beforeAll(async () => {
    ({ distDir, cleanup } = await buildFixtures());
  });
  afterEach(async () => {
    await host?.close();
    host = undefined;
  });
  afterAll(() => cleanup?.());

  it('fireTimer delivers {triggerTime, triggerName, payload} with second-precision UTC time', async () => {
    ({ host } = await startTestHost({
      functions: [
        fixtureFunction(distDir, 'echo', {
          name: 'sweep',
          timers: [{ triggerName: 'hourly', cronExpression: '0 0 * * * *', payload: '{"job":"sweep"}' }],
        }),
      ],
    }));
    const r = await host.fireTimer('sweep', 'hourly', new Date('2026-03-01T04:00:00.789Z'));
    expect(r.kind).toBe('ok');
    if (r.kind !== 'ok') return;
    expect(JSON.parse(json(r.body)['event'] as string)).toEqual({
      triggerTime: '2026-03-01T04:00:00Z',
      triggerName: 'hourly',
      payload: '{"job":"sweep"}',
    });
    expect(host.invocations().at(-1)).toMatchObject({ requestId: r.requestId, source: 'timer', outcome: 'ok' });
  });

  // The two tests that wait on the real clock (about 2 s and 1.3 s) run side by side, each with its
  // own hosts (closed in `finally`, not through the shared `host` above).
  it.concurrent('fires an @every 1s trigger on its own, with the scheduled time as triggerTime', async ({ expect }) => {
    const { host: h } = await startTestHost({
      fireTimers: true,
      functions: [
        fixtureFunction(distDir, 'echo', {
          name: 'ticker',
          timers: [{ triggerName: 'tick', cronExpression: '@every 1s', payload: 'p' }],
        }),
      ],
    });
    try {
      await expect
        .poll(() => h.invocations().filter((i) => i.outcome === 'ok').length, { timeout: 4000, interval: 50 })
        .toBeGreaterThanOrEqual(2);
      const [a, b] = h.invocations();
      expect(a).toMatchObject({ source: 'timer', functionName: 'ticker', timer: { triggerName: 'tick' } });
      // Consecutive fires are scheduled exactly one second apart, and each starts at its scheduled second.
      const ta = Date.parse(a?.timer?.triggerTime ?? '');
      const tb = Date.parse(b?.timer?.triggerTime ?? '');
      expect(tb - ta).toBe(1000);
      expect(Math.abs((a?.startedAtMs ?? 0) - ta)).toBeLessThan(1000);
    } finally {
      await h.close();
    }
  });

  it.concurrent('does not fire a disabled trigger, nor an enabled one when fireTimers is false', async ({ expect }) => {
    const disabled = await startTestHost({
      fireTimers: true,
      functions: [
        fixtureFunction(distDir, 'echo', {
          name: 'off',
          timers: [{ triggerName: 'tick', cronExpression: '@every 1s', enable: false }],
        }),
      ],
    });
    const notFiring = await startTestHost({
      fireTimers: false,
      functions: [
        fixtureFunction(distDir, 'echo', {
          name: 'on',
          timers: [{ triggerName: 'tick', cronExpression: '@every 1s' }],
        }),
      ],
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 1300));
      expect(disabled.host.invocations()).toHaveLength(0);
      expect(notFiring.host.invocations()).toHaveLength(0);
      // fireTimer still works on either.
      expect((await disabled.host.fireTimer('off', 'tick')).kind).toBe('ok');
    } finally {
      await Promise.all([disabled.host.close(), notFiring.host.close()]);
    }
  });

  it('runs the host clock timeScale times faster: an every-minute cron fires within a second at 120x', async () => {
    ({ host } = await startTestHost({
      fireTimers: true,
      timeScale: 120,
      functions: [
        fixtureFunction(distDir, 'echo', {
          name: 'minutely',
          timers: [{ triggerName: 'm', cronExpression: '0 * * * * *' }],
        }),
      ],
    }));
    const h = host;
    const t0 = Date.now();
    await expect.poll(() => h.invocations().length, { timeout: 4000, interval: 25 }).toBeGreaterThanOrEqual(1);
    expect(Date.now() - t0).toBeLessThan(3000); // at 1x the next whole minute is up to 60 s away
    // The fire is for a whole host minute, and the host clock is ahead of the wall clock.
    expect(h.invocations()[0]?.timer?.triggerTime).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00Z$/);
    expect(h.nowMs() - Date.now()).toBeGreaterThan(0);
  });
});

describe('parseSchedule', () => {
  const at = Date.parse('2026-01-01T00:30:00Z');

  it('reads 6-field cron with seconds in UTC', () => {
    expect(formatTriggerTime(parseSchedule('0 0 * * * *', at).nextAfterMs(at) ?? 0)).toBe('2026-01-01T01:00:00Z');
    expect(formatTriggerTime(parseSchedule('0 0 4 * * *', at).nextAfterMs(at) ?? 0)).toBe('2026-01-01T04:00:00Z');
  });

  it('returns a time strictly after the given instant', () => {
    const s = parseSchedule('0 0 * * * *', at);
    const oneAm = Date.parse('2026-01-01T01:00:00Z');
    expect(formatTriggerTime(s.nextAfterMs(oneAm) ?? 0)).toBe('2026-01-01T02:00:00Z');
  });

  it('honours CRON_TZ=Asia/Shanghai (03:00 CST = 19:00 UTC the day before)', () => {
    expect(formatTriggerTime(parseSchedule('CRON_TZ=Asia/Shanghai 0 0 3 * * *', at).nextAfterMs(at) ?? 0)).toBe(
      '2026-01-01T19:00:00Z',
    );
  });

  it('reads @every with Go durations, anchored at the trigger start', () => {
    expect(parseSchedule('@every 5m', at).nextAfterMs(at + 1) ?? 0).toBe(at + 5 * 60_000);
    expect(parseSchedule('@every 1h30m', at).nextAfterMs(at) ?? 0).toBe(at + 90 * 60_000);
  });

  it.each(['0 * * * *', '@every 5x', '@every 0s', 'CRON_TZ=Mars/Olympus 0 0 3 * * *', 'not a cron'])(
    'rejects %j with InvalidConfig',
    (expr) => {
      expect(() => parseSchedule(expr, at)).toThrowError(expect.objectContaining({ code: ErrorCode.InvalidConfig }));
    },
  );
});
