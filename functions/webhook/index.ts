/**
 * `webhook`: the HTTP-triggered alert intake (trigger `authType: anonymous`, POST only), so this
 * function authenticates every call itself before anything else: HMAC-SHA256 headers
 * (`x-byok-timestamp`, `x-byok-signature: v1=<hex>`) or, for CloudMonitor callbacks that cannot
 * sign, `?token=`. Then: parse (CloudMonitor form, EventBridge CloudEvents, generic JSON) ->
 * de-duplicate repeated deliveries -> a targeted check of the named key's lineage under a short
 * deadline (CloudMonitor waits 5 s, docs/fc-runtime.md §7.1): writes that do not fit are
 * deferred to the next sweep. Errors become responses in exactly one place; never a stack trace
 * or a secret in a response.
 */
import { ErrorCode, OrchestratorError } from '../../shared/errors.js';
import { decodeHttpEvent, errorResponse, header, httpBody, invocationClock, jsonResponse, stdoutLine } from '../../shared/fc/adapter.js';
import { createFunctionRuntime } from '../../shared/fc/runtime.js';
import type { FcContext, HttpResponse } from '../../shared/fc/types.js';
import { checkTarget, sweep } from '../../shared/lifecycle/engine.js';
import { systemClock } from '../../shared/system.js';
import { DedupeCache, authenticateWebhook, parseWebhookPayload, type WebhookIntent } from '../../shared/webhook/index.js';
import type { SecretSetting } from '../../shared/config/index.js';
import type { KmsPort } from '../../shared/kms/port.js';

const runtime = createFunctionRuntime(process.env);
const dedupe = new DedupeCache();
/** Writes allowed per call: CloudMonitor gives up after 5 s. */
const WRITE_BUDGET_MS = 3_500;

/** Resolved per KMS client: a new client (rotated credentials) re-reads the secrets. */
let secretsCache: { kms: KmsPort; hmac: string[]; tokens: string[] } | undefined;

async function resolveSecret(kms: KmsPort, s: SecretSetting | undefined): Promise<string[]> {
  if (!s) return [];
  if (s.source === 'value') return [s.value.reveal()];
  return [(await kms.getSecretValue({ secretName: s.secretName })).secretData];
}

/** The webhook secrets, from configuration or KMS Secrets Manager, cached per instance. */
async function webhookSecrets(context: FcContext): Promise<{ hmac: string[]; tokens: string[] }> {
  const { kms } = await runtime.base(context);
  if (secretsCache?.kms !== kms) {
    const cfg = runtime.config().webhook;
    secretsCache = { kms, hmac: await resolveSecret(kms, cfg.secret), tokens: await resolveSecret(kms, cfg.urlToken) };
  }
  return secretsCache;
}

const targetKey = (i: WebhookIntent): string => ('keyId' in i.target ? `key:${i.target.keyId}` : 'alias' in i.target ? `alias:${i.target.alias}` : 'all');

/** An audit-safe actor id: ActionTrail names may contain characters the audit schema refuses. */
function auditSafeId(raw: string): string {
  const cleaned = raw.replace(/[^A-Za-z0-9._:@/+=-]/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  return (cleaned || 'unknown').slice(0, 100);
}

/** FC entry point. */
export async function handler(event: Buffer, context: FcContext): Promise<HttpResponse> {
  let accepted: WebhookIntent[] = [];
  try {
    const req = decodeHttpEvent(event);
    const method = req.requestContext?.http?.method?.toUpperCase();
    if (method && method !== 'POST') return jsonResponse(405, { error: { code: ErrorCode.InvalidInput, message: 'only POST is accepted' } });
    const rawBody = httpBody(req);
    const secrets = await webhookSecrets(context);
    // Authentication uses real time: the sender signs with its own (real) clock.
    const auth = authenticateWebhook({ headers: req.headers, query: req.queryParameters, rawBody }, { hmacSecrets: secrets.hmac, urlTokens: secrets.tokens, nowMs: systemClock.nowMs() });
    const parsed = parseWebhookPayload({ body: rawBody, contentType: header(req, 'content-type') });
    const fresh = parsed.intents.filter((i) => !dedupe.seen(i.dedupeKey, systemClock.nowMs()));
    if (fresh.length === 0) {
      return jsonResponse(200, { accepted: 0, duplicates: parsed.intents.length, ignored: parsed.ignored });
    }
    accepted = fresh;
    const clock = await invocationClock(systemClock, process.env.BYOK_LOCAL_TIME_URL);
    const actorId = auditSafeId(fresh[0]?.actor?.name ?? fresh[0]?.actor?.principalId ?? `${parsed.source}-${auth.method}`);
    const deps = await runtime.deps(context, {
      actor: { kind: 'webhook', id: `${parsed.source}:${actorId}` },
      runId: `webhook-${context.requestId}`,
      clock,
      deadlineMs: clock.nowMs() + WRITE_BUDGET_MS,
    });
    for (const i of fresh) {
      await deps.audit.record({ action: `webhook-${i.kind}`, phase: 'decision', reason: i.reason, details: { source: i.source, target: targetKey(i), ...(i.kind === 'alert' ? { severity: i.severity } : {}) } });
    }
    // One targeted check per distinct target: the engine decides (re-import, alert, nothing).
    const targets = new Map(fresh.map((i) => [targetKey(i), i.target] as const));
    const results = [];
    for (const [key, target] of targets) {
      const r = 'all' in target ? await sweep(deps) : await checkTarget(deps, 'keyId' in target ? { keyId: target.keyId } : { alias: target.alias });
      results.push({ target: key, planId: r.planId, counts: r.counts, actions: r.results.map((x) => ({ kind: x.action.kind, outcome: x.outcome, detail: x.detail })) });
    }
    return jsonResponse(200, { accepted: fresh.length, duplicates: parsed.intents.length - fresh.length, ignored: parsed.ignored, results });
  } catch (err) {
    // A delivery we failed to process must be processed when the sender retries it.
    for (const i of accepted) dedupe.forget(i.dedupeKey);
    const response = errorResponse(err);
    if (response.statusCode >= 500) {
      // Unauthenticated callers reach this too: say what kind of failure, not the details.
      const code = err instanceof OrchestratorError ? err.code : ErrorCode.Internal;
      stdoutLine(JSON.stringify({ level: 'error', msg: 'webhook failed', status: response.statusCode, code }));
      return jsonResponse(response.statusCode, { error: { code, message: 'temporarily unable to process; retry later' } });
    }
    stdoutLine(JSON.stringify({ level: 'warn', msg: 'webhook refused', status: response.statusCode, code: err instanceof OrchestratorError ? err.code : ErrorCode.Internal }));
    return response;
  }
}
