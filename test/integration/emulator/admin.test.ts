import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKmsEmulator } from '@byok/kms-emulator';
import type { KmsEmulator } from '@byok/kms-emulator';
import { $Kms, expectKmsError, externalKeyWithMaterial, rawCall, sdkClient } from './helpers.js';
import type Client from '@alicloud/kms20160120';

let emu: KmsEmulator;
let kms: Client;

beforeAll(async () => {
  emu = await startKmsEmulator({ kmsVersion: 1, port: 0, admin: true, faultSeed: 7 });
  kms = sdkClient(emu);
});
afterAll(() => emu.close());

const admin = (method: string, route: string, json?: unknown) =>
  rawCall(emu, { method, path: `/__emulator/${route}`, json });
const listKeys = () => kms.listKeys(new $Kms.ListKeysRequest({}));

describe('GET /__emulator/state', () => {
  it('summarises keys, aliases and secrets without material, tokens or secret data', async () => {
    const material = randomBytes(32);
    const expiry = emu.clock.nowUnix() + 86_400;
    const { keyId } = await externalKeyWithMaterial(kms, { material, expireUnix: expiry });
    await kms.createAlias(new $Kms.CreateAliasRequest({ aliasName: 'alias/admin-view', keyId }));
    await kms.createSecret(
      new $Kms.CreateSecretRequest({ secretName: 'admin-secret', versionId: 'v1', secretData: 'PLAINTEXT-SECRET' }),
    );
    const params = await kms.getParametersForImport(
      new $Kms.GetParametersForImportRequest({
        keyId,
        wrappingAlgorithm: 'RSAES_OAEP_SHA_256',
        wrappingKeySpec: 'RSA_2048',
      }),
    );
    const res = await admin('GET', 'state');
    expect(res.status).toBe(200);
    expect(Math.abs((res.body['nowUnix'] as number) - emu.clock.nowUnix())).toBeLessThanOrEqual(1);
    const keys = res.body['keys'] as Array<Record<string, unknown>>;
    expect(keys.find((k) => k['keyId'] === keyId)).toMatchObject({
      state: 'Enabled',
      origin: 'EXTERNAL',
      hasMaterial: true,
      materialBound: true,
      materialExpireUnix: expiry,
    });
    expect(res.body['aliases']).toContainEqual({ aliasName: 'alias/admin-view', keyId });
    expect((res.body['secrets'] as Array<Record<string, unknown>>).map((s) => s['secretName'])).toContain(
      'admin-secret',
    );
    for (const forbidden of [
      material.toString('base64'),
      material.toString('hex'),
      'PLAINTEXT-SECRET',
      params.importToken,
    ]) {
      expect(res.text).not.toContain(forbidden);
    }
  });
});

describe('POST /__emulator/clock', () => {
  it('advances the emulator clock, which drives material expiry', async () => {
    const { keyId } = await externalKeyWithMaterial(kms, { expireUnix: emu.clock.nowUnix() + 600 });
    const before = emu.clock.nowUnix();
    const res = await admin('POST', 'clock', { advanceSeconds: 601 });
    expect(res.status).toBe(200);
    expect((res.body['nowUnix'] as number) - before).toBeGreaterThanOrEqual(601);
    expect((await kms.describeKey(new $Kms.DescribeKeyRequest({ keyId }))).keyMetadata.keyState).toBe('PendingImport');
  });

  it('sets the clock to an absolute time', async () => {
    const target = emu.clock.nowUnix() + 10 * 86_400;
    const res = await admin('POST', 'clock', { setUnix: target });
    expect(res.body['nowUnix']).toBeGreaterThanOrEqual(target);
    expect(emu.clock.nowUnix() - target).toBeLessThanOrEqual(1);
  });

  it.each([
    [{}, 'exactly one'],
    [{ advanceSeconds: -5 }, 'non-negative'],
    [{ advanceSeconds: 'soon' }, 'non-negative'],
    [{ warp: 1 }, 'unknown field'],
  ])('refuses %j with 400 and a reason', async (body, reason) => {
    const res = await admin('POST', 'clock', body);
    expect(res.status).toBe(400);
    expect(res.body['error']).toContain(reason);
  });

  it('refuses a non-JSON body with 400', async () => {
    const res = await admin('POST', 'clock', 'not json');
    expect([res.status, res.body['error']]).toEqual([400, 'body is not valid JSON']);
  });
});

describe('POST /__emulator/faults', () => {
  it('throttles exactly `count` requests with Throttling 400, then stops', async () => {
    const res = await admin('POST', 'faults', { kind: 'throttle', rate: 1, count: 2 });
    expect(res.status).toBe(200);
    await expectKmsError(listKeys(), 'Throttling', 400);
    await expectKmsError(listKeys(), 'Throttling', 400);
    expect((await listKeys()).requestId).toBeTruthy();
  });

  it('answers error5xx with ServiceUnavailableTemporary 503 JSON, only for the listed actions', async () => {
    await admin('POST', 'faults', { kind: 'error5xx', actions: ['Encrypt'], count: 1 });
    const keyId = (await kms.createKey(new $Kms.CreateKeyRequest({}))).keyMetadata.keyId;
    const body = await expectKmsError(
      kms.encrypt(new $Kms.EncryptRequest({ keyId, plaintext: 'x' })),
      'ServiceUnavailableTemporary',
      503,
    );
    expect(body['Message']).toBe('Service Unavailable Temporary.');
    expect((await kms.encrypt(new $Kms.EncryptRequest({ keyId, plaintext: 'x' }))).keyId).toBe(keyId);
  });

  it('adds latency', async () => {
    await admin('POST', 'faults', { kind: 'latency', latencyMs: 300, count: 1 });
    const started = Date.now();
    await listKeys();
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('applies a rate: 0 never fires', async () => {
    await admin('POST', 'faults', { kind: 'throttle', rate: 0 });
    const outcomes: string[] = [];
    for (let i = 0; i < 5; i += 1)
      outcomes.push(
        await listKeys().then(
          () => 'ok',
          (e: { data?: { Code?: string } }) => e.data?.Code ?? 'error',
        ),
      );
    expect(outcomes).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    await admin('DELETE', 'faults');
  });

  it('is cleared by DELETE and by kind "reset"', async () => {
    await admin('POST', 'faults', { kind: 'throttle' });
    await expectKmsError(listKeys(), 'Throttling', 400);
    expect((await admin('DELETE', 'faults')).body).toEqual({ faults: [] });
    await listKeys();
    await admin('POST', 'faults', { kind: 'error5xx' });
    await admin('POST', 'faults', { kind: 'reset' });
    await listKeys();
    expect((await admin('GET', 'state')).body['faults']).toEqual([]);
  });

  it.each([
    [{ kind: 'meteor' }, '"kind"'],
    [{ kind: 'throttle', rate: 1.5 }, '"rate"'],
    [{ kind: 'throttle', actions: ['NotAnAction'] }, 'NotAnAction'],
    [{ kind: 'throttle', count: -1 }, '"count"'],
    [{ kind: 'latency' }, '"latencyMs"'],
  ])('refuses %j with 400 and a reason', async (body, reason) => {
    const res = await admin('POST', 'faults', body);
    expect(res.status).toBe(400);
    expect(res.body['error']).toContain(reason);
  });

  it('is also available in-process', async () => {
    emu.faults.inject({ kind: 'throttle', count: 1 });
    expect(emu.faults.active()).toHaveLength(1);
    await expectKmsError(listKeys(), 'Throttling', 400);
    expect(emu.faults.active()).toEqual([]);
  });
});

describe('POST /__emulator/qps', () => {
  it('limits requests across all actions with a token bucket, and 0 turns it off', async () => {
    expect((await admin('POST', 'qps', { limit: 1 })).body).toEqual({ qpsLimit: 1 });
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => listKeys()));
    const throttled = results.filter((r) => r.status === 'rejected');
    expect(throttled.length).toBeGreaterThanOrEqual(4); // burst 1, refill 1/s
    for (const r of throttled)
      expect(((r as PromiseRejectedResult).reason as { data: { Code: string } }).data.Code).toBe('Throttling');
    expect((await admin('POST', 'qps', { limit: 0 })).body).toEqual({ qpsLimit: 0 });
    await Promise.all(Array.from({ length: 8 }, () => listKeys()));
  });

  it('refuses a bad limit with 400', async () => {
    const res = await admin('POST', 'qps', { limit: 'lots' });
    expect(res.status).toBe(400);
    expect(res.body['error']).toContain('"limit"');
  });
});

describe('admin routing', () => {
  it('answers unknown admin routes with 404 and wrong methods with 405', async () => {
    expect((await admin('GET', 'nothing')).status).toBe(404);
    expect((await admin('PUT', 'clock', {})).status).toBe(405);
  });

  it('is absent (404) without --admin', async () => {
    const plain = await startKmsEmulator({ kmsVersion: 1 });
    try {
      const res = await rawCall(plain, { method: 'POST', path: '/__emulator/clock', json: { advanceSeconds: 1 } });
      expect(res.status).toBe(404);
      expect((await rawCall(plain, { method: 'GET', path: '/__emulator/state' })).status).toBe(404);
    } finally {
      await plain.close();
    }
  });
});
