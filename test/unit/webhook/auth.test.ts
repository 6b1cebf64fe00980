import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ErrorCode, OrchestratorError } from '../../../shared/errors.js';
import {
  AuthFailure,
  DEFAULT_MAX_SKEW_SECONDS,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  authenticateWebhook,
  constantTimeEqual,
  signWebhook,
  type WebhookAuthOptions,
  type WebhookAuthRequest,
} from '../../../shared/webhook/auth.js';

// Fixed test secrets, listed in test/fixtures/secrets.txt so the build rejects a bundle containing them.
const SECRET = 'whsec-test-5f1c9a7e2b4d8c0e';
const TOKEN = 'cms-token-test-9d2e7b41a6c3';
const OTHER_SECRET = 'whsec-test-other-000000000';

const NOW_S = 1_748_743_384; // 2025-06-01T02:03:04Z
const NOW_MS = NOW_S * 1000;
const BODY = '{"action":"check","alias":"alias/payments"}';
/** Known answer: HMAC-SHA256(SECRET, "1748743384." + BODY), computed independently with Python's hmac module. */
const KNOWN_SIGNATURE = 'v1=b41a05563622b6c669acb2e03fee9143b114439bda09c4472e0e6cc5e93450d6';

const options: WebhookAuthOptions = { hmacSecrets: [SECRET], urlTokens: [TOKEN], nowMs: NOW_MS };

function signed(overrides: Partial<{ timestamp: string; signature: string; body: string }> = {}): WebhookAuthRequest {
  const timestamp = overrides.timestamp ?? String(NOW_S);
  const body = overrides.body ?? BODY;
  return {
    // Go-canonical names, as FC delivers them (docs/fc-runtime.md §2.5).
    headers: {
      'X-Byok-Timestamp': timestamp,
      'X-Byok-Signature': overrides.signature ?? signWebhook(SECRET, timestamp, BODY),
      'Content-Type': 'application/json',
    },
    query: {},
    rawBody: body,
  };
}

const withToken = (token: string | undefined): WebhookAuthRequest => ({
  headers: {},
  query: token === undefined ? {} : { token },
  rawBody: 'alertName=x',
});

/** Runs authenticateWebhook and returns the Unauthenticated error it throws (fails the test if it does not). */
function refusal(req: WebhookAuthRequest, opts: WebhookAuthOptions = options): OrchestratorError {
  try {
    authenticateWebhook(req, opts);
  } catch (err) {
    if (err instanceof OrchestratorError) return err;
    throw err;
  }
  throw new Error('expected the request to be refused');
}

describe('signWebhook', () => {
  it('matches the known-answer vector (HMAC-SHA256 over "<timestamp>.<body>", hex, v1= prefix)', () => {
    expect(signWebhook(SECRET, NOW_S, BODY)).toBe(KNOWN_SIGNATURE);
  });

  it('agrees with node:crypto for a Buffer body', () => {
    const expected = createHmac('sha256', SECRET).update(`${NOW_S}.${BODY}`).digest('hex');
    expect(signWebhook(SECRET, String(NOW_S), Buffer.from(BODY))).toBe(`v1=${expected}`);
  });
});

describe('authenticateWebhook: signed requests', () => {
  it('names its headers x-byok-timestamp and x-byok-signature', () => {
    expect([TIMESTAMP_HEADER, SIGNATURE_HEADER]).toEqual(['x-byok-timestamp', 'x-byok-signature']);
  });

  it('accepts a valid signature, whatever the header name case', () => {
    expect(authenticateWebhook(signed(), options)).toEqual({ method: 'hmac' });
  });

  it('accepts lower-case header names', () => {
    const req = signed();
    const lower = {
      ...req,
      headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), v])),
    };
    expect(authenticateWebhook(lower, options)).toEqual({ method: 'hmac' });
  });

  it('refuses a body changed after signing', () => {
    expect(refusal(signed({ body: BODY.replace('check', 'reimport') })).details['reason']).toBe(
      AuthFailure.BadSignature,
    );
  });

  it('refuses a signature made with another secret', () => {
    expect(refusal(signed({ signature: signWebhook(OTHER_SECRET, NOW_S, BODY) })).details['reason']).toBe(
      AuthFailure.BadSignature,
    );
  });

  it('refuses with code Unauthenticated', () => {
    expect(refusal(signed({ signature: signWebhook(OTHER_SECRET, NOW_S, BODY) })).code).toBe(ErrorCode.Unauthenticated);
  });

  it('accepts a timestamp exactly at the default 300 s skew', () => {
    const ts = String(NOW_S - DEFAULT_MAX_SKEW_SECONDS);
    expect(authenticateWebhook(signed({ timestamp: ts, signature: signWebhook(SECRET, ts, BODY) }), options)).toEqual({
      method: 'hmac',
    });
  });

  it('refuses a correctly signed timestamp 301 s old (replay window)', () => {
    const ts = String(NOW_S - 301);
    expect(refusal(signed({ timestamp: ts, signature: signWebhook(SECRET, ts, BODY) })).details['reason']).toBe(
      AuthFailure.ClockSkew,
    );
  });

  it('refuses a correctly signed timestamp 301 s in the future', () => {
    const ts = String(NOW_S + 301);
    expect(refusal(signed({ timestamp: ts, signature: signWebhook(SECRET, ts, BODY) })).details['reason']).toBe(
      AuthFailure.ClockSkew,
    );
  });

  it('honours a custom skew window', () => {
    const ts = String(NOW_S - 61);
    const req = signed({ timestamp: ts, signature: signWebhook(SECRET, ts, BODY) });
    expect(refusal(req, { ...options, maxSkewSeconds: 60 }).details['reason']).toBe(AuthFailure.ClockSkew);
  });

  it('refuses a timestamp that is not unix seconds', () => {
    expect(refusal(signed({ timestamp: '2025-06-01T02:03:04Z' })).details['reason']).toBe(
      AuthFailure.MalformedTimestamp,
    );
  });

  it('refuses a signature without the v1= scheme', () => {
    const bare = KNOWN_SIGNATURE.slice(3);
    expect(refusal(signed({ signature: bare })).details['reason']).toBe(AuthFailure.MalformedSignature);
  });

  it('refuses a truncated signature as malformed', () => {
    expect(refusal(signed({ signature: KNOWN_SIGNATURE.slice(0, -2) })).details['reason']).toBe(
      AuthFailure.MalformedSignature,
    );
  });

  it('accepts a request signed with the second of two configured secrets (rotation)', () => {
    const req = signed({ signature: signWebhook(OTHER_SECRET, NOW_S, BODY) });
    expect(authenticateWebhook(req, { ...options, hmacSecrets: [SECRET, OTHER_SECRET] })).toEqual({ method: 'hmac' });
  });

  it('accepts when one of several comma-separated signatures matches', () => {
    const both = `${signWebhook(OTHER_SECRET, NOW_S, BODY)}, ${signWebhook(SECRET, NOW_S, BODY)}`;
    expect(authenticateWebhook(signed({ signature: both }), options)).toEqual({ method: 'hmac' });
  });

  it('does not fall back to a valid token when the signature is wrong', () => {
    const req = { ...signed({ signature: signWebhook(OTHER_SECRET, NOW_S, BODY) }), query: { token: TOKEN } };
    expect(refusal(req).details['reason']).toBe(AuthFailure.BadSignature);
  });

  it('refuses signed requests when no HMAC secret is configured', () => {
    expect(refusal(signed(), { urlTokens: [TOKEN], nowMs: NOW_MS }).details['reason']).toBe(AuthFailure.NotConfigured);
  });
});

describe('authenticateWebhook: URL token (CloudMonitor)', () => {
  it('accepts the configured token', () => {
    expect(authenticateWebhook(withToken(TOKEN), options)).toEqual({ method: 'token' });
  });

  it('refuses a wrong token', () => {
    expect(refusal(withToken('cms-token-test-wrong-guess')).details['reason']).toBe(AuthFailure.BadToken);
  });

  it('refuses a prefix of the token', () => {
    expect(refusal(withToken(TOKEN.slice(0, -1))).details['reason']).toBe(AuthFailure.BadToken);
  });

  it('accepts the previous token during a rotation', () => {
    expect(
      authenticateWebhook(withToken('cms-token-test-previous'), {
        ...options,
        urlTokens: [TOKEN, 'cms-token-test-previous'],
      }),
    ).toEqual({
      method: 'token',
    });
  });

  it('refuses a request with neither signature nor token', () => {
    expect(refusal(withToken(undefined)).details['reason']).toBe(AuthFailure.MissingCredentials);
  });

  it('treats an empty token as missing', () => {
    expect(refusal(withToken('')).details['reason']).toBe(AuthFailure.MissingCredentials);
  });

  it('refuses tokens when none is configured', () => {
    expect(refusal(withToken(TOKEN), { hmacSecrets: [SECRET], nowMs: NOW_MS }).details['reason']).toBe(
      AuthFailure.NotConfigured,
    );
  });
});

describe('authenticateWebhook never echoes secrets', () => {
  const wrongSig = signWebhook(OTHER_SECRET, NOW_S, BODY);
  const failures: Array<[string, WebhookAuthRequest]> = [
    ['bad signature', signed({ signature: wrongSig })],
    ['malformed signature', signed({ signature: `${KNOWN_SIGNATURE}00` })],
    ['clock skew', signed({ timestamp: String(NOW_S - 10_000) })],
    ['bad token', withToken(`${TOKEN}x`)],
  ];

  for (const [name, req] of failures) {
    it(`${name}: message and JSON contain no secret, token or provided signature`, () => {
      const err = refusal(req);
      const visible = `${err.message} ${JSON.stringify(err)}`;
      const leaked = [SECRET, TOKEN, OTHER_SECRET, wrongSig.slice(3), KNOWN_SIGNATURE.slice(3)].filter((s) =>
        visible.includes(s),
      );
      expect(leaked).toEqual([]);
    });
  }
});

describe('constantTimeEqual', () => {
  it('is true for equal bytes', () => {
    expect(constantTimeEqual(Buffer.from('abc'), Buffer.from('abc'))).toBe(true);
  });

  it('is false for equal-length different bytes', () => {
    expect(constantTimeEqual(Buffer.from('abc'), Buffer.from('abd'))).toBe(false);
  });

  it('is false (without throwing) for different lengths', () => {
    expect(constantTimeEqual(Buffer.from('abc'), Buffer.from('abcd'))).toBe(false);
  });
});
