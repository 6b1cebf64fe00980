/**
 * The webhook's decisions, platform-neutral (the function only decodes the HTTP event and encodes
 * the answer): authenticate the delivery, parse it into intents, drop repeated deliveries, act for
 * whom the delivery names, audit one decision per intent, and run one check per distinct target: a
 * targeted check of the key's or alias's lineage, or a full sweep for "all managed keys". The engine
 * decides what a check does (re-import, alert, nothing); intents never decide a write.
 *
 * A delivery that fails after its intents were accepted, or whose requested repair ended `failed`,
 * is forgotten by the de-duplication cache, so the sender's retry is processed instead of being
 * answered as a duplicate; the answer is then 5xx naming the failing keys and error codes.
 */
import { ErrorCode, OrchestratorError, isOrchestratorError } from '../errors.js';
import { checkTarget, sweep } from '../lifecycle/engine.js';
import type { EngineDeps } from '../lifecycle/ports.js';
import { TIMESTAMP_HEADER, authenticateWebhook } from './auth.js';
import type { DedupeCache } from './dedupe.js';
import { targetKey, type WebhookIntent, type WebhookSource, type WebhookTarget } from './intents.js';
import { DELIVERY_ID_HEADER, parseWebhookPayload, type SelfIdentity } from './payloads.js';
import type { WebhookSecrets } from './secrets.js';

type Actor = EngineDeps['actor'];
type DecisionEvent = Parameters<EngineDeps['audit']['record']>[0];
/** What a check returns (a sweep's result, restricted to the target's lineage for a targeted check). */
export type CheckResult = Awaited<ReturnType<typeof checkTarget>>;

/** Distinct targets of `intents` in first-seen order, with their keys: one check each. */
export function distinctTargets(intents: readonly WebhookIntent[]): Array<{ key: string; target: WebhookTarget }> {
  const targets = new Map<string, WebhookTarget>();
  for (const i of intents) {
    const key = targetKey(i.target);
    const revive = 'keyId' in i.target && i.target.revive === true;
    if (!targets.has(key) || revive) targets.set(key, i.target);
  }
  return [...targets].map(([key, target]) => ({ key, target }));
}

/** An audit-safe actor id: ActionTrail names may contain characters the audit schema refuses. */
export function auditSafeId(raw: string): string {
  const cleaned = raw.replace(/[^A-Za-z0-9._:@/+=-]/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  return (cleaned || 'unknown').slice(0, 100);
}

/**
 * Who a delivery acts for: `<source>:<who>`, where who is the ActionTrail identity of the first
 * intent that names one, else `<source>-<auth method>` (a CloudMonitor callback names nobody).
 */
export function webhookActor(source: WebhookSource, intents: readonly WebhookIntent[], authMethod: string): Actor {
  const first = intents[0]?.actor;
  const who = first?.name ?? first?.principalId ?? `${source}-${authMethod}`;
  return { kind: 'webhook', id: `${source}:${auditSafeId(who)}` };
}

/** The audit decision event of one accepted intent. */
export function decisionEvent(i: WebhookIntent): DecisionEvent {
  const details: Record<string, string> = { source: i.source, target: targetKey(i.target) };
  if (i.kind === 'alert') details.severity = i.severity;
  return { action: `webhook-${i.kind}`, phase: 'decision', reason: i.reason, details };
}

/** One target's check: a full sweep for "all", else a check of the key's or alias's lineage. */
export async function checkWebhookTarget(deps: EngineDeps, target: WebhookTarget): Promise<CheckResult> {
  if ('all' in target) return sweep(deps);
  if ('alias' in target) return checkTarget(deps, { alias: target.alias });
  return checkTarget(deps, { keyId: target.keyId, ...(target.revive ? { revive: true } : {}) });
}

/** A check as the response reports it (secret-free). */
export interface TargetResult {
  target: string;
  planId: string;
  counts: CheckResult['counts'];
  actions: Array<{ kind: string; outcome: string; detail: string }>;
}

/** The response's view of one check. */
export function targetResult(key: string, r: CheckResult): TargetResult {
  const actions = r.results.map((x) => ({ kind: x.action.kind, outcome: x.outcome, detail: x.detail }));
  return { target: key, planId: r.planId, counts: r.counts, actions };
}

/** One delivery as the HTTP trigger received it (decoded by the function). */
export interface WebhookDelivery {
  headers: Record<string, string>;
  query: Record<string, string>;
  /** The body bytes (after FC's base64 decoding, if any). */
  rawBody: Buffer;
  contentType?: string;
}

/** What the intake is given: per-instance state and the engine. */
export interface WebhookIntakeDeps {
  dedupe: DedupeCache;
  /** Real time: senders sign with their own (real) clocks, and dedupe entries expire in real time. */
  nowMs: () => number;
  /** The webhook secrets (read from configuration or KMS, cached by the caller; never per request). */
  secrets: () => Promise<WebhookSecrets>;
  /** Who the orchestrator itself is: ActionTrail events of its own writes trigger nothing. */
  self?: SelfIdentity;
  /** Where an audit record refused by the audit guard is reported (it never blocks a repair). */
  onAuditRefused?: (err: unknown) => void;
  /** Engine deps for the run acting for `actor`; the intake closes them. */
  openEngine: (actor: Actor) => Promise<EngineDeps & { close(): Promise<void> }>;
  /** The check of one target (default checkWebhookTarget; tests pass their own). */
  check?: (deps: EngineDeps, target: WebhookTarget) => Promise<CheckResult>;
}

/** A requested repair that failed: the key and the coded error (never a secret). */
export interface FailedRepair {
  target: string;
  kind: string;
  keyId?: string;
  errorCode: string;
}

/**
 * The repairs of `results` that were not done: outcome `failed`, or `deferred` (out of time, left to
 * the next sweep): neither is "succeeded or not needed", so the sender is told to retry.
 */
export function failedRepairs(results: readonly CheckResult[], keys: readonly string[]): FailedRepair[] {
  const out: FailedRepair[] = [];
  results.forEach((r, i) => {
    for (const x of r.results) {
      if (x.outcome !== 'failed' && x.outcome !== 'deferred') continue;
      const keyId = (x.action as { keyId?: string }).keyId;
      out.push({
        target: keys[i] ?? '',
        kind: x.action.kind,
        ...(keyId ? { keyId } : {}),
        errorCode: x.errorCode ?? (x.outcome === 'deferred' ? ErrorCode.TimeBudgetExhausted : ErrorCode.Internal),
      });
    }
  });
  return out;
}

/** The answer to a processed delivery (200). */
export interface WebhookReply {
  accepted: number;
  duplicates: number;
  ignored: string[];
  /** One per distinct target; absent when every intent was a duplicate. */
  results?: TargetResult[];
}

/**
 * Processes one delivery. Throws coded errors for refusals (Unauthenticated, PayloadTooLarge,
 * UnknownPayload, InvalidInput) and for failures (KMS errors): the caller turns them into responses.
 */
export async function processWebhook(delivery: WebhookDelivery, deps: WebhookIntakeDeps): Promise<WebhookReply> {
  let secrets: WebhookSecrets;
  try {
    secrets = await deps.secrets();
  } catch {
    // A configuration problem (misnamed secret, KMS down) is the log's business: the caller only
    // learns that it was not authenticated, exactly like any other refusal.
    secrets = { hmac: [], tokens: [] };
  }
  const authRequest = { headers: delivery.headers, query: delivery.query, rawBody: delivery.rawBody };
  const keys = { hmacSecrets: secrets.hmac, urlTokens: secrets.tokens };
  const auth = authenticateWebhook(authRequest, { ...keys, nowMs: deps.nowMs() });
  const parsed = parseWebhookPayload(
    {
      body: delivery.rawBody,
      contentType: delivery.contentType,
      deliveryId: headerOf(delivery.headers, DELIVERY_ID_HEADER),
      signatureTimestamp: auth.method === 'hmac' ? headerOf(delivery.headers, TIMESTAMP_HEADER) : undefined,
    },
    deps.self ? { self: deps.self } : {},
  );
  const fresh = parsed.intents.filter((i) => !deps.dedupe.seen(i.dedupeKey, deps.nowMs()));
  const duplicates = parsed.intents.length - fresh.length;
  if (fresh.length === 0) return { accepted: 0, duplicates, ignored: parsed.ignored };
  const forget = () => {
    for (const i of fresh) deps.dedupe.forget(i.dedupeKey);
  };
  let reply: WebhookReply;
  let failed: FailedRepair[];
  try {
    const engine = await deps.openEngine(webhookActor(parsed.source, fresh, auth.method));
    try {
      for (const i of fresh) await recordDecision(engine, i, deps.onAuditRefused);
      const check = deps.check ?? checkWebhookTarget;
      const checks: CheckResult[] = [];
      const targets = distinctTargets(fresh);
      for (const { target } of targets) checks.push(await check(engine, target));
      const results = checks.map((r, i) => targetResult(targets[i]?.key ?? '', r));
      reply = { accepted: fresh.length, duplicates, ignored: parsed.ignored, results };
      failed = failedRepairs(
        checks,
        targets.map((t) => t.key),
      );
    } finally {
      await engine.close();
    }
  } catch (err) {
    // A delivery we failed to process must be processed when the sender retries it.
    forget();
    throw err;
  }
  if (failed.length > 0) {
    // A repair that failed is not done: the sender must retry (5xx), and the retry is processed.
    forget();
    throw repairFailed(failed);
  }
  return reply;
}

/** The error of a delivery whose requested repair failed: 5xx, naming the keys and codes only. */
export function repairFailed(failed: readonly FailedRepair[]): OrchestratorError {
  const list = failed.map((f) => `${f.kind} ${f.keyId ?? f.target}: ${f.errorCode}`).join('; ');
  return new OrchestratorError(ErrorCode.RepairFailed, `webhook: repair failed: ${list}`);
}

/**
 * Audits one decision; a record the audit guard refuses (InvalidInput) is reported and recorded
 * again without its details, and if that is refused too the repair still runs (the engine's own
 * intent and outcome events remain).
 */
async function recordDecision(
  engine: EngineDeps,
  i: WebhookIntent,
  onRefused: ((err: unknown) => void) | undefined,
): Promise<void> {
  const event = decisionEvent(i);
  try {
    await engine.audit.record(event);
  } catch (err) {
    if (!isOrchestratorError(err) || err.code !== ErrorCode.InvalidInput) throw err;
    onRefused?.(err);
    try {
      await engine.audit.record({ ...event, reason: undefined, details: { source: i.source } });
    } catch (again) {
      if (!isOrchestratorError(again) || again.code !== ErrorCode.InvalidInput) throw again;
    }
  }
}

function headerOf(headers: Readonly<Record<string, string>>, name: string): string | undefined {
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}
