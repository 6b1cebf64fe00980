/**
 * The append-only JSONL file sink: opened with O_APPEND (every write lands at the end, whatever
 * else holds the file), mode 0600, one canonical JSON event per line, fsync after each line by
 * default. On open it reads the file's last line, checks that line's own hash, and hands its
 * seq/hash to the log so the new run continues the file's chain. A last line that is torn (no
 * trailing newline), not JSON, or does not hash to itself refuses the open with AuditChainBroken:
 * the file is never silently "healed" (move it aside to start a new one).
 */
import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import path from 'node:path';
import { ErrorCode, OrchestratorError } from '../errors.js';
import { computeEventHash } from './event.js';
import type { AuditEvent } from './event.js';
import type { AuditSink, ChainHead } from './log.js';

/** Options of the file sink. */
export interface FileAuditSinkOptions {
  /** fsync after every line (default true: an audit line should survive a host crash). */
  fsync?: boolean;
}

/** How far back from the end we look for the last line; events are far smaller. */
const TAIL_LIMIT_BYTES = 1 << 20;

/** Creates the file sink for `file` (opened when the log opens it). */
export function fileAuditSink(file: string, options: FileAuditSinkOptions = {}): AuditSink {
  const doSync = options.fsync ?? true;
  let fd: number | undefined;
  return {
    name: `file ${file}`,
    async open(): Promise<ChainHead | undefined> {
      mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      fd = openSync(file, 'a+', 0o600); // O_APPEND | O_CREAT | O_RDWR: writes always append
      return readHead(fd, file);
    },
    write(line: string, _event: AuditEvent): void {
      if (fd === undefined) throw new OrchestratorError(ErrorCode.AuditWriteFailed, `audit file ${file} is not open`);
      const bytes = Buffer.from(line, 'utf8');
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      if (doSync) fsyncSync(fd);
    },
    close(): void {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

function readHead(fd: number, file: string): ChainHead | undefined {
  const size = fstatSync(fd).size;
  if (size === 0) return undefined;
  const start = Math.max(0, size - TAIL_LIMIT_BYTES);
  const buf = Buffer.alloc(size - start);
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, start + got);
    if (n === 0) break;
    got += n;
  }
  const tail = buf.subarray(0, got).toString('utf8');
  const broken = (why: string): OrchestratorError =>
    new OrchestratorError(
      ErrorCode.AuditChainBroken,
      `audit file ${file}: last line ${why}; move the file aside to start a new chain`,
      {
        details: { field: 'auditFile' },
      },
    );
  if (!tail.endsWith('\n')) throw broken('is incomplete (no trailing newline; torn write?)');
  const body = tail.slice(0, -1);
  const from = body.lastIndexOf('\n');
  if (from < 0 && start > 0) throw broken(`is longer than ${TAIL_LIMIT_BYTES} bytes`);
  const last = body.slice(from + 1);
  let event: AuditEvent;
  try {
    event = JSON.parse(last) as AuditEvent;
  } catch {
    throw broken('is not JSON');
  }
  if (
    typeof event !== 'object' ||
    event === null ||
    !Number.isSafeInteger(event.seq) ||
    typeof event.hash !== 'string'
  ) {
    throw broken('is not an audit event');
  }
  if (computeEventHash(event) !== event.hash) throw broken('does not match its own hash (altered?)');
  return { seq: event.seq, hash: event.hash };
}
