/**
 * `webhook`: the HTTP-triggered alert intake (trigger `authType: anonymous`, POST only). An adapter:
 * it decodes the HTTP event, hands the delivery to shared/webhook (authenticate: HMAC-SHA256
 * headers or, for CloudMonitor callbacks that cannot sign, `?token=`; parse; de-duplicate; check
 * each distinct target under a short deadline, since CloudMonitor waits 5 s, docs/fc-runtime.md
 * §7.1: writes that do not fit are deferred to the next sweep) and encodes the answer. Errors
 * become responses in exactly one place; never a stack trace or a secret in a response.
 * Logs: one JSON line per delivery (`fn`, `requestId`, `runId`): processed at `info`, refused at
 * `warn`, failed at `error` (with the stack of an uncoded error).
 */
import { ErrorCode } from '../../shared/errors.js';
import {
  decodeHttpEvent,
  header,
  httpBody,
  invocationClock,
  isRefusal,
  jsonResponse,
  logFailure,
  publicErrorResponse,
} from '../../shared/fc/adapter.js';
import { createFunctionRuntime } from '../../shared/fc/runtime.js';
import type { FcContext, HttpResponse } from '../../shared/fc/types.js';
import { systemClock } from '../../shared/system.js';
import { DedupeCache, WebhookSecretCache, processWebhook } from '../../shared/webhook/index.js';

const runtime = createFunctionRuntime(process.env);
const dedupe = new DedupeCache();
/** Read at the instance's first invocation and again by age only (never because of a request). */
const secrets = new WebhookSecretCache();

/** The AccessKey id the function's own calls are signed with (ActionTrail `userIdentity.accessKeyId`). */
function ownAccessKeyIds(context: FcContext): string[] {
  try {
    const id = context.credentials?.accessKeyId;
    return id ? [id] : [];
  } catch {
    return [];
  }
}

/** Writes allowed per call: CloudMonitor gives up after 5 s. */
const WRITE_BUDGET_MS = 3_500;

/** FC entry point. */
export async function handler(event: Buffer, context: FcContext): Promise<HttpResponse> {
  const log = runtime.logger(context);
  const runId = `webhook-${context.requestId}`;
  try {
    const req = decodeHttpEvent(event);
    const method = req.requestContext?.http?.method?.toUpperCase();
    if (method && method !== 'POST') {
      return jsonResponse(405, { error: { code: ErrorCode.InvalidInput, message: 'only POST is accepted' } });
    }
    const delivery = {
      headers: req.headers,
      query: req.queryParameters,
      rawBody: httpBody(req),
      contentType: header(req, 'content-type'),
    };
    const reply = await processWebhook(delivery, {
      dedupe,
      nowMs: systemClock.nowMs,
      secrets: async () => {
        // A configuration problem is logged here; the caller is only refused, like any other.
        const failed = (err: unknown) =>
          log.error('webhook secrets could not be read (requests are refused until they are)', err, { runId });
        try {
          return await secrets.accepted((await runtime.instance(context)).kms, runtime.config().webhook, failed);
        } catch (err) {
          failed(err);
          throw err;
        }
      },
      // The orchestrator's own role and session names (configuration) and its credentials' key id.
      self: {
        roleNames: runtime.config(context).webhook.selfRoleNames,
        sessionNames: runtime.config(context).webhook.selfSessionNames,
        accessKeyIds: ownAccessKeyIds(context),
      },
      onAuditRefused: (err) => logFailure(log, 'webhook decision audited without its details', err, { runId }),
      openEngine: async (actor) => {
        const clock = await invocationClock(systemClock, process.env.BYOK_LOCAL_TIME_URL);
        // The budget is real time; under the local stack's --speed the engine clock runs `rate` times faster.
        const budgetMs = WRITE_BUDGET_MS * Math.max(1, clock.rate ?? 1);
        return runtime.deps(context, { actor, runId, clock, deadlineMs: clock.nowMs() + budgetMs });
      },
    });
    const targets = reply.results?.map((r) => r.target).join(' ');
    log.info('webhook processed', { runId, accepted: reply.accepted, duplicates: reply.duplicates, targets });
    return jsonResponse(200, reply);
  } catch (err) {
    const response = publicErrorResponse(err);
    // Unauthenticated callers reach this too: the log says what happened, the response only which kind.
    logFailure(log, isRefusal(err) ? 'webhook refused' : 'webhook failed', err, { runId, status: response.statusCode });
    return response;
  }
}
