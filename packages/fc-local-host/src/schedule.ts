/**
 * Timer-trigger schedules (docs/fc-runtime.md §3.2): 6-field cron with a leading seconds field, UTC by
 * default, an optional `CRON_TZ=<IANA zone>` prefix, or `@every <Go duration>`; plus the host's
 * scalable clock. Cron matching is croner's (6-part mode rejects 5-field expressions, as FC does).
 */
import { Cron } from 'croner';
import { FcHostError, FcHostErrorCode } from './errors.js';

/** A parsed schedule: the first fire time strictly after a given instant. */
export interface Schedule {
  readonly expression: string;
  nextAfterMs(afterMs: number): number | null;
}

const GO_DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a Go duration (`5m`, `1h30m`, `1s`) as robfig/cron's `@every` takes it (§3.2: FC documents
 * minutes; seconds are accepted here so demos and tests need not wait minutes).
 */
export function parseGoDurationMs(text: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * (GO_DURATION_UNIT_MS[m[2] ?? ''] ?? Number.NaN);
    consumed = re.lastIndex;
  }
  if (consumed !== text.length || text.length === 0 || !(total > 0)) {
    const why = `@every needs a positive duration like 5m or 1h30m, got '${text}'`;
    throw new FcHostError(FcHostErrorCode.InvalidConfig, why, { field: 'cronExpression' });
  }
  return total;
}

/** Parses a timer trigger's cronExpression; `anchorMs` anchors `@every` intervals (trigger creation). */
export function parseSchedule(expression: string, anchorMs: number): Schedule {
  const trimmed = expression.trim();
  const every = /^@every\s+(\S+)$/.exec(trimmed);
  if (every) {
    const intervalMs = parseGoDurationMs(every[1] ?? '');
    return {
      expression,
      nextAfterMs: (afterMs) => anchorMs + (Math.floor((afterMs - anchorMs) / intervalMs) + 1) * intervalMs,
    };
  }
  const tz = /^(?:CRON_)?TZ=(\S+)\s+(.*)$/.exec(trimmed);
  const timezone = tz ? (tz[1] ?? 'UTC') : 'UTC';
  const pattern = tz ? (tz[2] ?? '') : trimmed;
  let cron: Cron;
  try {
    cron = new Cron(pattern, { paused: true, mode: '6-part', timezone });
    cron.nextRun(new Date(anchorMs)); // surfaces a bad time zone now, not at the first fire
  } catch (err) {
    throw new FcHostError(
      FcHostErrorCode.InvalidConfig,
      `cronExpression '${expression}' is not a 6-field cron (seconds first), ` +
        `CRON_TZ=<zone> <cron> or @every <duration>: ${(err as Error).message}`,
      { field: 'cronExpression' },
    );
  }
  return {
    expression,
    nextAfterMs: (afterMs) => cron.nextRun(new Date(afterMs))?.getTime() ?? null,
  };
}

/** The host's clock: starts at real time and runs `scale` times faster. */
export interface HostClock {
  readonly scale: number;
  nowMs(): number;
  /** Real milliseconds until host time reaches `hostMs`. */
  realDelayUntil(hostMs: number): number;
}

/**
 * A clock anchored at `originMs` (real time) running `scale` times faster than the wall clock,
 * showing `startAtMs` (default `originMs`) at the anchor.
 */
export function createHostClock(scale: number, originMs: number = Date.now(), startAtMs: number = originMs): HostClock {
  if (!(scale > 0) || !Number.isFinite(scale)) {
    throw new FcHostError(FcHostErrorCode.InvalidConfig, `timeScale must be a positive number, got ${scale}`, {
      field: 'timeScale',
    });
  }
  const nowMs = () => startAtMs + (Date.now() - originMs) * scale;
  return { scale, nowMs, realDelayUntil: (hostMs) => Math.max(0, (hostMs - nowMs()) / scale) };
}

/** RFC 3339 UTC with second precision, as FC writes `triggerTime` (§3.1): `2023-12-26T07:49:00Z`. */
export function formatTriggerTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Runs `fire(scheduledMs)` at each scheduled host time until stopped. A fire that is still running
 * does not delay the next one (timers invoke asynchronously in FC, §3.1).
 */
export function runSchedule(
  schedule: Schedule,
  clock: HostClock,
  fire: (scheduledMs: number) => void,
): { stop(): void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let lastFiredMs = clock.nowMs();
  const arm = () => {
    if (stopped) return;
    const next = schedule.nextAfterMs(Math.max(lastFiredMs, clock.nowMs()));
    if (next === null) return;
    const wait = clock.realDelayUntil(next);
    timer = setTimeout(
      () => {
        if (stopped) return;
        if (clock.nowMs() + 1 < next) return arm(); // woke early (long waits are chunked): wait on
        lastFiredMs = next;
        fire(next);
        arm();
      },
      Math.min(Math.ceil(wait), MAX_TIMEOUT_MS),
    );
    timer.unref();
  };
  arm();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
