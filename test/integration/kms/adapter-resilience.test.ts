/**
 * The KMS adapter over real HTTP against the emulator's fault injection and QPS limit: throttling
 * and 5xx are retried with backoff, state rejections are not, an ambiguous CreateKey is not
 * repeated, and a client-side rate limit keeps a burst under the account's QPS.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startKmsEmulator, type KmsEmulator } from '@byok/kms-emulator';
import { createAlicloudKms, type AlicloudKmsOptions } from '../../../shared/kms/alicloud-adapter.js';
import { systemRandom } from '../../../shared/system.js';

const AK = { accessKeyId: 'resilience-ak', accessKeySecret: 'resilience-secret-0123456789' };
let emu: KmsEmulator;
beforeAll(async () => {
  emu = await startKmsEmulator({ kmsVersion: 1, port: 0, credentials: [AK] });
});
afterAll(async () => {
  await emu?.close();
});
afterEach(() => {
  emu.faults.reset();
  emu.faults.setQpsLimit(0);
});

function adapter(over: Partial<AlicloudKmsOptions> = {}) {
  const retries: Array<{ action: string; code: string }> = [];
  const kms = createAlicloudKms({
    endpoint: emu.endpoint,
    protocol: 'http',
    regionId: 'cn-hangzhou',
    credentials: () => AK,
    random: systemRandom,
    nowMs: () => Date.now(),
    retry: { maxAttempts: 4, baseDelayMs: 10, maxDelayMs: 50 },
    onRetry: (r) => retries.push({ action: r.action, code: r.code }),
    ...over,
  });
  return { kms, retries };
}

describe('KMS adapter against injected faults', () => {
  it('retries throttling until the call succeeds', async () => {
    const { kms, retries } = adapter();
    const key = await kms.createKey({ origin: 'Aliyun_KMS', keySpec: 'Aliyun_AES_256' });
    emu.faults.inject({ kind: 'throttle', rate: 1, actions: ['DescribeKey'], count: 2 });
    expect((await kms.describeKey(key.keyId)).keyId).toBe(key.keyId);
    expect(retries).toEqual([
      { action: 'DescribeKey', code: 'Throttling' },
      { action: 'DescribeKey', code: 'Throttling' },
    ]);
  });

  it('gives up on persistent 5xx after maxAttempts with a retryable coded error', async () => {
    const { kms, retries } = adapter();
    emu.faults.inject({ kind: 'error5xx', rate: 1, actions: ['ListKeys'], count: 10 });
    await expect(kms.listKeys()).rejects.toMatchObject({
      code: 'ERR_KMS_UNAVAILABLE',
      retryable: true,
      details: { kmsCode: 'ServiceUnavailableTemporary', httpStatus: 503 },
    });
    expect(retries).toHaveLength(3);
  });

  it('does not repeat a CreateKey that failed with a 5xx (it may have created the key)', async () => {
    const { kms, retries } = adapter();
    emu.faults.inject({ kind: 'error5xx', rate: 1, actions: ['CreateKey'], count: 1 });
    await expect(kms.createKey({ origin: 'EXTERNAL', keySpec: 'Aliyun_AES_256' })).rejects.toMatchObject({
      code: 'ERR_KMS_UNAVAILABLE',
    });
    expect(retries).toEqual([]);
  });

  it('never retries a state rejection', async () => {
    const { kms, retries } = adapter();
    const key = await kms.createKey({ origin: 'EXTERNAL', keySpec: 'Aliyun_AES_256' });
    await expect(kms.encrypt({ keyId: key.keyId, plaintext: 'aGk=' })).rejects.toMatchObject({
      code: 'ERR_KMS_REJECTED_STATE',
      details: { kmsCode: 'Rejected.PendingImport', httpStatus: 409 },
    });
    expect(retries).toEqual([]);
  });

  it('stays under the account QPS with a client-side rate limit', async () => {
    emu.faults.setQpsLimit(10); // a new limit starts with a full bucket (10 tokens)
    const limited = adapter({ maxRequestsPerSecond: 8, retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
    const started = Date.now();
    await Promise.all(Array.from({ length: 8 }, () => limited.kms.listAliases()));
    // 8 calls at 8/s with a burst of 1.6 (PACING_BURST_SECONDS): one at once, the others 125 ms apart.
    expect(Date.now() - started).toBeGreaterThanOrEqual(750);
    // Without the limit a burst of 12 trips the emulator's QPS limit (set again: a full bucket of 10).
    emu.faults.setQpsLimit(10);
    const unlimited = adapter({ retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
    await expect(Promise.all(Array.from({ length: 12 }, () => unlimited.kms.listAliases()))).rejects.toMatchObject({
      code: 'ERR_KMS_THROTTLED',
    });
  });
});
