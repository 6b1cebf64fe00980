/**
 * End to end: the built bundles under the local FC host, against the KMS emulator, driven the way
 * FC drives them (timer events, HTTP trigger events) and checked through the official KMS SDK.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedLineage, type LocalStack } from '../../scripts/local/stack.js';
import { buildKms } from '../../shared/bootstrap.js';
import { parseConfig } from '../../shared/config/index.js';
import type { KmsPort } from '../../shared/kms/port.js';
import { systemRandom } from '../../shared/system.js';
import { signWebhook } from '../../shared/webhook/index.js';
import { startE2eStack } from '../support/local-stack.js';

let env: Awaited<ReturnType<typeof startE2eStack>>;
let stack: LocalStack;
let kms: KmsPort;
let demoKeyId: string;
const DAY = 86_400;

beforeAll(async () => {
  env = await startE2eStack();
  stack = env.stack;
  kms = buildKms(parseConfig(stack.cliEnv), () => stack.operator, systemRandom);
  demoKeyId = (await seedLineage(stack, 'alias/e2e', 'e2e-test')).keyId;
}, 120_000);
afterAll(async () => {
  await env?.close();
});

const writeActions = new RegExp(
  '(CreateKey|ImportKeyMaterial|DeleteKeyMaterial|TagResource|UntagResource|CreateAlias|UpdateAlias|' +
    'PutSecretValue|CreateSecret|EnableKey|DisableKey)',
);
const kmsWritesIn = (lines: string[]) => lines.filter((l) => l.startsWith('[kms]') && writeActions.test(l));

async function postWebhook(
  body: string,
  headers: Record<string, string>,
  query = '',
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${stack.host.httpTriggerUrl(stack.functionNames.webhook)}${query}`, {
    method: 'POST',
    headers,
    body,
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

function signedHeaders(body: string, contentType = 'application/json'): Record<string, string> {
  const ts = Math.floor(Date.now() / 1000);
  return {
    'content-type': contentType,
    'x-byok-timestamp': String(ts),
    'x-byok-signature': signWebhook(stack.secrets.webhookHmac, ts, body),
  };
}

function deleteKeyMaterialEvent(keyId: string, id: string): string {
  return JSON.stringify({
    id,
    source: 'acs.kms',
    specversion: '1.0',
    type: 'kms:ActionTrail:ApiCall',
    subject: `acs.kms:cn-hangzhou:1234567890123456:key/${keyId}`,
    time: new Date().toISOString(),
    datacontenttype: 'application/json;charset=utf-8',
    aliyunaccountid: '1234567890123456',
    aliyunregionid: 'cn-hangzhou',
    data: {
      eventType: 'ApiCall',
      eventName: 'DeleteKeyMaterial',
      serviceName: 'Kms',
      userIdentity: { type: 'ram-user', accountId: '1234567890123456', principalId: '2000', userName: 'someone-else' },
      requestParameters: { KeyId: keyId },
    },
  });
}

describe('sweep function (timer trigger)', () => {
  it('renews material near expiry when its timer fires', async () => {
    const before = await kms.describeKey(demoKeyId);
    stack.emu.clock.advance(25 * DAY); // 5 days left of 30: inside the 7-day window
    const r = await stack.host.fireTimer(stack.functionNames.sweep, 'sweep-every-6h');
    expect(r.kind).toBe('ok');
    const summary = JSON.parse(r.kind === 'ok' ? r.body.toString() : '{}');
    expect(summary.results).toContainEqual(expect.objectContaining({ kind: 'renew', keyId: demoKeyId, outcome: 'ok' }));
    const after = await kms.describeKey(demoKeyId);
    expect(after.materialExpireAtMs! - before.materialExpireAtMs!).toBeGreaterThanOrEqual(25 * DAY * 1000);
    expect(after.materialExpireAtMs! - stack.emu.clock.nowUnix() * 1000).toBeGreaterThan(29 * DAY * 1000);
  });

  it('acknowledges a redelivered timer event without running again', async () => {
    const at = new Date('2030-01-01T00:00:00Z');
    const first = await stack.host.fireTimer(stack.functionNames.sweep, 'sweep-every-6h', at);
    const again = await stack.host.fireTimer(stack.functionNames.sweep, 'sweep-every-6h', at);
    expect(first.kind === 'ok' && JSON.parse(first.body.toString()).duplicate).toBeUndefined();
    expect(again.kind === 'ok' && JSON.parse(again.body.toString()).duplicate).toBe(true);
  });
});

describe('webhook function (HTTP trigger)', () => {
  it('re-imports a managed key after a signed EventBridge DeleteKeyMaterial event', async () => {
    await kms.deleteKeyMaterial(demoKeyId);
    expect((await kms.describeKey(demoKeyId)).keyState).toBe('PendingImport');
    const body = deleteKeyMaterialEvent(demoKeyId, 'evt-delete-1');
    const r = await postWebhook(body, signedHeaders(body));
    expect(r.status).toBe(200);
    expect(r.json.accepted).toBeGreaterThanOrEqual(1);
    expect((await kms.describeKey(demoKeyId)).keyState).toBe('Enabled');
  });

  it('answers a repeated delivery as a duplicate', async () => {
    const body = deleteKeyMaterialEvent(demoKeyId, 'evt-delete-1');
    const r = await postWebhook(body, signedHeaders(body));
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ accepted: 0 });
  });

  it('processes a redelivery of an event whose first delivery failed (no false duplicate)', async () => {
    const body = deleteKeyMaterialEvent(demoKeyId, 'evt-fails-first');
    // DescribeKey: the webhook's targeted check reads its key first (it never lists the account).
    stack.emu.faults.inject({ kind: 'error5xx', rate: 1, actions: ['DescribeKey'], count: 20 });
    const first = await postWebhook(body, signedHeaders(body));
    stack.emu.faults.reset();
    expect(first.status).toBe(503);
    expect(first.json).toEqual({
      error: { code: 'ERR_KMS_UNAVAILABLE', message: 'temporarily unable to process; retry later' },
    });
    const again = await postWebhook(body, signedHeaders(body));
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ accepted: 1, duplicates: 0 });
  });

  it('refuses an unsigned call with 401 and makes no KMS write', async () => {
    const body = deleteKeyMaterialEvent(demoKeyId, 'evt-unsigned');
    const mark = env.lines.length;
    const r = await postWebhook(body, { 'content-type': 'application/json' });
    expect(r.status).toBe(401);
    expect(r.json).toEqual({ error: { code: 'ERR_UNAUTHENTICATED', message: expect.any(String) } });
    expect(kmsWritesIn(env.lines.slice(mark))).toEqual([]);
  });

  it('refuses a badly signed call with 401, makes no KMS write and echoes no secret', async () => {
    const body = deleteKeyMaterialEvent(demoKeyId, 'evt-badsig');
    const headers = signedHeaders(body);
    headers['x-byok-signature'] = signWebhook('not-the-secret', headers['x-byok-timestamp']!, body);
    const mark = env.lines.length;
    const res = await fetch(stack.host.httpTriggerUrl(stack.functionNames.webhook), { method: 'POST', headers, body });
    const text = await res.text();
    expect(res.status).toBe(401);
    expect(text).not.toContain(stack.secrets.webhookHmac);
    expect(text).not.toContain(headers['x-byok-signature']!.slice(3));
    expect(text).not.toMatch(/at .*\.js:\d+/); // no stack trace
    expect(kmsWritesIn(env.lines.slice(mark))).toEqual([]);
  });

  it('accepts a CloudMonitor form callback carrying the right URL token', async () => {
    const form = new URLSearchParams({
      alertName: 'byok material expires soon',
      alertState: 'ALERT',
      triggerLevel: 'CRITICAL',
      metricName: 'byok_days_to_expiry',
      curValue: '5',
      timestamp: String(Date.now()),
      dimensions: `{keyId=${demoKeyId}, region=cn-hangzhou}`,
      transId: 'trans-1',
    }).toString();
    const ok = await postWebhook(
      form,
      { 'content-type': 'application/x-www-form-urlencoded' },
      `?token=${stack.secrets.webhookToken}`,
    );
    expect(ok.status).toBe(200);
    const wrong = await postWebhook(
      form,
      { 'content-type': 'application/x-www-form-urlencoded' },
      '?token=wrong-token-value-000000',
    );
    expect(wrong.status).toBe(401);
  });

  it('answers an unknown payload with 400 and a reason', async () => {
    const body = JSON.stringify({ hello: 'world' });
    const r = await postWebhook(body, signedHeaders(body));
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ error: { code: 'ERR_UNKNOWN_PAYLOAD' } });
  });
});

describe('redaction across the running stack', () => {
  it(
    'prints no material, webhook secret, URL token or credential ' + 'secret in any host, emulator or function output',
    async () => {
      const { openFileEscrowStore } = await import('../../shared/escrow/file-store.js');
      const escrow = await openFileEscrowStore({
        dir: stack.cliEnv.BYOK_ESCROW_DIR!,
        masterKeyFile: stack.cliEnv.BYOK_ESCROW_MASTER_KEY_FILE!,
        random: systemRandom,
      });
      const materials = await Promise.all(
        (await escrow.list()).records.map(async (r) => (await escrow.get(r.keyId)).material),
      );
      expect(materials.length).toBeGreaterThanOrEqual(1);
      const forms = (b: Buffer) => [b.toString('hex'), b.toString('base64'), b.toString('base64url')];
      const secrets = [
        ...materials.flatMap(forms),
        stack.secrets.webhookHmac,
        stack.secrets.webhookToken,
        stack.operator.accessKeySecret,
      ];
      const output = env.lines.join('\n');
      expect(output).toContain('byok-sweep'); // the functions' own lines are in there
      expect(secrets.filter((s) => output.includes(s))).toEqual([]);
    },
  );
});
