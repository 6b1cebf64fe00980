/**
 * The FC invoke API of the local host, driven by the real client SDKs through scripts/ops/invokers:
 * FC 3.0 (@alicloud/openapi-client, ACS3-HMAC-SHA256) and FC 2.0 (@alicloud/fc2, `FC ak:sig`).
 */
import { createHash } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import FC from '@alicloud/fc2';
import {
  ACCOUNT_ID,
  INVOKER,
  PLAIN_INVOKER,
  REGION,
  buildFixtures,
  fixtureFunction,
  startTestHost,
} from './helpers.js';
import type { FcHost } from '@byok/fc-local-host';
import { Fc2Invoker, Fc3Invoker, sanitizeFunctionMessage } from '../../../scripts/ops/invokers.js';
import type { Invoker, InvokerCredentials } from '../../../scripts/ops/invokers.js';
import { ErrorCode, OrchestratorError } from '../../../shared/errors.js';

/** Captures the rejection of a promise (fails the test if it resolves). */
async function rejectionOf(p: Promise<unknown>): Promise<OrchestratorError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(OrchestratorError);
    return err as OrchestratorError;
  }
  throw new Error('expected a rejection');
}

/** A raw FC 2.0 request signed with the SDK's own public signer, to look at the HTTP response itself. */
async function rawFc2Post(
  host: FcHost,
  path: string,
  body: string,
  extra: Record<string, string> = {},
  secret = INVOKER.accessKeySecret,
) {
  const headers: Record<string, string> = {
    date: new Date().toUTCString(),
    'content-type': 'application/octet-stream',
    'x-fc-account-id': ACCOUNT_ID,
    'x-fc-security-token': INVOKER.securityToken,
    ...extra,
  };
  headers['authorization'] = FC.getSignature(INVOKER.accessKeyId, secret, 'POST', path, headers, null);
  const res = await fetch(`${host.url}${path}`, { method: 'POST', headers, body });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

interface Captured {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Records the one request an SDK sends (answering 200 `null`), so a test can replay or alter it. */
async function captureRequest(send: (endpoint: string) => Promise<unknown>): Promise<Captured> {
  let captured: Captured | undefined;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      captured = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end('null');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await send(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.close();
  }
  if (captured === undefined) throw new Error('nothing captured');
  return captured;
}

/** Sends a captured request byte for byte (signed Host header included) to the host. */
function replay(
  host: FcHost,
  c: Captured,
  body: Buffer = c.body,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers = { ...c.headers, 'content-length': String(body.length) };
  delete headers['transfer-encoding'];
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: host.port, method: c.method, path: c.path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (x: Buffer) => chunks.push(x));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
        });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('FC invoke API + invokers', () => {
  let cleanup: () => void;
  let host: FcHost;
  let lines: string[];

  const fc3 = (credentials: InvokerCredentials = INVOKER) =>
    new Fc3Invoker({ accountId: ACCOUNT_ID, region: REGION, endpoint: host.url, credentials });
  const fc2 = (credentials: InvokerCredentials = INVOKER) =>
    new Fc2Invoker({ accountId: ACCOUNT_ID, region: REGION, endpoint: host.url, credentials, serviceName: 'byok' });
  const callsOf = (fn: string) => host.invocations().filter((i) => i.functionName === fn).length;

  beforeAll(async () => {
    const built = await buildFixtures();
    cleanup = built.cleanup;
    ({ host, lines } = await startTestHost({
      fc2ServiceNames: ['byok'],
      functions: [
        fixtureFunction(built.distDir, 'echo', { name: 'echo' }),
        fixtureFunction(built.distDir, 'echo', { name: 'legacy$echo' }),
        fixtureFunction(built.distDir, 'fail', { name: 'fail' }),
        fixtureFunction(built.distDir, 'slow', { name: 'slow', timeoutSeconds: 5 }),
      ],
    }));
  });

  afterAll(async () => {
    await host?.close();
    cleanup?.();
  });

  const invokers: Array<[string, () => Invoker]> = [
    ['Fc3Invoker (ACS3, STS)', () => fc3()],
    ['Fc3Invoker (ACS3, long-term AK)', () => fc3(PLAIN_INVOKER)],
    ['Fc2Invoker (FC, STS)', () => fc2()],
    ['Fc2Invoker (FC, long-term AK)', () => fc2(PLAIN_INVOKER)],
  ];

  describe.each(invokers)('%s', (_name, make) => {
    it('round-trips a JSON payload through the function', async () => {
      const payload = { command: 'status', lineage: 'alias/payments', n: 3, nested: { ok: true }, text: 'ünïcödé' };
      const out = (await make().invoke('echo', payload)) as { event: string; eventIsBuffer: boolean };
      expect(out.eventIsBuffer).toBe(true);
      expect(JSON.parse(out.event)).toEqual(payload);
    });

    it(
      'throws FunctionFailed with the sanitised errorMessage ' + 'and the request id when the function throws',
      async () => {
        const err = await rejectionOf(make().invoke('fail', { reason: 'no lease' }));
        expect(err.code).toBe(ErrorCode.FunctionFailed);
        expect(err.message).toBe('function fail failed: boom: no lease');
        expect(err.details).toMatchObject({
          functionName: 'fail',
          fcErrorType: 'UnhandledInvocationError',
          errorType: 'TypeError',
        });
        const rec = host.invocations().find((i) => i.requestId === err.details.requestId);
        expect(rec?.functionName).toBe('fail');
      },
    );

    it('throws InvalidConfig (FunctionNotFound, 404) for an unknown function', async () => {
      const err = await rejectionOf(make().invoke('nope', {}));
      expect(err.code).toBe(ErrorCode.InvalidConfig);
      expect(err.details).toMatchObject({ httpStatus: 404, fcCode: 'FunctionNotFound' });
    });
  });

  it('Fc3Invoker: a wrong secret is refused with 403 SignatureNotMatch and the function is not called', async () => {
    const before = callsOf('echo');
    const err = await rejectionOf(fc3({ ...INVOKER, accessKeySecret: 'wrong-secret-000000' }).invoke('echo', { x: 1 }));
    expect(err.code).toBe(ErrorCode.Unauthenticated);
    expect(err.details).toMatchObject({ httpStatus: 403, fcCode: 'SignatureNotMatch' });
    expect(err.details.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(callsOf('echo')).toBe(before);
  });

  it('Fc2Invoker: a wrong secret is refused with 403 SignatureNotMatch and the function is not called', async () => {
    const before = callsOf('echo');
    const err = await rejectionOf(fc2({ ...INVOKER, accessKeySecret: 'wrong-secret-000000' }).invoke('echo', { x: 1 }));
    expect(err.code).toBe(ErrorCode.Unauthenticated);
    expect(err.details).toMatchObject({ httpStatus: 403, fcCode: 'SignatureNotMatch' });
    expect(callsOf('echo')).toBe(before);
  });

  it('refuses an unknown access key with 403 InvalidAccessKeyID (both APIs)', async () => {
    const stranger = { accessKeyId: 'LTAI-stranger', accessKeySecret: 'whatever-secret-1' };
    expect((await rejectionOf(fc3(stranger).invoke('echo', {}))).details).toMatchObject({
      httpStatus: 403,
      fcCode: 'InvalidAccessKeyID',
    });
    expect((await rejectionOf(fc2(stranger).invoke('echo', {}))).details).toMatchObject({
      httpStatus: 403,
      fcCode: 'InvalidAccessKeyID',
    });
  });

  it('refuses an STS caller whose security token is wrong (both APIs)', async () => {
    const badToken = { ...INVOKER, securityToken: 'forged-token' };
    expect((await rejectionOf(fc3(badToken).invoke('echo', {}))).details).toMatchObject({
      httpStatus: 403,
      fcCode: 'InvalidSecurityToken',
    });
    expect((await rejectionOf(fc2(badToken).invoke('echo', {}))).details).toMatchObject({
      httpStatus: 403,
      fcCode: 'InvalidSecurityToken',
    });
  });

  it(
    'answers a throwing function with HTTP 200, x-fc-error-type ' + 'and {errorMessage, errorType, stackTrace: []}',
    async () => {
      const r = await rawFc2Post(host, '/2016-08-15/services/byok/functions/fail/invocations', '{"reason":"raw"}');
      expect(r.status).toBe(200);
      expect(r.headers.get('x-fc-error-type')).toBe('UnhandledInvocationError');
      expect(r.headers.get('x-fc-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(JSON.parse(r.text)).toEqual({ errorMessage: 'boom: raw', errorType: 'TypeError', stackTrace: [] });
    },
  );

  it('runs an Async invocation in the background and answers 202 at once', async () => {
    const before = callsOf('slow');
    const r = await rawFc2Post(host, '/2016-08-15/services/byok/functions/slow/invocations', '{"ms":1500}', {
      'x-fc-invocation-type': 'Async',
    });
    expect(r.status).toBe(202);
    expect(r.text).toBe('');
    const requestId = r.headers.get('x-fc-request-id');
    // Answered while the function still runs (it sleeps 1.5 s)...
    const record = host.invocations().find((i) => i.requestId === requestId);
    expect(record?.functionName).toBe('slow');
    expect(record?.outcome).toBeUndefined();
    // ...and it completes in the background.
    await expect
      .poll(() => host.invocations().find((i) => i.requestId === requestId)?.outcome, { timeout: 5000 })
      .toBe('ok');
    expect(callsOf('slow')).toBe(before + 1);
  });

  it('answers 403 without calling the function when the body was altered after signing', async () => {
    const before = callsOf('echo');
    const path = '/2016-08-15/services/byok/functions/echo/invocations';
    const headers: Record<string, string> = {
      date: new Date().toUTCString(),
      'content-type': 'application/octet-stream',
      'content-md5': Buffer.from(createHash('md5').update('{"a":1}').digest('hex')).toString('base64'),
      'x-fc-security-token': INVOKER.securityToken,
    };
    headers['authorization'] = FC.getSignature(
      INVOKER.accessKeyId,
      INVOKER.accessKeySecret,
      'POST',
      path,
      headers,
      null,
    );
    const res = await fetch(`${host.url}${path}`, { method: 'POST', headers, body: '{"a":2}' });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ ErrorCode: 'SignatureNotMatch' });
    expect(callsOf('echo')).toBe(before);
  });

  it('refuses a captured ACS3 request with a swapped body, then accepts it once and refuses its replay', async () => {
    const c = await captureRequest((endpoint) =>
      new Fc3Invoker({ accountId: ACCOUNT_ID, region: REGION, endpoint, credentials: INVOKER }).invoke('echo', {
        n: 1,
      }),
    );
    expect(c.headers['authorization']).toMatch(
      /^ACS3-HMAC-SHA256 Credential=STS\.invoker-ak,SignedHeaders=[a-z0-9;-]+,Signature=[0-9a-f]{64}$/,
    );
    const before = callsOf('echo');
    const swapped = await replay(host, c, Buffer.from('{"n":2}'));
    expect(swapped).toEqual({ status: 403, json: expect.objectContaining({ Code: 'SignatureNotMatch' }) });
    const original = await replay(host, c);
    expect(original.status).toBe(200);
    const again = await replay(host, c);
    expect(again).toEqual({ status: 403, json: expect.objectContaining({ Code: 'SignatureNonceUsed' }) });
    expect(callsOf('echo')).toBe(before + 1);
  });

  it('refuses a request dated more than 15 minutes away', async () => {
    const r = await rawFc2Post(host, '/2016-08-15/services/byok/functions/echo/invocations', '{}', {
      date: new Date(Date.now() - 16 * 60_000).toUTCString(),
    });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.text)).toMatchObject({ ErrorCode: 'RequestTimeTooSkewed' });
  });

  it('returns FC 2.0 style error bodies on the 2016-08-15 route and FC 3.0 style on the 2023-03-30 route', async () => {
    const r2 = await fetch(`${host.url}/2016-08-15/services/byok/functions/echo/invocations`, {
      method: 'POST',
      body: '{}',
    });
    expect(r2.status).toBe(403);
    expect(await r2.json()).toEqual({
      ErrorCode: 'SignatureNotMatch',
      ErrorMessage: expect.stringContaining('Authorization'),
    });
    const r3 = await fetch(`${host.url}/2023-03-30/functions/echo/invocations`, { method: 'POST', body: '{}' });
    expect(r3.status).toBe(403);
    expect(await r3.json()).toEqual({
      Code: 'SignatureNotMatch',
      Message: expect.stringContaining('Authorization'),
      RequestId: r3.headers.get('x-fc-request-id'),
    });
  });

  it(
    'maps FC 2.0 svc$fn names: Fc2Invoker sends service ' + '"legacy" and the host finds function legacy$echo',
    async () => {
      const out = (await fc2().invoke('legacy$echo', { hi: 1 })) as { function: { name: string } };
      expect(out.function.name).toBe('legacy$echo');
      const out3 = (await fc3().invoke('legacy$echo', { hi: 1 })) as { function: { name: string } };
      expect(out3.function.name).toBe('legacy$echo');
    },
  );

  it('answers 404 ServiceNotFound for a service name the host does not accept', async () => {
    const err = await rejectionOf(
      new Fc2Invoker({
        accountId: ACCOUNT_ID,
        region: REGION,
        endpoint: host.url,
        credentials: INVOKER,
        serviceName: 'other',
      }).invoke('echo', {}),
    );
    expect(err.details).toMatchObject({ httpStatus: 404, fcCode: 'ServiceNotFound' });
  });

  it('maps a refused connection to a retryable FunctionFailed (transport)', async () => {
    const dead = new Fc3Invoker({
      accountId: ACCOUNT_ID,
      region: REGION,
      endpoint: 'http://127.0.0.1:1',
      credentials: INVOKER,
    });
    const err = await rejectionOf(dead.invoke('echo', {}));
    expect(err.code).toBe(ErrorCode.FunctionFailed);
    expect(err.retryable).toBe(true);
    expect(err.details).toMatchObject({ failure: 'transport' });
    const dead2 = new Fc2Invoker({
      accountId: ACCOUNT_ID,
      region: REGION,
      endpoint: 'http://127.0.0.1:1',
      credentials: INVOKER,
      serviceName: 'byok',
    });
    expect((await rejectionOf(dead2.invoke('echo', {}))).details).toMatchObject({ failure: 'transport' });
  });

  it('sanitises function error messages: one line, bounded, blobs and the caller secret redacted', () => {
    // A random-looking run, as wrapped material or a token is (the shared secret guard's rule).
    const blob = 'q8ZrT0vK3mW9xY2bN5cD7fG1hJ4kL6pQ8sU0wA2eR4t=';
    expect(sanitizeFunctionMessage(`bad\nthing ${blob} with my-secret-value`, ['my-secret-value'])).toBe(
      'bad thing [redacted] with [redacted]',
    );
    expect(sanitizeFunctionMessage('x'.repeat(10) + ' y'.repeat(400)).length).toBeLessThanOrEqual(301);
  });

  it('never writes invoker secrets or tokens to the host log', () => {
    const all = lines.join('\n');
    for (const s of [INVOKER.accessKeySecret, INVOKER.securityToken, PLAIN_INVOKER.accessKeySecret])
      expect(all).not.toContain(s);
  });
});
