/**
 * The emulator clock: real elapsed time plus a controllable offset.
 *
 * Design choice (documented in README text): the emulator clock runs like a wall clock (it moves
 * with real time) and can be shifted forward (`advance`) or set to an absolute instant (`set`).
 * Only the offset is state; it is persisted, so after a restart the clock continues from
 * "real now + offset". It governs key deletion windows, material expiry, import-token lifetime
 * and secret recovery windows. It does NOT govern the request `Timestamp` skew check, which
 * compares against the real wall clock because the SDK stamps requests with real time.
 */

/** Controllable emulator time, in Unix seconds. */
export interface EmulatorClock {
  /** Current emulator time, whole Unix seconds. */
  nowUnix(): number;
  /** Moves the clock forward by `seconds` (>= 0). */
  advance(seconds: number): void;
  /** Sets the clock to `unix` seconds from now on (it keeps running with real time). */
  set(unix: number): void;
  /** Current emulator time, epoch milliseconds (optional for other implementations). */
  nowMs?(): number;
  /** Emulator seconds per real second (1 unless started with a speed). */
  readonly rate?: number;
}

/**
 * A real-time source running `rate` times faster than the wall clock from `originMs` on (the local
 * stack's `--speed`): the emulator clock then moves continuously at demo speed instead of in steps.
 */
export function scaledRealTime(rate: number, originMs: number = Date.now()): () => number {
  if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError('speed must be a finite number > 0');
  return () => originMs + (Date.now() - originMs) * rate;
}

/** Clock implementation with an observable offset so the store can persist it. */
export class OffsetClock implements EmulatorClock {
  private offsetMs: number;

  constructor(
    offsetMs: number,
    private readonly realNowMs: () => number,
    private readonly onChange: () => void = () => {},
    readonly rate: number = 1,
  ) {
    this.offsetMs = offsetMs;
  }

  nowMs(): number {
    return this.realNowMs() + this.offsetMs;
  }

  /**
   * The offset to persist: from the wall clock, so a restart (at any speed) continues from the
   * emulator time reached, not from where a sped-up run started.
   */
  get persistedOffset(): number {
    return this.rate === 1 ? this.offsetMs : this.nowMs() - Date.now();
  }

  /** Offset from the real clock in milliseconds (persisted). */
  get offset(): number {
    return this.offsetMs;
  }

  nowUnix(): number {
    return Math.floor((this.realNowMs() + this.offsetMs) / 1000);
  }

  advance(seconds: number): void {
    if (!Number.isFinite(seconds) || seconds < 0) throw new RangeError('advance: seconds must be a finite number >= 0');
    const deltaMs = Math.round(seconds * 1000);
    if (deltaMs === 0) return;
    this.offsetMs += deltaMs;
    this.onChange();
  }

  set(unix: number): void {
    if (!Number.isFinite(unix) || unix < 0) throw new RangeError('set: unix must be a finite number >= 0');
    this.offsetMs = Math.round(unix * 1000) - this.realNowMs();
    this.onChange();
  }
}

/** UTC ISO-8601 with second precision and `Z` (docs/kms-api.md §1.7), from Unix seconds. */
export function isoSeconds(unix: number): string {
  // toISOString always ends in `.sssZ`: drop the milliseconds (a slice, not a regex: many per listing).
  return `${new Date(unix * 1000).toISOString().slice(0, -5)}Z`;
}
