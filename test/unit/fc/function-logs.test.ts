/**
 * The functions' log lines (shared/log.ts through shared/fc/runtime.ts): one JSON object per line
 * on stdout with stable keys (`fn`, `requestId`, `runId`); a refusal at `warn` with its code, an
 * uncoded failure at `error` with its stack, and never any of it in a response or function error.
 * The handlers are the real ones (functions/*), driven with FC-shaped events and contexts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { FcContext } from '../../../shared/fc/types.js';

let dir: string;
let lines: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'byok-fnlogs-'));
  vi.stubEnv('BYOK_REGION', 'cn-hangzhou');
  vi.stubEnv('BYOK_KMS_ENDPOINT', '127.0.0.1:1');
  vi.stubEnv('BYOK_KMS_PROTOCOL', 'http');
  vi.stubEnv('BYOK_ESCROW_BACKEND', 'file');
  vi.stubEnv('BYOK_ESCROW_DIR', join(dir, 'escrow'));
  vi.stubEnv('BYOK_ESCROW_MASTER_KEY_FILE', join(dir, 'master.key'));
  vi.stubEnv('BYOK_LEASE_KEY_ID', 'key-lease');
  vi.stubEnv('BYOK_WEBHOOK_SECRET', 'whsec-test-5f1c9a7e2b4d8c0e');
  vi.stubEnv('BYOK_LOCAL_TIME_URL', '');
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  });
});
afterEach(() => {
  lines = [];
});
afterAll(async () => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  await rm(dir, { recursive: true, force: true });
});

const parsed = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => 'level' in l);
/** Log lines other than the configuration warnings (logged once per instance, on its first invocation). */
const logged = () => parsed().filter((l) => !String(l['msg']).startsWith('configuration: '));

/** A context whose credentials cannot be read: an uncoded error (a bug) inside the function. */
function brokenContext(name: string): FcContext {
  return {
    requestId: '1-65e571bc-158a59e8-b63f98cd471c',
    function: { name, timeout: 60 },
    get credentials(): FcContext['credentials'] {
      throw new TypeError('boom: credentials is not readable');
    },
  };
}

const context = (name: string): FcContext => ({
  requestId: '1-65e571bc-00000000-000000000001',
  function: { name, timeout: 60 },
  credentials: { accessKeyId: 'STS.x', accessKeySecret: 'test-secret-value-0123456789', securityToken: 'tok' },
});

describe('webhook function', () => {
  const post = (body: string) =>
    Buffer.from(
      JSON.stringify({
        rawPath: '/',
        headers: {},
        queryParameters: {},
        body,
        requestContext: { http: { method: 'POST' } },
      }),
    );

  it('logs a failure to load its secrets with its stack; the unauthenticated caller gets the one 401', async () => {
    const { handler } = await import('../../../functions/webhook/index.js');
    const res = await handler(post('{"action":"check"}'), brokenContext('byok-webhook'));
    expect([res.statusCode, JSON.parse(res.body)]).toEqual([
      401,
      { error: { code: 'ERR_UNAUTHENTICATED', message: 'webhook: not authenticated' } },
    ]);
    expect(res.body).not.toContain('boom');
    const [line] = logged();
    expect(line).toMatchObject({
      level: 'error',
      msg: 'webhook secrets could not be read (requests are refused until they are)',
      fn: 'byok-webhook',
      requestId: '1-65e571bc-158a59e8-b63f98cd471c',
      runId: 'webhook-1-65e571bc-158a59e8-b63f98cd471c',
      errorCode: 'ERR_INTERNAL',
      errorName: 'TypeError',
    });
    expect(String(line!['stack'])).toContain('TypeError: boom: credentials is not readable\n    at ');
    // The instance's first invocation also logged what the configuration means, with the same keys.
    const warning = parsed().find((l) => String(l['msg']).startsWith('configuration: BYOK_KMS_INSTANCE_ID is unset'));
    expect(warning).toMatchObject({ level: 'warn', fn: 'byok-webhook', requestId: '1-65e571bc-158a59e8-b63f98cd471c' });
  });

  it('logs a refusal at warn with its code and no stack', async () => {
    const { handler } = await import('../../../functions/webhook/index.js');
    const res = await handler(post('{"action":"check"}'), context('byok-webhook'));
    expect(res.statusCode).toBe(401);
    const [line] = logged();
    expect(line).toMatchObject({
      level: 'warn',
      msg: 'webhook refused',
      fn: 'byok-webhook',
      status: 401,
      errorCode: 'ERR_UNAUTHENTICATED',
    });
    expect(line).not.toHaveProperty('stack');
  });
});

describe('ops function', () => {
  it('logs an uncoded failure with its stack; the caller sees only "internal error"', async () => {
    const { handler } = await import('../../../functions/ops/index.js');
    const err = await handler(Buffer.from('{"command":"status"}'), brokenContext('byok-ops')).then(
      () => new Error('resolved'),
      (e: unknown) => e as Error,
    );
    expect([err.name, err.message]).toEqual(['ERR_INTERNAL', 'ERR_INTERNAL: internal error']);
    const [line] = logged();
    expect(line).toMatchObject({
      level: 'error',
      msg: 'ops command failed',
      fn: 'byok-ops',
      command: 'status',
      operator: 'unnamed-reader',
      runId: 'ops-1-65e571bc-158a59e8-b63f98cd471c',
    });
    expect(String(line!['stack'])).toContain('TypeError: boom');
  });

  it('logs a refused command at warn with its code', async () => {
    const { handler } = await import('../../../functions/ops/index.js');
    const err = await handler(Buffer.from('{"command":"revoke","keyId":"k-1"}'), context('byok-ops')).then(
      () => new Error('resolved'),
      (e: unknown) => e as Error,
    );
    expect(err.name).toBe('ERR_INVALID_INPUT');
    expect(logged()).toEqual([
      expect.objectContaining({
        level: 'warn',
        msg: 'ops command failed',
        fn: 'byok-ops',
        command: 'revoke',
        errorCode: 'ERR_INVALID_INPUT',
      }),
    ]);
  });
});

describe('sweep function', () => {
  it('logs an event that is not a timer event at warn, and rethrows it for FC', async () => {
    const { handler } = await import('../../../functions/sweep/index.js');
    await expect(handler(Buffer.from('{}'), context('byok-sweep'))).rejects.toMatchObject({
      code: 'ERR_INVALID_INPUT',
    });
    expect(logged()).toEqual([
      expect.objectContaining({
        level: 'warn',
        msg: 'sweep failed',
        fn: 'byok-sweep',
        requestId: '1-65e571bc-00000000-000000000001',
      }),
    ]);
  });
});
