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
    const refused = new OrchestratorError(ErrorCode.Unauthenticated, 'webhook: signature does not match');
    const failed = new OrchestratorError(ErrorCode.KmsUnavailable, 'KMS ListKeys failed: ServiceUnavailable');
    const bug = new TypeError('x is undefined');
    expect(publicErrorResponse(refused)).toEqual(errorResponse(refused));
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
