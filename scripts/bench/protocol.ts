/** The lines scripts/bench/bench.ts and its measured process (engine-child.ts) exchange. */

/** A command from the bench to the engine process (one JSON line on its stdin). */
export interface ChildCommand {
  op: 'sweep' | 'check-key' | 'onboard' | 'rotate';
  /** Emulator clock minus the wall clock, ms: the engine clock follows the emulator's. */
  clockOffsetMs: number;
  keyId?: string;
  alias?: string;
}

/**
 * What the KMS client reports about its pacing, when it has a pacer (shared/kms/resilience.ts
 * PacingState, read duck-typed so the bench runs whatever the client's shape).
 */
export interface PacingReport {
  concurrency?: number;
  latencyMs?: number;
  groupRates?: Record<string, number>;
  maxRequestsPerSecond?: number;
  throttled?: number;
}

/** The engine process's first line: the instance is built. */
export interface ChildReady {
  ready: true;
  /** BYOK_KMS_CONCURRENCY as configured; null = derived by the client. */
  concurrency: number | null;
  maxRequestsPerSecond: number | null;
  /** Share of the documented per-group KMS quotas the client paces itself to; null = none. */
  qpsShare: number | null;
  escrow: string;
}

/** The answer to one command. */
export interface ChildAnswer {
  ok: boolean;
  /** Wall time of the operation alone, ms. */
  wallMs: number;
  /** Peak resident set size of the process so far (process.resourceUsage().maxRSS), KiB. */
  maxRssKiB: number;
  /** Actions planned (sweep, check), their outcomes and kinds. */
  planned?: number;
  counts?: Record<string, number>;
  kinds?: Record<string, number>;
  /**
   * Mean latency of the operation's successful KMS calls as the client measured them (request to
   * answer, SDK and emulator time included), ms; absent when the client reports none.
   */
  meanLatencyMs?: number;
  /** The client's pacing right after the operation (absent when the client has no pacer). */
  pacing?: PacingReport;
  error?: string;
}

/** Prefix of protocol lines on the engine process's stdout (anything else there is ignored). */
export const LINE_PREFIX = 'BENCH ';
