/**
 * The local Function Compute 3.0 host: runs esbuild bundles as FC functions (docs/fc-runtime.md §2),
 * fires their timer triggers (§3), serves their HTTP triggers (§2.5, §4) and the FC invoke API for
 * both client SDKs with verified signatures (§6). Listens on 127.0.0.1 only.
 *
 * URL shapes (all on http://127.0.0.1:<port>):
 *   POST /2023-03-30/functions/<fn>/invocations[?qualifier=LATEST]      FC 3.0 InvokeFunction, ACS3-HMAC-SHA256
 *   POST /2016-08-15/services/<svc>[.LATEST]/functions/<fn>/invocations  FC 2.0 (@alicloud/fc2), `FC ak:sig`
 *        -> the function named `<svc>$<fn>` if one exists (the FC 3.0 name of a 2.0 function, §1.1),
 *           else `<fn>` when <svc> is accepted (any name, or one of `fc2ServiceNames`, e.g. the
 *           s.yaml project name)
 *   <M>  /http/<fn>[/<path>]   the function's HTTP trigger (anonymous); the event's rawPath is /<path>
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { FcHostError, FcHostErrorCode } from './errors.js';
import { FunctionInstances } from './instances.js';
import type { ContextData, RawOutcome } from './instances.js';
import { createHostClock, formatTriggerTime, parseSchedule, runSchedule } from './schedule.js';
import type { HostClock, Schedule } from './schedule.js';
import { NonceCache, verifyAcs3Signature, verifyFcSignature } from './signatures.js';
import type { AuthResult, SignedRequest } from './signatures.js';
import { buildHttpEvent, mapHttpResult } from './http-trigger.js';
import { FcErrorType } from './types.js';
import type {
  FcHost,
  FcHostOptions,
  FunctionSpec,
  InvocationRecord,
  InvocationResult,
  InvocationSource,
} from './types.js';

/** Sync invocation payload limit (§2.1: 32 MB). */
const MAX_SYNC_PAYLOAD = 32 * 1024 * 1024;
/** Async invocation payload limit (§2.1: 128 KB). */
const MAX_ASYNC_PAYLOAD = 128 * 1024;
/** Invocation records kept in memory. */
const MAX_RECORDS = 1000;

const FC2_ROUTE = /^\/2016-08-15\/services\/([^/]+)\/functions\/([^/]+)\/invocations$/;
const FC3_ROUTE = /^\/2023-03-30\/functions\/([^/]+)\/invocations$/;
const HTTP_ROUTE = /^\/http\/([^/]+)(\/.*)?$/;

/**
 * Error body styles: FC 2.0 API `{ErrorCode,ErrorMessage}`, FC 3.0 API `{Code,Message,RequestId}` (Error struct
 * 2023-03-30).
 */
type ErrorStyle = 'fc2' | 'fc3';

interface ScheduledTimer {
  functionName: string;
  triggerName: string;
  payload: string;
  schedule: Schedule;
  enabled: boolean;
}

function validate(options: FcHostOptions): void {
  const bad = (field: string, rule: string) =>
    new FcHostError(FcHostErrorCode.InvalidConfig, `fc-host ${field}: ${rule}`, { field });
  const names = new Set<string>();
  for (const f of options.functions) {
    if (!/^[A-Za-z_$][A-Za-z0-9_$-]{0,127}$/.test(f.name))
      throw bad('functions.name', `'${f.name}' is not a valid function name`);
    if (names.has(f.name)) throw bad('functions.name', `'${f.name}' is declared twice`);
    names.add(f.name);
    if (!(f.timeoutSeconds >= 1 && f.timeoutSeconds <= 86400))
      throw bad('functions.timeoutSeconds', `${f.name}: must be 1..86400`);
    if (!(f.memoryMB >= 128)) throw bad('functions.memoryMB', `${f.name}: must be >= 128`);
    if (f.http && f.http.methods.length === 0) throw bad('functions.http.methods', `${f.name}: at least one method`);
  }
  if (options.invokeCredentials.some((c) => c.accessKeyId === '' || c.accessKeySecret === '')) {
    throw bad('invokeCredentials', 'accessKeyId and accessKeySecret must be non-empty');
  }
}

/** Starts the host; resolves once it listens. */
export async function startFcHost(options: FcHostOptions): Promise<FcHost> {
  validate(options);
  // Relative bundle dirs are taken from the current directory, once (the workers must not guess).
  const functions = options.functions.map((f) => ({ ...f, bundleDir: resolvePath(f.bundleDir) }));
  const log = options.log ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const functionOutput = options.functionOutput ?? ((fn: string, line: string) => log(`[${fn}] ${line}`));
  const clock: HostClock = createHostClock(options.timeScale ?? 1, Date.now(), options.startAtMs);
  const nonces = new NonceCache();
  const specs = new Map<string, FunctionSpec>(functions.map((f) => [f.name, f]));
  const pools = new Map<string, FunctionInstances>();
  for (const spec of functions) {
    pools.set(
      spec.name,
      new FunctionInstances(spec, {
        accountId: options.accountId,
        region: options.region,
        credentials: options.credentials,
        output: (line) => functionOutput(spec.name, line),
        // The URL is known once the server listens, before any instance starts (they start on first use).
        hostEnv: () => (options.endpointEnv && hostUrl ? { [options.endpointEnv]: hostUrl } : {}),
      }),
    );
  }
  const startMs = clock.nowMs();
  const timers: ScheduledTimer[] = functions.flatMap((f) =>
    (f.timers ?? []).map((t) => ({
      functionName: f.name,
      triggerName: t.triggerName,
      payload: t.payload ?? '',
      schedule: parseSchedule(t.cronExpression, startMs),
      enabled: t.enable !== false,
    })),
  );
  let hostUrl: string | undefined;
  const records: InvocationRecord[] = [];
  const background = new Set<Promise<unknown>>();
  let closed = false;

  const contextFor = (spec: FunctionSpec, requestId: string): ContextData => ({
    requestId,
    credentials: { ...options.credentials() },
    function: { name: spec.name, handler: spec.handler, memory: spec.memoryMB, timeout: spec.timeoutSeconds },
    service: {
      logProject: spec.logConfig?.project ?? '',
      logStore: spec.logConfig?.logstore ?? '',
      qualifier: 'LATEST',
      versionId: '',
    },
    region: options.region,
    accountId: options.accountId,
    tracing: { spanContext: '', jaegerEndpoint: '', spanBaggages: {} },
  });

  async function run(
    spec: FunctionSpec,
    event: Buffer,
    source: InvocationSource,
    requestId: string,
    timer?: InvocationRecord['timer'],
  ): Promise<InvocationResult> {
    const pool = pools.get(spec.name);
    if (pool === undefined) throw new FcHostError(FcHostErrorCode.Internal, `no instance pool for ${spec.name}`);
    const record: InvocationRecord = {
      requestId,
      functionName: spec.name,
      source,
      startedAtMs: clock.nowMs(),
      ...(timer ? { timer } : {}),
    };
    records.push(record);
    if (records.length > MAX_RECORDS) records.shift();
    const t0 = Date.now();
    const outcome: RawOutcome = closed
      ? {
          kind: 'error',
          fcErrorType: FcErrorType.Unhandled,
          errorType: 'HostClosedError',
          errorMessage: 'the local FC host is shutting down',
        }
      : await pool.run(event, contextFor(spec, requestId));
    record.durationMs = Date.now() - t0;
    record.outcome = outcome.kind === 'ok' ? 'ok' : outcome.fcErrorType;
    const what =
      outcome.kind === 'ok'
        ? 'ok'
        : `${outcome.fcErrorType} ${outcome.errorType}: ${outcome.errorMessage.slice(0, 200).replace(/\s+/g, ' ')}`;
    log(`fc-host ${source} ${spec.name} ${requestId} ${what} (${record.durationMs} ms)`);
    return { ...outcome, requestId, functionName: spec.name };
  }

  /** Runs in the background (async invocations, timers); close() waits for these. */
  function runDetached(
    spec: FunctionSpec,
    event: Buffer,
    source: InvocationSource,
    requestId: string,
    timer?: InvocationRecord['timer'],
  ): void {
    const p = run(spec, event, source, requestId, timer).catch((err: unknown) =>
      log(`fc-host ${source} ${spec.name} ${requestId} failed: ${(err as Error).message}`),
    );
    background.add(p);
    void p.finally(() => background.delete(p));
  }

  /** The §3.1 event of timer `t` for the scheduled time `atMs`, and its record tag. */
  const timerCall = (t: ScheduledTimer, atMs: number) => {
    const triggerTime = formatTriggerTime(atMs);
    return {
      spec: specs.get(t.functionName) as FunctionSpec,
      event: Buffer.from(JSON.stringify({ triggerTime, triggerName: t.triggerName, payload: t.payload }), 'utf8'),
      tag: { triggerName: t.triggerName, triggerTime },
    };
  };

  const running = options.fireTimers === false ? [] : timers.filter((t) => t.enabled);
  const stoppers = running.map((t) =>
    runSchedule(t.schedule, clock, (atMs) => {
      const c = timerCall(t, atMs);
      runDetached(c.spec, c.event, 'timer', randomUUID(), c.tag);
    }),
  );

  const server: Server = createServer((req, res) => {
    const requestId = randomUUID();
    res.setHeader('x-fc-request-id', requestId);
    handle(req, res, requestId).catch((err: unknown) => {
      log(
        `fc-host ${req.method ?? '?'} ${(req.url ?? '').split('?')[0]} ${requestId} ` +
          `internal error: ${(err as Error).message}`,
      );
      if (!res.headersSent)
        sendJson(res, 500, {
          ErrorCode: 'InternalServerError',
          ErrorMessage: 'internal error of the local FC host',
          RequestId: requestId,
        });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const method = req.method ?? 'GET';
    const [rawPath = '/', rawQuery = ''] = (req.url ?? '/').split(/\?(.*)/s);
    const m = HTTP_ROUTE.exec(rawPath);
    if (m) return handleHttpTrigger(req, res, requestId, decodeSegment(m[1] ?? ''), m[2] ?? '/', rawQuery);
    const fc2 = FC2_ROUTE.exec(rawPath);
    const fc3 = FC3_ROUTE.exec(rawPath);
    if ((!fc2 && !fc3) || method !== 'POST') {
      const style: ErrorStyle = rawPath.startsWith('/2016-08-15/') ? 'fc2' : 'fc3';
      return sendError(
        res,
        style,
        400,
        'PathNotSupported',
        `'${method}' against '${rawPath}' is not supported`,
        requestId,
      );
    }
    const style: ErrorStyle = fc2 ? 'fc2' : 'fc3';
    const body = await readBody(req, MAX_SYNC_PAYLOAD);
    if (body === null)
      return sendError(
        res,
        style,
        400,
        'EntityTooLarge',
        `payload size exceeds maximum allowed size (${MAX_SYNC_PAYLOAD} bytes)`,
        requestId,
      );
    const signed: SignedRequest = { method, rawPath, rawQuery, headers: req.headers, body };
    // The functions' own (STS) credentials too, when allowed: a function role with fc:InvokeFunction.
    const callers = options.acceptFunctionCredentials
      ? [...options.invokeCredentials, options.credentials()]
      : options.invokeCredentials;
    const auth: AuthResult = fc2
      ? verifyFcSignature(signed, callers, Date.now())
      : verifyAcs3Signature(signed, callers, Date.now(), nonces);
    if (!auth.ok) {
      log(`fc-host ${style} invoke ${requestId} refused: ${auth.code}`);
      return sendError(res, style, 403, auth.code, auth.message, requestId);
    }
    if (fc2) {
      const accountHeader = req.headers['x-fc-account-id'];
      if (accountHeader !== undefined && accountHeader !== options.accountId) {
        return sendError(
          res,
          style,
          403,
          'AccessDenied',
          `account '${String(accountHeader)}' is not this host's account`,
          requestId,
        );
      }
    }
    let functionName: string;
    let qualifier: string | undefined;
    if (fc2) {
      const [svc = '', q] = decodeSegment(fc2[1] ?? '').split(/\.(.*)/s);
      qualifier = q;
      const fn = decodeSegment(fc2[2] ?? '');
      if (specs.has(`${svc}$${fn}`)) functionName = `${svc}$${fn}`;
      else if (options.fc2ServiceNames === undefined || options.fc2ServiceNames.includes(svc)) functionName = fn;
      else return sendError(res, style, 404, 'ServiceNotFound', `service '${svc}' does not exist`, requestId);
    } else {
      functionName = decodeSegment(fc3?.[1] ?? '');
      qualifier = new URLSearchParams(rawQuery).get('qualifier') ?? undefined;
    }
    const spec = specs.get(functionName);
    if (spec === undefined)
      return sendError(res, style, 404, 'FunctionNotFound', `function '${functionName}' does not exist`, requestId);
    if (qualifier !== undefined && qualifier !== '' && qualifier !== 'LATEST') {
      // Versions and aliases are not emulated: only LATEST exists locally.
      return sendError(
        res,
        style,
        404,
        'AliasNotFound',
        `alias '${qualifier}' of function '${functionName}' does not exist`,
        requestId,
      );
    }
    // An HTTP-trigger function invoked through the API still receives the HTTP envelope (§2.5, §5.4).
    const event = spec.http
      ? Buffer.from(
          JSON.stringify(
            buildHttpEvent({
              method,
              rawPath,
              rawQuery,
              rawHeaders: req.rawHeaders,
              body,
              httpVersion: req.httpVersion,
              sourceIp: sourceIpOf(req),
              domainName: `${options.accountId}.${options.region}.fc.aliyuncs.com`,
              domainPrefix: options.accountId,
              accountId: options.accountId,
              requestId: '', // as in the captured API-invoked event (§2.5)
              nowMs: clock.nowMs(),
            }),
          ),
          'utf8',
        )
      : body;
    const source: InvocationSource = fc2 ? 'invoke-fc2' : 'invoke-fc3';
    if (isAsync(req)) {
      if (body.length > MAX_ASYNC_PAYLOAD) {
        return sendError(
          res,
          style,
          400,
          'EntityTooLarge',
          `payload size exceeds maximum allowed size (${MAX_ASYNC_PAYLOAD} bytes)`,
          requestId,
        );
      }
      const taskId = req.headers['x-fc-async-task-id'];
      if (typeof taskId === 'string') res.setHeader('x-fc-async-task-id', taskId);
      runDetached(spec, event, source, requestId);
      res.writeHead(202).end();
      return;
    }
    const result = await run(spec, event, source, requestId);
    if (result.kind === 'ok') {
      res
        .writeHead(200, { 'content-type': 'application/octet-stream', 'x-fc-invocation-service-version': 'LATEST' })
        .end(result.body);
      return;
    }
    // Function errors are an HTTP 200 with x-fc-error-type (§2.2, §6.3). No stack: it can carry secrets.
    res.setHeader('x-fc-error-type', result.fcErrorType);
    sendJson(res, 200, { errorMessage: result.errorMessage, errorType: result.errorType, stackTrace: [] });
  }

  async function handleHttpTrigger(
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    functionName: string,
    path: string,
    rawQuery: string,
  ) {
    const spec = specs.get(functionName);
    if (spec?.http === undefined) {
      return sendError(
        res,
        'fc2',
        404,
        spec ? 'TriggerNotFound' : 'FunctionNotFound',
        `no HTTP trigger for function '${functionName}'`,
        requestId,
      );
    }
    const method = (req.method ?? 'GET').toUpperCase();
    const allowed = spec.http.methods.map((x) => x.toUpperCase());
    if (!allowed.includes(method)) {
      res.setHeader('allow', allowed.join(', '));
      return sendError(
        res,
        'fc2',
        405,
        'MethodNotAllowed',
        `method ${method} is not allowed by trigger '${spec.http.triggerName}'`,
        requestId,
      );
    }
    const body = await readBody(req, MAX_SYNC_PAYLOAD);
    if (body === null)
      return sendError(
        res,
        'fc2',
        413,
        'EntityTooLarge',
        `payload size exceeds maximum allowed size (${MAX_SYNC_PAYLOAD} bytes)`,
        requestId,
      );
    const event = buildHttpEvent({
      method,
      rawPath: path,
      rawQuery,
      rawHeaders: req.rawHeaders,
      body,
      httpVersion: req.httpVersion,
      sourceIp: sourceIpOf(req),
      domainName: req.headers.host ?? '127.0.0.1',
      domainPrefix: spec.http.triggerName,
      accountId: options.accountId,
      requestId,
      nowMs: clock.nowMs(),
    });
    const eventBytes = Buffer.from(JSON.stringify(event), 'utf8');
    if (isAsync(req)) {
      runDetached(spec, eventBytes, 'http', requestId);
      res.writeHead(202).end();
      return;
    }
    const result = await run(spec, eventBytes, 'http', requestId);
    if (result.kind === 'error') {
      // 502 with a generic message: the caller may be anyone on the network, so neither the
      // function's message nor a stack goes back (the host log has the message).
      res.setHeader('x-fc-error-type', result.fcErrorType);
      return sendJson(res, 502, {
        ErrorCode: 'FunctionUnhandledError',
        ErrorMessage: `function '${spec.name}' failed`,
        RequestId: requestId,
      });
    }
    const reply = mapHttpResult(result.body);
    if (reply === null) {
      return sendJson(res, 502, {
        ErrorCode: 'BadResponse',
        ErrorMessage: 'the function returned an invalid HTTP response',
        RequestId: requestId,
      });
    }
    res.writeHead(reply.status, reply.headers).end(reply.body);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  hostUrl = url;
  log(`fc-host listening on ${url} (account ${options.accountId}, region ${options.region}, timeScale ${clock.scale})`);
  log(
    `fc-host invoke API: POST ${url}/2023-03-30/functions/<fn>/invocations ` +
      `(ACS3) | POST ${url}/2016-08-15/services/<svc>/functions/<fn>/invocations (FC)`,
  );
  for (const spec of functions) {
    const file = `${spec.handler.slice(0, Math.max(0, spec.handler.lastIndexOf('.')))}.js`;
    if (!existsSync(resolvePath(spec.bundleDir, file)))
      log(
        `fc-host ${spec.name}: warning: ${file} not found ` +
          `in ${spec.bundleDir} (build first; invocations fail until then)`,
      );
    if (spec.http)
      log(
        `fc-host ${spec.name}: HTTP trigger '${spec.http.triggerName}' ` +
          `[${spec.http.methods.join(',')}] ${url}/http/${encodeURIComponent(spec.name)}/`,
      );
  }
  for (const t of timers) {
    const next = t.schedule.nextAfterMs(clock.nowMs());
    const state = !t.enabled
      ? 'disabled'
      : options.fireTimers === false
        ? 'not fired (fireTimers: false)'
        : `next ${next === null ? 'never' : formatTriggerTime(next)}`;
    log(`fc-host ${t.functionName}: timer '${t.triggerName}' '${t.schedule.expression}' ${state}`);
  }

  const fnOrThrow = (name: string): FunctionSpec => {
    const spec = specs.get(name);
    if (spec === undefined) {
      throw new FcHostError(FcHostErrorCode.InvalidInput, `fc-host: unknown function '${name}'`, {
        field: 'functionName',
      });
    }
    return spec;
  };

  return {
    port,
    url,
    httpTriggerUrl: (functionName) => `${url}/http/${encodeURIComponent(functionName)}`,
    nowMs: () => clock.nowMs(),
    invoke: (functionName, event) =>
      run(fnOrThrow(functionName), Buffer.isBuffer(event) ? event : Buffer.from(event, 'utf8'), 'direct', randomUUID()),
    fireTimer: (functionName, triggerName, triggerTime) => {
      const t = timers.find((x) => x.functionName === functionName && x.triggerName === triggerName);
      if (t === undefined) {
        const why = `fc-host: function '${functionName}' has no timer '${triggerName}'`;
        throw new FcHostError(FcHostErrorCode.InvalidInput, why, { field: 'triggerName' });
      }
      const c = timerCall(t, triggerTime?.getTime() ?? clock.nowMs());
      return run(c.spec, c.event, 'timer', randomUUID(), c.tag);
    },
    invocations: () => [...records],
    reload: async (functionName) => {
      const targets = functionName === undefined ? [...pools.values()] : [pools.get(fnOrThrow(functionName).name)];
      await Promise.all(targets.map((p) => p?.drain()));
    },
    close: async () => {
      if (closed) return;
      closed = true;
      for (const s of stoppers) s.stop();
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await Promise.all([...pools.values()].map((p) => p.close()));
      await Promise.all([...background]);
      await serverClosed;
    },
  };
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function isAsync(req: IncomingMessage): boolean {
  const v = req.headers['x-fc-invocation-type'];
  // The generated FC 3.0 SDK passes header values through toJSONString: tolerate '"Async"'.
  return typeof v === 'string' && v.replace(/"/g, '').trim().toLowerCase() === 'async';
}

function sourceIpOf(req: IncomingMessage): string {
  return (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
}

/** Reads the whole body, or null once it exceeds `limit` bytes. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) over = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(over ? null : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

function sendError(
  res: ServerResponse,
  style: ErrorStyle,
  status: number,
  code: string,
  message: string,
  requestId: string,
): void {
  sendJson(
    res,
    status,
    style === 'fc2'
      ? { ErrorCode: code, ErrorMessage: message }
      : { Code: code, Message: message, RequestId: requestId },
  );
}
