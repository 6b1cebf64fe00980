/**
 * FC 3.0 HTTP trigger for built-in runtimes (docs/fc-runtime.md §2.5): the request becomes a JSON event,
 * the handler's `{statusCode, headers, body, isBase64Encoded}` becomes the response.
 */
import { TextDecoder } from 'node:util';

/** The request event of §2.5 (version v1). */
export interface HttpTriggerEvent {
  version: 'v1';
  rawPath: string;
  body: string;
  isBase64Encoded: boolean;
  headers: Record<string, string>;
  queryParameters: Record<string, string>;
  requestContext: {
    accountId: string;
    domainName: string;
    domainPrefix: string;
    http: { method: string; path: string; protocol: string; sourceIp: string; userAgent: string };
    requestId: string;
    time: string;
    timeEpoch: string;
  };
}

/** What the host knows about the request. */
export interface HttpRequestFacts {
  method: string;
  /** Path as the function sees it (below the trigger's root), still percent-encoded. */
  rawPath: string;
  rawQuery: string;
  /** Node's rawHeaders: [name, value, name, value, ...] with the client's casing. */
  rawHeaders: readonly string[];
  body: Buffer;
  httpVersion: string;
  sourceIp: string;
  domainName: string;
  domainPrefix: string;
  accountId: string;
  requestId: string;
  nowMs: number;
}

/** Hop-by-hop headers FC drops on the way in and out (§2.6). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'upgrade',
  'transfer-encoding',
  'proxy-connection',
  'te',
  'trailer',
]);

/** Go's canonical header name (`content-type` -> `Content-Type`): FC's real captures carry these (§2.5). */
export function canonicalHeaderName(name: string): string {
  return name
    .toLowerCase()
    .split('-')
    .map((p) => (p.length === 0 ? p : (p[0] ?? '').toUpperCase() + p.slice(1)))
    .join('-');
}

const TEXTUAL = /^(text\/|application\/(json|x-www-form-urlencoded|xml|javascript|x-ndjson)|[^;]*\+(json|xml))/i;

/**
 * Whether a body travels as text. §2.5: "body is Base64 when the content is binary". Textual content
 * types (and untyped bodies) stay text when they are valid UTF-8 (inferred rule).
 */
function isTextBody(contentType: string | undefined, body: Buffer): boolean {
  if (body.length === 0) return true;
  if (contentType !== undefined && contentType !== '' && !TEXTUAL.test(contentType)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(body);
    return true;
  } catch {
    return false;
  }
}

/** Builds the §2.5 event. Repeated header and query keys are joined with ','. */
export function buildHttpEvent(facts: HttpRequestFacts): HttpTriggerEvent {
  const headers: Record<string, string> = {};
  for (let i = 0; i + 1 < facts.rawHeaders.length; i += 2) {
    const name = facts.rawHeaders[i] ?? '';
    if (HOP_BY_HOP.has(name.toLowerCase())) continue;
    const key = canonicalHeaderName(name);
    const value = facts.rawHeaders[i + 1] ?? '';
    headers[key] = headers[key] === undefined ? value : `${headers[key]},${value}`;
  }
  const queryParameters: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(facts.rawQuery)) {
    queryParameters[k] = queryParameters[k] === undefined ? v : `${queryParameters[k]},${v}`;
  }
  const text = isTextBody(headers['Content-Type'], facts.body);
  let decodedPath: string;
  try {
    decodedPath = decodeURIComponent(facts.rawPath);
  } catch {
    decodedPath = facts.rawPath;
  }
  return {
    version: 'v1',
    rawPath: facts.rawPath,
    body: text ? facts.body.toString('utf8') : facts.body.toString('base64'),
    isBase64Encoded: !text,
    headers,
    queryParameters,
    requestContext: {
      accountId: facts.accountId,
      domainName: facts.domainName,
      domainPrefix: facts.domainPrefix,
      http: {
        method: facts.method,
        path: decodedPath,
        protocol: `HTTP/${facts.httpVersion}`,
        sourceIp: facts.sourceIp,
        userAgent: headers['User-Agent'] ?? '',
      },
      requestId: facts.requestId,
      time: new Date(Math.floor(facts.nowMs / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      timeEpoch: String(Math.floor(facts.nowMs)),
    },
  };
}

/** A response to write. */
export interface HttpReply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Response headers the platform owns (§2.6: connection, content-length, date, keep-alive, server, upgrade,
 * x-fc-*). */
function platformOwned(name: string): boolean {
  const n = name.toLowerCase();
  return HOP_BY_HOP.has(n) || n === 'content-length' || n === 'date' || n === 'server' || n.startsWith('x-fc-');
}

/**
 * Maps the handler's return bytes to a response. An object with an integer `statusCode` is the
 * §2.5 response shape; anything else is a 200 with the bytes as body (inferred fallback, §10).
 * Returns null when the shape is present but broken (the caller answers 502 BadResponse).
 */
export function mapHttpResult(bytes: Buffer): HttpReply | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: bytes };
  }
  if (typeof parsed !== 'object' || parsed === null || !('statusCode' in parsed)) {
    return { status: 200, headers: { 'content-type': 'application/json' }, body: bytes };
  }
  const r = parsed as { statusCode: unknown; headers?: unknown; body?: unknown; isBase64Encoded?: unknown };
  if (typeof r.statusCode !== 'number' || !Number.isInteger(r.statusCode) || r.statusCode < 100 || r.statusCode > 599)
    return null;
  const headers: Record<string, string> = {};
  if (typeof r.headers === 'object' && r.headers !== null) {
    for (const [k, v] of Object.entries(r.headers as Record<string, unknown>)) {
      if (!platformOwned(k) && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'))
        headers[k] = String(v);
    }
  }
  let body: Buffer;
  if (r.body === undefined || r.body === null) body = Buffer.alloc(0);
  else if (typeof r.body === 'string')
    body = r.isBase64Encoded === true ? Buffer.from(r.body, 'base64') : Buffer.from(r.body, 'utf8');
  else body = Buffer.from(JSON.stringify(r.body), 'utf8');
  return { status: r.statusCode, headers, body };
}
