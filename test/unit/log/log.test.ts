import { describe, expect, it } from 'vitest';
import { ErrorCode, OrchestratorError } from '../../../shared/errors.js';
import { createLogger } from '../../../shared/log.js';

function capture(level?: 'debug' | 'info' | 'warn' | 'error') {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({
    write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>),
    nowMs: () => Date.UTC(2026, 11, 1),
    ...(level ? { level } : {}),
    context: { fn: 'byok-sweep' },
  });
  return { log, lines };
}

describe('structured logger', () => {
  it('writes one JSON object per line with stable keys and the context', () => {
    const { log, lines } = capture();
    log.info('sweep done', { ok: 3, runId: 'run-1' });
    expect(lines).toEqual([
      { time: '2026-12-01T00:00:00.000Z', level: 'info', msg: 'sweep done', fn: 'byok-sweep', ok: 3, runId: 'run-1' },
    ]);
  });

  it('drops lines below its level', () => {
    const { log, lines } = capture('warn');
    log.info('routine');
    log.warn('odd');
    expect(lines.map((l) => l['msg'])).toEqual(['odd']);
  });

  it('logs an uncoded error with its stack at error level', () => {
    const { log, lines } = capture();
    log.error('action failed', new TypeError('x is undefined'));
    expect(lines[0]).toMatchObject({
      level: 'error',
      errorCode: 'ERR_INTERNAL',
      errorName: 'TypeError',
      errorMessage: 'x is undefined',
    });
    expect(String(lines[0]!['stack'])).toContain('TypeError: x is undefined');
  });

  it('logs a coded error with its code', () => {
    const { log, lines } = capture();
    log.error('lease', new OrchestratorError(ErrorCode.LeaseHeld, 'lineage payments is being changed by another run'));
    expect(lines[0]).toMatchObject({
      errorCode: 'ERR_LEASE_HELD',
      errorMessage: 'lineage payments is being changed by another run',
    });
  });

  it('leaves the stack of a coded error out (its code says what happened), except at debug level', () => {
    const err = new OrchestratorError(ErrorCode.KmsUnavailable, 'KMS ListKeys failed: ServiceUnavailable');
    const info = capture();
    info.log.error('observe', err);
    expect(info.lines[0]).not.toHaveProperty('stack');
    const debug = capture('debug');
    debug.log.error('observe', err);
    expect(String(debug.lines[0]!['stack'])).toContain('KMS ListKeys failed');
  });

  it('redacts secret-looking runs in messages and fields', () => {
    const { log, lines } = capture();
    const secret = 'q8ZrT0vK3mW9xY2bN5cD7fG1hJ4kL6pQ8sU0wA2eR4t=';
    log.warn(`token ${secret} seen`, { detail: secret });
    expect(JSON.stringify(lines)).not.toContain(secret);
    expect(lines[0]).toMatchObject({ msg: 'token [redacted] seen', detail: '[redacted]' });
  });

  it('child loggers add fields to every line', () => {
    const { log, lines } = capture();
    log.child({ runId: 'run-9' }).info('x');
    expect(lines[0]).toMatchObject({ fn: 'byok-sweep', runId: 'run-9' });
  });
});
