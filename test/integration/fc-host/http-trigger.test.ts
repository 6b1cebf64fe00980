/**
 * The HTTP trigger of the local host: FC 3.0 event shape in (§2.5), response mapping out, method
 * restriction, error handling that leaks nothing to the caller.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT_ID, buildFixtures, fixtureFunction, startTestHost } from './helpers.js';
import type { FcHost, HttpTriggerEvent } from '@byok/fc-local-host';

describe('HTTP trigger', () => {
  let cleanup: () => void;
  let host: FcHost;
  let lines: string[];

  beforeAll(async () => {
    const built = await buildFixtures();
    cleanup = built.cleanup;
    ({ host, lines } = await startTestHost({
      functions: [
        fixtureFunction(built.distDir, 'http', { name: 'webhook', http: { triggerName: 'alerts', methods: ['POST'] } }),
        fixtureFunction(built.distDir, 'echo', { name: 'no-trigger' }),
      ],
    }));
  });

  afterAll(async () => {
    await host?.close();
    cleanup?.();
  });

  const post = (path: string, init: RequestInit = {}) =>
    fetch(`${host.httpTriggerUrl('webhook')}${path}`, { method: 'POST', ...init });

  it('delivers the FC 3.0 HTTP event and maps {statusCode, headers, body} back', async () => {
    const t0 = Date.now();
    const res = await post('/cms/alert%20one?token=abc&tag=a&tag=b', {
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'user-agent': 'CloudMonitor/1.0',
        'X-Custom': 'v1',
      },
      body: 'alertName=cpu&alertState=ALERT',
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('x-echo-path')).toBe('/cms/alert one');
    const requestId = res.headers.get('x-fc-request-id');
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/); // the function's spoofed x-fc-request-id was dropped
    const { seen } = (await res.json()) as { seen: HttpTriggerEvent };
    expect(seen).toMatchObject({
      version: 'v1',
      rawPath: '/cms/alert%20one',
      body: 'alertName=cpu&alertState=ALERT',
      isBase64Encoded: false,
      queryParameters: { token: 'abc', tag: 'a,b' },
      requestContext: {
        accountId: ACCOUNT_ID,
        domainName: `127.0.0.1:${host.port}`,
        domainPrefix: 'alerts',
        http: {
          method: 'POST',
          path: '/cms/alert one',
          protocol: 'HTTP/1.1',
          sourceIp: '127.0.0.1',
          userAgent: 'CloudMonitor/1.0',
        },
        requestId,
      },
    });
    expect(seen.headers).toMatchObject({
      'Content-Type': 'application/x-www-form-urlencoded',
      'User-Agent': 'CloudMonitor/1.0',
      'X-Custom': 'v1',
    });
    expect(seen.headers['Connection']).toBeUndefined();
    expect(seen.requestContext.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(typeof seen.requestContext.timeEpoch).toBe('string');
    expect(Math.abs(Number(seen.requestContext.timeEpoch) - t0)).toBeLessThan(5000);
  });

  it('base64-encodes a binary request body and flags it', async () => {
    const res = await post('/bin', {
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array([0, 159, 146, 150]),
    });
    const { seen } = (await res.json()) as { seen: HttpTriggerEvent };
    expect(seen.isBase64Encoded).toBe(true);
    expect(seen.body).toBe(Buffer.from([0, 159, 146, 150]).toString('base64'));
  });

  it('decodes an isBase64Encoded response body', async () => {
    const res = await post('/binary');
    expect(res.status).toBe(200);
    expect([...new Uint8Array(await res.arrayBuffer())]).toEqual([1, 2, 3, 250]);
  });

  it('answers a plain return value as a 200 with that body', async () => {
    const res = await post('/plain');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('just text');
  });

  it('answers 405 with an Allow header for a method the trigger does not allow', async () => {
    const before = host.invocations().length;
    const res = await fetch(`${host.httpTriggerUrl('webhook')}/x`, { method: 'GET' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(await res.json()).toMatchObject({ ErrorCode: 'MethodNotAllowed' });
    expect(host.invocations().length).toBe(before);
  });

  it('answers 502 with a JSON body free of stack and message when the handler crashes', async () => {
    const res = await post('/crash');
    expect(res.status).toBe(502);
    expect(res.headers.get('x-fc-error-type')).toBe('UnhandledInvocationError');
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({
      ErrorCode: 'FunctionUnhandledError',
      ErrorMessage: "function 'webhook' failed",
      RequestId: res.headers.get('x-fc-request-id'),
    });
    expect(text).not.toContain('secret-ish');
    expect(text).not.toContain(' at ');
    expect(
      lines.some(
        (l) => l.includes(res.headers.get('x-fc-request-id') ?? '?') && l.includes('secret-ish internal detail'),
      ),
    ).toBe(true);
  });

  it('answers 502 BadResponse when statusCode is not an HTTP status', async () => {
    const res = await post('/bad');
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ ErrorCode: 'BadResponse' });
  });

  it('answers 202 at once for X-Fc-Invocation-Type: Async', async () => {
    const res = await post('/async', { headers: { 'x-fc-invocation-type': 'Async' }, body: '{}' });
    expect(res.status).toBe(202);
    const requestId = res.headers.get('x-fc-request-id');
    await expect
      .poll(() => host.invocations().find((i) => i.requestId === requestId)?.outcome, { timeout: 3000 })
      .toBe('ok');
  });

  it('answers 404 for a function without an HTTP trigger', async () => {
    const res = await fetch(`${host.httpTriggerUrl('no-trigger')}/`, { method: 'POST' });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ ErrorCode: 'TriggerNotFound' });
  });
});
