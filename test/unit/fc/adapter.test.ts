/**
 * The function adapters' error edge (shared/fc/adapter.ts): which errors a caller may read, and at
 * which level a failure is logged. Responses carry a code and a secret-free message, never a stack.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, OrchestratorError } from '../../../shared/errors.js';
import { errorResponse, logFailure, publicErrorResponse } from '../../../shared/fc/adapter.js';
import { createLogger } from '../../../shared/log.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>), nowMs: () => 0 });
  return { log, lines };
}

describe('error responses', () => {
  it('say what a refusal was, and only which kind of failure a failure was', () => {
    const failed = new OrchestratorError(ErrorCode.KmsUnavailable, 'KMS ListKeys failed: ServiceUnavailable');
    const bug = new TypeError('x is undefined');
    const invalid = new OrchestratorError(ErrorCode.InvalidInput, 'key: must be a KMS key id or key ARN');
    expect(publicErrorResponse(invalid)).toEqual(errorResponse(invalid));
    const bodies = [failed, bug].map((e) => [
      publicErrorResponse(e).statusCode,
      JSON.parse(publicErrorResponse(e).body),
    ]);
    expect(bodies).toEqual([
      [503, { error: { code: 'ERR_KMS_UNAVAILABLE', message: 'temporarily unable to process; retry later' } }],
      [500, { error: { code: 'ERR_INTERNAL', message: 'temporarily unable to process; retry later' } }],
    ]);
    expect(errorResponse(bug).body).not.toContain('x is undefined');
  });

  it('answer every authentication failure with the same 401 body (issue 8: the reason was in it)', () => {
    const reasons = ['webhook: signature does not match', 'webhook: token does not match', 'webhook: no header'];
    const bodies = reasons.map((m) => publicErrorResponse(new OrchestratorError(ErrorCode.Unauthenticated, m)));
    expect(new Set(bodies.map((b) => `${b.statusCode} ${b.body}`))).toEqual(
      new Set(['401 {"error":{"code":"ERR_UNAUTHENTICATED","message":"webhook: not authenticated"}}']),
    );
  });

  it('answer a failed repair with 500 naming the key and code', () => {
    const err = new OrchestratorError(ErrorCode.RepairFailed, 'webhook: repair failed: reimport key-1: ERR_KMS_X');
    const res = publicErrorResponse(err);
    expect([res.statusCode, JSON.parse(res.body).error.message]).toEqual([500, err.message]);
  });
});

describe('failure logging', () => {
  it('logs a refusal at warn with its code, a failure at error, an uncoded one with its stack', () => {
    const { log, lines } = capture();
    logFailure(log, 'refused', new OrchestratorError(ErrorCode.InvalidInput, 'command: must be one of ...'), {
      runId: 'r',
    });
    logFailure(log, 'failed', new OrchestratorError(ErrorCode.KmsUnavailable, 'KMS down'));
    logFailure(log, 'bug', new TypeError('x is undefined'));
    expect(lines.map((l) => [l['level'], l['msg'], l['errorCode'], 'stack' in l])).toEqual([
      ['warn', 'refused', 'ERR_INVALID_INPUT', false],
      ['error', 'failed', 'ERR_KMS_UNAVAILABLE', false],
      ['error', 'bug', 'ERR_INTERNAL', true],
    ]);
    expect(lines[0]).toMatchObject({ runId: 'r' });
  });
});
