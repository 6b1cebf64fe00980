/**
 * The host's function runtime: bundles loaded per instance, FC context (§2.3), return mapping and
 * error types (§2.2), initializer once per instance (§2.4), timeouts, env isolation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ACCOUNT_ID,
  REGION,
  buildFixtures,
  fakeStsCredentials,
  fixtureFunction,
  json,
  startTestHost,
} from './helpers.js';
import type { FcHost } from '@byok/fc-local-host';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('local FC host runtime', () => {
  let cleanup: () => void;
  let host: FcHost;
  let lines: string[];
  const sts = fakeStsCredentials();

  beforeAll(async () => {
    const built = await buildFixtures();
    cleanup = built.cleanup;
    const d = built.distDir;
    process.env['HOST_ONLY_VAR'] = 'must-not-leak';
    ({ host, lines } = await startTestHost({
      credentials: sts.get,
      functions: [
        fixtureFunction(d, 'echo', {
          name: 'echo',
          env: { GREETING: 'hello' },
          logConfig: { project: 'proj', logstore: 'store' },
        }),
        fixtureFunction(d, 'echo', { name: 'echo-callback', handler: 'index.callbackHandler' }),
        fixtureFunction(d, 'echo', { name: 'echo-buffer', handler: 'index.bufferHandler' }),
        fixtureFunction(d, 'echo', { name: 'echo-number', handler: 'index.numberHandler' }),
        fixtureFunction(d, 'echo', { name: 'echo-missing', handler: 'index.nope' }),
        fixtureFunction(d, 'fail', { name: 'fail' }),
        fixtureFunction(d, 'fail', { name: 'fail-handled', handler: 'index.handled' }),
        fixtureFunction(d, 'fail', { name: 'fail-crash', handler: 'index.crashLater' }),
        fixtureFunction(d, 'slow', { name: 'slow', timeoutSeconds: 1 }),
        fixtureFunction(d, 'slow', { name: 'spin', handler: 'index.spin', timeoutSeconds: 1 }),
      ],
    }));
  });

  afterAll(async () => {
    await host?.close();
    cleanup?.();
    delete process.env['HOST_ONLY_VAR'];
  });

  it('passes the event as a Buffer and builds the FC context', async () => {
    const r = await host.invoke('echo', '{"x":1}');
    expect(r.kind).toBe('ok');
    if (r.kind !== 'ok') return;
    const out = json(r.body);
    expect(out['eventIsBuffer']).toBe(true);
    expect(out['event']).toBe('{"x":1}');
    expect(out['requestId']).toBe(r.requestId);
    expect(r.requestId).toMatch(UUID);
    expect(out['credentials']).toEqual(sts.get());
    expect(out['function']).toEqual({ name: 'echo', handler: 'index.handler', memory: 256, timeout: 5 });
    expect(out['service']).toEqual({ logProject: 'proj', logStore: 'store', qualifier: 'LATEST', versionId: '' });
    expect(out['region']).toBe(REGION);
    expect(out['accountId']).toBe(ACCOUNT_ID);
    expect(out['loggerMethods']).toEqual(['debug', 'info', 'warn', 'error', 'log']);
  });

  it('re-reads credentials for every invocation, so a rotation is visible', async () => {
    sts.rotate();
    const r = await host.invoke('echo', '');
    expect(r.kind === 'ok' && (json(r.body)['credentials'] as { accessKeyId: string }).accessKeyId).toBe(
      sts.get().accessKeyId,
    );
  });

  it("gives the function its own environmentVariables and FC_* vars, not the host's env", async () => {
    const r = await host.invoke('echo', '');
    expect(r.kind === 'ok' && json(r.body)['env']).toEqual({
      FC_FUNCTION_NAME: 'echo',
      FC_REGION: REGION,
      GREETING: 'hello',
    });
  });

  it('runs initialize once per instance, before the first handler call', async () => {
    await host.reload('echo');
    const first = await host.invoke('echo', '');
    const second = await host.invoke('echo', '');
    if (first.kind !== 'ok' || second.kind !== 'ok') throw new Error('echo failed');
    expect(json(first.body)).toMatchObject({ initializeCalls: 1, invocations: 1, initRequestId: first.requestId });
    expect(json(second.body)).toMatchObject({ initializeCalls: 1, invocations: 2, initRequestId: first.requestId });
  });

  it('reload() loads the bundle afresh (module state reset)', async () => {
    await host.invoke('echo', '');
    await host.reload('echo');
    const r = await host.invoke('echo', '');
    expect(r.kind === 'ok' && json(r.body)['invocations']).toBe(1);
  });

  it('serves concurrent invocations from separate instances (one request per instance)', async () => {
    await host.reload('echo');
    const results = await Promise.all([host.invoke('echo', ''), host.invoke('echo', ''), host.invoke('echo', '')]);
    const counts = results.map((r) => (r.kind === 'ok' ? json(r.body)['invocations'] : -1));
    expect(counts).toEqual([1, 1, 1]);
  });

  it('supports callback-style handlers', async () => {
    const r = await host.invoke('echo-callback', 'abc');
    expect(r.kind === 'ok' && r.body.toString('utf8')).toBe('callback:abc');
  });

  it('maps return values: Buffer unchanged, other values String()', async () => {
    const b = await host.invoke('echo-buffer', '');
    const n = await host.invoke('echo-number', '');
    expect(b.kind === 'ok' && [...b.body]).toEqual([0x00, 0xff, 0x10]);
    expect(n.kind === 'ok' && n.body.toString('utf8')).toBe('42');
  });

  it('reports a thrown error as UnhandledInvocationError with name and message only', async () => {
    const r = await host.invoke('fail', '{"reason":"bad input"}');
    expect(r).toMatchObject({
      kind: 'error',
      fcErrorType: 'UnhandledInvocationError',
      errorType: 'TypeError',
      errorMessage: 'boom: bad input',
    });
    expect(JSON.stringify(r)).not.toContain('    at ');
  });

  it('reports callback(err) as HandledInvocationError', async () => {
    const r = await host.invoke('fail-handled', '');
    expect(r).toMatchObject({
      kind: 'error',
      fcErrorType: 'HandledInvocationError',
      errorType: 'RangeError',
      errorMessage: 'handled failure',
    });
  });

  it('reports a missing export as an error naming the handler', async () => {
    const r = await host.invoke('echo-missing', '');
    expect(r).toMatchObject({
      kind: 'error',
      fcErrorType: 'UnhandledInvocationError',
      errorType: 'HandlerNotFoundError',
    });
    expect(r.kind === 'error' && r.errorMessage).toContain("'index.nope'");
  });

  it('survives an uncaught exception inside a function: the invocation fails, the next one cold-starts', async () => {
    const r = await host.invoke('fail-crash', '');
    expect(r).toMatchObject({
      kind: 'error',
      fcErrorType: 'UnhandledInvocationError',
      errorMessage: 'uncaught in a timer',
    });
    const again = await host.invoke('fail-crash', '');
    expect(again).toMatchObject({ kind: 'error', errorMessage: 'uncaught in a timer' });
  });

  // The two timeout tests (a second each on the real clock, different functions) run side by side.
  it.concurrent('enforces the function timeout, then serves the next call from a fresh instance', async ({
    expect,
  }) => {
    const t0 = Date.now();
    const r = await host.invoke('slow', '{"ms":5000}');
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(r).toMatchObject({
      kind: 'error',
      fcErrorType: 'UnhandledInvocationError',
      errorType: 'FunctionTimeoutError',
      errorMessage: 'Function timed out after 1 seconds',
    });
    const ok = await host.invoke('slow', '{"ms":10}');
    expect(ok.kind === 'ok' && ok.body.toString('utf8')).toBe('slept 10');
  });

  it.concurrent('stops a synchronous infinite loop at the timeout', async ({ expect }) => {
    const r = await host.invoke('spin', '');
    expect(r).toMatchObject({ kind: 'error', errorType: 'FunctionTimeoutError' });
  });

  it('records invocations and forwards function logs with the FC logger format', async () => {
    const r = await host.invoke('echo', 'four');
    await new Promise((resolve) => setTimeout(resolve, 50)); // worker stdout is asynchronous
    expect(
      host.invocations().some((i) => i.requestId === r.requestId && i.source === 'direct' && i.outcome === 'ok'),
    ).toBe(true);
    const logLine = lines.find((l) => l.includes(r.requestId) && l.includes('[info] echo 4 bytes'));
    expect(logLine).toMatch(
      /^\[echo\] \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} [0-9a-f-]{36} \[info\] echo 4 bytes$/,
    );
  });

  it('never writes credentials to the host log', async () => {
    // Its own invocations (a success and a failure), so it holds when run alone too.
    const ok = await host.invoke('echo', 'creds');
    const failed = await host.invoke('fail', '{"reason":"creds"}');
    if (ok.kind !== 'ok') throw new Error('echo failed');
    const creds = json(ok.body)['credentials'] as { accessKeySecret: string; securityToken: string };
    expect(creds).toEqual(sts.get()); // the host did hand the function credentials
    await new Promise((resolve) => setTimeout(resolve, 50)); // worker stdout is asynchronous
    const all = lines.join('\n');
    expect(all).toContain(ok.requestId); // both invocations reached the log
    expect(all).toContain(failed.requestId);
    for (const secret of [creds.accessKeySecret, creds.securityToken, 'fn-secret-', 'fn-token-']) {
      expect(all).not.toContain(secret);
    }
  });
});

describe('local FC host close()', () => {
  it('ends in-flight invocations with an error, stops the server and resolves promptly', async () => {
    const { distDir, cleanup } = await buildFixtures();
    try {
      const { host } = await startTestHost({
        functions: [fixtureFunction(distDir, 'slow', { name: 'slow', timeoutSeconds: 30 })],
      });
      const inFlight = host.invoke('slow', '{"ms":20000}');
      await new Promise((resolve) => setTimeout(resolve, 200));
      const t0 = Date.now();
      await host.close();
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(await inFlight).toMatchObject({ kind: 'error', errorType: 'HostClosedError' });
      await expect(fetch(`${host.url}/2023-03-30/functions/slow/invocations`, { method: 'POST' })).rejects.toThrow();
      expect(await host.invoke('slow', '{"ms":1}')).toMatchObject({ kind: 'error', errorType: 'HostClosedError' });
    } finally {
      cleanup();
    }
  });
});
