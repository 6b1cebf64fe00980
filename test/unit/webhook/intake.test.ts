/**
 * The webhook's decisions (shared/webhook/intake.ts, secrets.ts), with values and a fake engine:
 * target grouping, the full sweep for "all", who a delivery acts for, one audit decision per
 * intent, de-duplication (and forgetting a delivery whose processing failed), and the secrets
 * cached per KMS client.
 */
import { describe, expect, it } from 'vitest';
import { createAuditLog, memoryAuditSink } from '../../../shared/audit/index.js';
import { SecretString } from '../../../shared/config/index.js';
import { ErrorCode, OrchestratorError } from '../../../shared/errors.js';
import type { EngineDeps } from '../../../shared/lifecycle/ports.js';
import {
  DedupeCache,
  WebhookSecretCache,
  auditSafeId,
  distinctTargets,
  processWebhook,
  signWebhook,
  webhookActor,
  type CheckResult,
  type WebhookIntakeDeps,
  type WebhookIntent,
  type WebhookTarget,
} from '../../../shared/webhook/index.js';
import { KEY_ID, kmsCloudEvent } from './fixtures.js';

// Fixed test secrets, listed in test/fixtures/secrets.txt.
const SECRET = 'whsec-test-5f1c9a7e2b4d8c0e';
const TOKEN = 'cms-token-test-9d2e7b41a6c3';
const NOW_MS = 1_748_743_384_000;

const intent = (target: WebhookTarget, extra: Partial<WebhookIntent> = {}): WebhookIntent =>
  ({
    kind: 'check',
    target,
    reason: 'r',
    source: 'generic',
    dedupeKey: JSON.stringify(target),
    ...extra,
  }) as WebhookIntent;

describe('target grouping', () => {
  it('checks each distinct target once, in first-seen order', () => {
    const intents = [
      intent({ keyId: 'k-1' }),
      intent({ alias: 'alias/a' }),
      intent({ keyId: 'k-1' }, { kind: 'alert', severity: 'critical' } as Partial<WebhookIntent>),
      intent({ all: true }),
      intent({ alias: 'alias/a' }),
    ];
    expect(distinctTargets(intents)).toEqual([
      { key: 'key:k-1', target: { keyId: 'k-1' } },
      { key: 'alias:alias/a', target: { alias: 'alias/a' } },
      { key: 'all', target: { all: true } },
    ]);
  });
});

describe('a refused read (revive)', () => {
  it('keeps one check per key, the revive one when any intent asks for it', () => {
    const intents = [intent({ keyId: 'k-1' }), intent({ keyId: 'k-1', revive: true }), intent({ keyId: 'k-1' })];
    expect(distinctTargets(intents)).toEqual([{ key: 'key:k-1', target: { keyId: 'k-1', revive: true } }]);
  });
});

describe('who a delivery acts for', () => {
  it('names the ActionTrail identity when there is one, else the source and the auth method', () => {
    const actor = { type: 'ram-user', name: 'oncall bob (console)' };
    expect(webhookActor('eventbridge', [intent({ keyId: 'k' }, { actor })], 'hmac')).toEqual({
      kind: 'webhook',
      id: 'eventbridge:oncall_bob__console_',
    });
    expect(
      webhookActor('eventbridge', [intent({ keyId: 'k' }, { actor: { type: 'x', principalId: '2000' } })], 'hmac').id,
    ).toBe('eventbridge:2000');
    expect(webhookActor('cloudmonitor', [intent({ keyId: 'k' })], 'token')).toEqual({
      kind: 'webhook',
      id: 'cloudmonitor:cloudmonitor-token',
    });
  });

  it('makes any name audit-safe: allowed characters, a leading letter or digit, at most 100 characters', () => {
    expect([auditSafeId('__x y'), auditSafeId(''), auditSafeId('é'), auditSafeId('a'.repeat(150)).length]).toEqual([
      'x_y',
      'unknown',
      'unknown',
      100,
    ]);
  });
});

/** A fake engine: a memory audit log, checks answered from `answer`, closes counted. */
async function harness(answer: (target: WebhookTarget) => CheckResult | Promise<CheckResult> = okCheck) {
  const sink = memoryAuditSink();
  const state = { opened: [] as Array<{ kind: string; id: string }>, closed: 0, checked: [] as WebhookTarget[] };
  const dedupe = new DedupeCache();
  let secretReads = 0;
  const deps: WebhookIntakeDeps = {
    dedupe,
    nowMs: () => NOW_MS,
    secrets: async () => {
      secretReads++;
      return { hmac: [SECRET], tokens: [TOKEN] };
    },
    openEngine: async (actor) => {
      state.opened.push(actor);
      const audit = await createAuditLog({
        sinks: [sink],
        clock: { nowMs: () => NOW_MS },
        actor,
        runId: 'webhook-test',
      });
      return { audit, close: async () => void state.closed++ } as unknown as EngineDeps & { close(): Promise<void> };
    },
    check: async (_deps, target) => {
      state.checked.push(target);
      return answer(target);
    },
  };
  return { deps, sink, state, dedupe, secretReads: () => secretReads };
}

function okCheck(target: WebhookTarget): CheckResult {
  const counts = { ok: 1, failed: 0, skipped: 0, deferred: 0, alerted: 0 };
  const action = { kind: 'reimport', lineage: 'p', keyId: 'keyId' in target ? target.keyId : 'k', reason: 'why' };
  return {
    planId: 'plan-1',
    counts,
    alertWorthy: false,
    results: [{ action, outcome: 'ok', detail: 're-imported', kmsRequestIds: [] }],
  } as unknown as CheckResult;
}

function signedDelivery(body: string) {
  const ts = Math.floor(NOW_MS / 1000);
  const headers = { 'x-byok-timestamp': String(ts), 'x-byok-signature': signWebhook(SECRET, ts, body) };
  return { headers, query: {}, rawBody: Buffer.from(body), contentType: 'application/json' };
}

describe('processWebhook', () => {
  it('audits one decision per intent, checks each target once and closes the engine deps', async () => {
    const h = await harness();
    const event = kmsCloudEvent('ScheduleKeyDeletion'); // alert + check on the same key
    const reply = await processWebhook(signedDelivery(JSON.stringify(event)), h.deps);
    expect(reply).toEqual({
      accepted: 2,
      duplicates: 0,
      ignored: [],
      results: [
        {
          target: `key:${KEY_ID}`,
          planId: 'plan-1',
          counts: { ok: 1, failed: 0, skipped: 0, deferred: 0, alerted: 0 },
          actions: [{ kind: 'reimport', outcome: 'ok', detail: 're-imported' }],
        },
      ],
    });
    expect(h.state.opened).toEqual([{ kind: 'webhook', id: 'eventbridge:oncall-bob' }]);
    expect(h.state.checked).toEqual([{ keyId: KEY_ID }]);
    expect(h.sink.events.map((e) => [e.action, e.phase, e.details])).toEqual([
      ['webhook-alert', 'decision', { source: 'eventbridge', target: `key:${KEY_ID}`, severity: 'critical' }],
      ['webhook-check', 'decision', { source: 'eventbridge', target: `key:${KEY_ID}` }],
    ]);
    expect(h.state.closed).toBe(1);
  });

  it('answers a repeated delivery as duplicates without opening the engine', async () => {
    const h = await harness();
    const body = JSON.stringify({ action: 'check', alias: 'alias/payments' });
    await processWebhook(signedDelivery(body), h.deps);
    const again = await processWebhook(signedDelivery(body), h.deps);
    expect(again).toEqual({ accepted: 0, duplicates: 1, ignored: [] });
    expect(h.state.opened).toHaveLength(1);
  });

  it('runs the full sweep for "all managed keys" (the default check, not a targeted one)', async () => {
    const h = await harness();
    const body = JSON.stringify({ action: 'check', reason: 'look at everything' });
    const reply = await processWebhook(signedDelivery(body), h.deps);
    expect([h.state.checked, reply.results?.map((r) => r.target)]).toEqual([[{ all: true }], ['all']]);
  });

  it('refuses an unauthenticated delivery before parsing it or opening the engine', async () => {
    const h = await harness();
    const delivery = { ...signedDelivery('{"action":"check"}'), headers: {} };
    await expect(processWebhook(delivery, h.deps)).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
    expect(h.state.opened).toEqual([]);
  });

  it(
    'forgets a delivery whose processing failed, so the ' + "sender's retry is processed (and closes the deps)",
    async () => {
      let fail = true;
      const h = await harness((target) => {
        if (fail) throw new OrchestratorError(ErrorCode.KmsUnavailable, 'KMS ListKeys failed: ServiceUnavailable');
        return okCheck(target);
      });
      const body = JSON.stringify({ action: 'check', key: KEY_ID });
      await expect(processWebhook(signedDelivery(body), h.deps)).rejects.toMatchObject({
        code: ErrorCode.KmsUnavailable,
      });
      expect(h.state.closed).toBe(1);
      fail = false;
      expect(await processWebhook(signedDelivery(body), h.deps)).toMatchObject({ accepted: 1, duplicates: 0 });
    },
  );
});

describe('processWebhook (issue 8)', () => {
  function failedCheck(target: WebhookTarget): CheckResult {
    const r = okCheck(target) as unknown as { counts: Record<string, number>; results: Array<Record<string, unknown>> };
    r.counts = { ok: 0, failed: 1, skipped: 0, deferred: 0, alerted: 0 };
    r.results = [{ ...r.results[0], outcome: 'failed', detail: 'failed', errorCode: 'ERR_KMS_INVALID_KEY_MATERIAL' }];
    return r as unknown as CheckResult;
  }

  it('answers a failed repair with RepairFailed naming the key and code, and processes the redelivery', async () => {
    let fail = true;
    const h = await harness((target) => (fail ? failedCheck(target) : okCheck(target)));
    const body = JSON.stringify({ action: 'reimport', key: KEY_ID });
    const err = await processWebhook(signedDelivery(body), h.deps).then(
      () => undefined,
      (e: OrchestratorError) => e,
    );
    expect([err?.code, err?.message]).toEqual([
      ErrorCode.RepairFailed,
      `webhook: repair failed: reimport ${KEY_ID}: ERR_KMS_INVALID_KEY_MATERIAL`,
    ]);
    fail = false;
    expect(await processWebhook(signedDelivery(body), h.deps)).toMatchObject({ accepted: 1, duplicates: 0 });
    expect(h.state.checked).toHaveLength(2);
  });

  it('answers a repair deferred for lack of time with RepairFailed too (not done is not 200)', async () => {
    const h = await harness((target) => {
      const r = failedCheck(target) as unknown as { results: Array<Record<string, unknown>> };
      r.results = [{ ...r.results[0], outcome: 'deferred', errorCode: undefined }];
      return r as unknown as CheckResult;
    });
    const body = JSON.stringify({ action: 'reimport', key: KEY_ID });
    await expect(processWebhook(signedDelivery(body), h.deps)).rejects.toMatchObject({
      code: ErrorCode.RepairFailed,
      message: `webhook: repair failed: reimport ${KEY_ID}: ERR_TIME_BUDGET_EXHAUSTED`,
    });
  });

  it('runs the repair for an actor and alias the old guard called secret-looking', async () => {
    const h = await harness();
    const event = kmsCloudEvent(
      'DeleteKeyMaterial',
      {
        userIdentity: { type: 'ram-user', userName: 'Jenkins-Deploy-Job-Production-Key2' },
        requestParameters: { AliasName: 'alias/PaymentsAPIKeyForEUWest2Prod' },
        referencedResources: {},
      },
      { subject: 'x' },
    );
    const reply = await processWebhook(signedDelivery(JSON.stringify(event)), h.deps);
    expect(reply.results?.map((r) => r.target)).toEqual(['alias:alias/PaymentsAPIKeyForEUWest2Prod']);
    expect(h.state.opened).toEqual([{ kind: 'webhook', id: 'eventbridge:Jenkins-Deploy-Job-Production-Key2' }]);
    expect(h.sink.events.map((e) => e.details?.target)).toEqual(['alias:alias/PaymentsAPIKeyForEUWest2Prod']);
  });

  it('still runs the repair when the audit guard refuses a decision record', async () => {
    const h = await harness();
    const refusedEvents: unknown[] = [];
    const deps: WebhookIntakeDeps = {
      ...h.deps,
      onAuditRefused: (e) => refusedEvents.push(e),
      openEngine: async (actor) => {
        const engine = await h.deps.openEngine(actor);
        const record = engine.audit.record.bind(engine.audit);
        let first = true;
        engine.audit.record = async (e) => {
          if (first) {
            first = false;
            throw new OrchestratorError(ErrorCode.InvalidInput, 'details.target: refused', {
              details: { field: 'details.target' },
            });
          }
          return record(e);
        };
        return engine;
      },
    };
    const reply = await processWebhook(signedDelivery(JSON.stringify({ action: 'check', key: KEY_ID })), deps);
    expect([reply.results?.length, refusedEvents.length, h.state.checked]).toEqual([1, 1, [{ keyId: KEY_ID }]]);
  });

  it("ignores the orchestrator's own writes by role, session or own AccessKey id", async () => {
    const own = [
      { type: 'assumed-role', userName: 'byok-orchestrator:s1', principalId: '3001:s1' },
      { type: 'assumed-role', userName: 'other-role:fc-session-7', principalId: '3002:fc-session-7' },
      { type: 'assumed-role', userName: 'x:y', principalId: '3003:y', accessKeyId: 'STS.OWNKEY' },
    ];
    for (const userIdentity of own) {
      const h = await harness();
      const deps = {
        ...h.deps,
        self: { roleNames: ['byok-orchestrator'], sessionNames: ['fc-session-7'], accessKeyIds: ['STS.OWNKEY'] },
      };
      const event = kmsCloudEvent('ImportKeyMaterial', { userIdentity });
      const reply = await processWebhook(signedDelivery(JSON.stringify(event)), deps);
      expect([reply.accepted, h.state.opened.length]).toEqual([0, 0]);
    }
  });

  it('refuses (401) rather than failing when the secrets cannot be loaded', async () => {
    const h = await harness();
    const deps = {
      ...h.deps,
      secrets: async () => {
        throw new OrchestratorError(ErrorCode.KmsNotFound, 'KMS GetSecretValue failed: Forbidden.ResourceNotFound');
      },
    };
    await expect(processWebhook(signedDelivery('{"action":"check"}'), deps)).rejects.toMatchObject({
      code: ErrorCode.Unauthenticated,
    });
  });
});

describe('webhook secrets', () => {
  const settings = {
    secret: { source: 'kms-secret' as const, secretName: 'byok-webhook-hmac' },
    urlToken: { source: 'value' as const, value: new SecretString(TOKEN) },
  };

  function reader(data: string, failures = 0) {
    const calls: string[] = [];
    let left = failures;
    return {
      calls,
      getSecretValue: async ({ secretName }: { secretName: string }) => {
        calls.push(secretName);
        if (left-- > 0) throw new OrchestratorError(ErrorCode.KmsUnavailable, 'KMS GetSecretValue failed');
        return { secretData: data } as never;
      },
    };
  }

  it('reads the secrets once, then only when older than the maximum age (not per request)', async () => {
    let now = NOW_MS;
    const cache = new WebhookSecretCache({ maxAgeMs: 60_000, nowMs: () => now });
    const kms = reader(SECRET);
    expect(await cache.accepted(kms, settings)).toEqual({ hmac: [SECRET], tokens: [TOKEN] });
    for (let i = 0; i < 5; i++) await cache.accepted(kms, settings);
    expect(kms.calls).toEqual(['byok-webhook-hmac']);
    now += 60_000;
    await cache.accepted(kms, settings);
    expect(kms.calls).toHaveLength(2);
  });

  it('accepts old and new values during a rotation, and the new one within the maximum age', async () => {
    let now = NOW_MS;
    let value = SECRET;
    const kms = {
      getSecretValue: async () => ({ secretData: value }) as never,
    };
    const cache = new WebhookSecretCache({ maxAgeMs: 60_000, nowMs: () => now });
    expect((await cache.accepted(kms, settings)).hmac).toEqual([SECRET]);
    value = 'whsec-test-rotated-7c1d0a9e';
    expect((await cache.accepted(kms, settings)).hmac).toEqual([SECRET]);
    now += 60_000;
    expect((await cache.accepted(kms, settings)).hmac).toEqual([value, SECRET]);
    now += 60_000;
    expect((await cache.accepted(kms, settings)).hmac).toEqual([value]);
  });

  it('after a failed read: no secrets (all refused alike), the error reported, no re-read per request', async () => {
    let now = NOW_MS;
    const cache = new WebhookSecretCache({ retryMs: 30_000, nowMs: () => now });
    const flaky = reader(SECRET, 1);
    const errors: unknown[] = [];
    expect(await cache.accepted(flaky, settings, (e) => errors.push(e))).toEqual({ hmac: [], tokens: [] });
    await cache.accepted(flaky, settings);
    expect([flaky.calls.length, errors.length]).toEqual([1, 1]);
    now += 30_000;
    expect((await cache.accepted(flaky, settings)).hmac).toEqual([SECRET]);
  });

  it('needs no KMS call when the secrets are configured as values, and none when unset', async () => {
    const kms = reader('unused');
    expect(await new WebhookSecretCache().accepted(kms, {})).toEqual({ hmac: [], tokens: [] });
    expect(kms.calls).toEqual([]);
  });
});
