/**
 * A small alert receiver for the local stack (`npm start` prints what arrives) and the tests: it
 * accepts the orchestrator's outbound alert webhook (generic format), checks the HMAC signature
 * (x-byok-timestamp, x-byok-signature: v1=hex HMAC-SHA256(secret, "<ts>.<body>")), keeps every
 * delivery, and answers `ok` as a Slack-compatible receiver does. Listens on 127.0.0.1 only.
 * It also serves read-only HTML pages on GET (the local stack's /report), built per request.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One accepted delivery. */
export interface ReceivedAlert {
  /** The `text` field: one line per notice. */
  text: string;
  body: Record<string, unknown>;
  signatureOk: boolean;
}

/** A running receiver. */
export interface AlertReceiver {
  /** The URL to configure as BYOK_ALERT_WEBHOOK_URL. */
  url: string;
  /** `http://127.0.0.1:<port>`: where the pages are (`${origin}/report`). */
  origin: string;
  received: ReceivedAlert[];
  /** Resolves with the first delivery (after `from` already seen) whose text matches. */
  waitFor(pattern: RegExp, options?: { timeoutMs?: number; from?: number }): Promise<ReceivedAlert>;
  close(): Promise<void>;
}

function signatureOk(secret: string | undefined, ts: string | undefined, sig: string | undefined, body: string) {
  if (secret === undefined) return true;
  if (!ts || !sig?.startsWith('v1=')) return false;
  const want = Buffer.from(createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex'));
  const got = Buffer.from(sig.slice(3));
  return got.length === want.length && timingSafeEqual(got, want);
}

/** Starts the receiver; `onAlert` sees each delivery (the local stack prints it). */
export async function startAlertReceiver(
  options: {
    port?: number;
    secret?: string;
    onAlert?: (alert: ReceivedAlert) => void;
    /** HTML pages served on GET by path (e.g. `/report`), built per request. */
    pages?: Record<string, () => Promise<string>>;
  } = {},
): Promise<AlertReceiver> {
  const received: ReceivedAlert[] = [];
  const waiters = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' || req.method === 'HEAD') {
      servePage(options.pages ?? {}, req.url ?? '/', res);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const header = (n: string) => {
        const v = req.headers[n];
        return Array.isArray(v) ? v[0] : v;
      };
      const ok = signatureOk(options.secret, header('x-byok-timestamp'), header('x-byok-signature'), raw);
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        res.writeHead(400).end('invalid_payload');
        return;
      }
      if (!ok) {
        res.writeHead(401).end('bad signature');
        return;
      }
      const alert = { text: typeof body.text === 'string' ? body.text : '', body, signatureOk: ok };
      received.push(alert);
      options.onAlert?.(alert);
      for (const w of waiters) w();
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    origin: `http://127.0.0.1:${port}`,
    received,
    waitFor(pattern, { timeoutMs = 10_000, from = 0 } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = received.slice(from).find((a) => pattern.test(a.text));
          if (!hit) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(hit);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no alert matching ${pattern} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Serves one page (`/` goes to the first); a page that fails answers 500 with its error code only. */
function servePage(pages: Record<string, () => Promise<string>>, url: string, res: ServerResponse): void {
  const path = url.split('?')[0] ?? '/';
  const first = Object.keys(pages)[0];
  if (path === '/' && first !== undefined) {
    res.writeHead(302, { location: first }).end();
    return;
  }
  const page = pages[path];
  if (!page) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    return;
  }
  page().then(
    (html) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(html),
    (err: unknown) => {
      const code = (err as { code?: unknown }).code;
      const why = typeof code === 'string' ? code : 'error';
      const text = `the page could not be built (${why}); see the npm start output`;
      res.writeHead(500, { 'content-type': 'text/plain' }).end(text);
    },
  );
}
