/**
 * AuditLog: turns AuditInput into chained events (event.ts) using the injected Clock, and writes
 * each as one JSON line to every sink. Writes are synchronous, so an `intent` event is on its way
 * to every sink before the write it announces starts.
 */
import { ErrorCode, OrchestratorError } from '../errors.js';
import type { Clock } from '../runtime-types.js';
import { buildAuditEvent, genesisHash, serializeAuditEvent } from './event.js';
import type { Actor, AuditEvent, AuditInput } from './event.js';

/** The last event of a chain: what the next event links to. */
export interface ChainHead {
  seq: number;
  hash: string;
}

/** A destination for audit lines. */
export interface AuditSink {
  /** For error messages ("file /var/log/audit.jsonl", "stdout"). */
  readonly name: string;
  /**
   * Called once by createAuditLog before any write. A sink that already holds a chain (the
   * append-only file) returns its head, and the log continues that chain instead of a new one.
   */
  open?(): Promise<ChainHead | undefined>;
  /** Writes one line (canonical JSON plus `\n`); throws if it cannot. */
  write(line: string, event: AuditEvent): void;
  /** Releases resources (file descriptors). */
  close?(): Promise<void> | void;
}

/** What createAuditLog needs. */
export interface AuditLogOptions {
  /** Unique per invocation (FC request id or generated); names the chain's genesis. */
  runId: string;
  /** Recorded on every event that does not name its own actor. */
  actor: Actor;
  clock: Clock;
  sinks: AuditSink[];
}

/** A hash-chained audit log over one or more sinks. */
export class AuditLog {
  private seq: number;
  private prevHash: string;
  private closed = false;

  constructor(
    private readonly options: AuditLogOptions,
    resumeFrom?: ChainHead,
  ) {
    if (options.sinks.length === 0) {
      throw new OrchestratorError(ErrorCode.InvalidConfig, 'audit: at least one sink is required', {
        details: { field: 'sinks' },
      });
    }
    this.seq = resumeFrom?.seq ?? 0;
    this.prevHash = resumeFrom?.hash ?? genesisHash(options.runId);
  }

  /** The run id every event of this log carries. */
  get runId(): string {
    return this.options.runId;
  }

  /**
   * Records one event: fills v, seq, time, runId, actor (if omitted), prevHash and hash, writes it
   * to every sink and returns it. Refuses secret-looking values (InvalidInput, nothing written).
   * If some sinks fail the chain still advances (the others hold the event) and AuditWriteFailed
   * names the failed sinks; if all fail nothing advanced.
   */
  record(input: AuditInput): AuditEvent {
    if (this.closed) throw new OrchestratorError(ErrorCode.AuditWriteFailed, 'audit: log is closed');
    const event = buildAuditEvent(
      { ...input, actor: input.actor ?? this.options.actor },
      { runId: this.options.runId, seq: this.seq + 1, prevHash: this.prevHash },
      this.options.clock.nowMs(),
    );
    const line = `${serializeAuditEvent(event)}\n`;
    const failed: string[] = [];
    let firstError: unknown;
    for (const sink of this.options.sinks) {
      try {
        sink.write(line, event);
      } catch (err) {
        failed.push(sink.name);
        firstError ??= err;
      }
    }
    if (failed.length < this.options.sinks.length) {
      this.seq = event.seq;
      this.prevHash = event.hash;
    }
    if (failed.length > 0) {
      throw new OrchestratorError(
        ErrorCode.AuditWriteFailed,
        `audit: could not write event ${event.seq} to ${failed.join(', ')}`,
        {
          cause: firstError,
          details: { seq: event.seq, failedSinks: failed.join(',') },
        },
      );
    }
    return event;
  }

  /**
   * The current chain head (seq 0 and the genesis hash before the first event); anchor it elsewhere to detect
   * truncation.
   */
  head(): ChainHead {
    return { seq: this.seq, hash: this.prevHash };
  }

  /** Closes every sink; later record() calls fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const sink of this.options.sinks) await sink.close?.();
  }
}

/**
 * Opens every sink and returns a log positioned at the head one of them holds (the JSONL file),
 * or at the genesis of `runId`. Two sinks holding different heads is InvalidConfig.
 */
export async function createAuditLog(options: AuditLogOptions): Promise<AuditLog> {
  const heads: Array<{ sink: string; head: ChainHead }> = [];
  for (const sink of options.sinks) {
    const head = await sink.open?.();
    if (head !== undefined) heads.push({ sink: sink.name, head });
  }
  const first = heads[0];
  if (heads.some((h) => h.head.hash !== first?.head.hash)) {
    throw new OrchestratorError(
      ErrorCode.InvalidConfig,
      `audit: sinks hold different chains (${heads.map((h) => h.sink).join(', ')}); use one persistent sink per log`,
      { details: { field: 'sinks' } },
    );
  }
  return new AuditLog(options, first?.head);
}

/** A sink that hands each line (with its newline) to `write`, e.g. a stdout or console writer. */
export function writerAuditSink(write: (line: string) => void, name = 'stdout'): AuditSink {
  return { name, write: (line) => write(line) };
}

/** An in-memory sink for tests: the lines and events written, in order. */
export interface MemoryAuditSink extends AuditSink {
  readonly lines: string[];
  readonly events: AuditEvent[];
}

/** Creates an in-memory sink. */
export function memoryAuditSink(name = 'memory'): MemoryAuditSink {
  const lines: string[] = [];
  const events: AuditEvent[] = [];
  return {
    name,
    lines,
    events,
    write(line, event) {
      lines.push(line.endsWith('\n') ? line.slice(0, -1) : line);
      events.push(event);
    },
  };
}
