/**
 * The emulator's per-group QPS quotas (faults.ts SHARED_GATEWAY_QPS_GROUPS): a group's requests past
 * its quota are throttled, other groups are not, and the refusals are counted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKmsEmulator, type KmsEmulator } from '@byok/kms-emulator';
import { $Kms, expectKmsError, sdkClient } from './helpers.js';

let emu: KmsEmulator;

beforeAll(async () => {
  emu = await startKmsEmulator({ port: 0, kmsVersion: 1 });
});
afterAll(async () => {
  await emu?.close();
});

describe('per-group QPS quotas', () => {
  it('throttles a group past its quota (x scale) and counts it; another group is unaffected', async () => {
    const client = sdkClient(emu);
    const keyId = (await client.createKey(new $Kms.CreateKeyRequest({}))).keyMetadata?.keyId as string;
    emu.faults.setGroupQpsLimits(0.1); // key reads: 5/s, burst 5
    emu.faults.resetQpsStats();
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () => client.describeKey(new $Kms.DescribeKeyRequest({ keyId }))),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    await expectKmsError(client.describeKey(new $Kms.DescribeKeyRequest({ keyId })), 'Throttling', 400);
    expect(emu.faults.qpsThrottled()).toEqual({ throttled: 4, byAction: { DescribeKey: 4 } });
    // ListResourceTags is its own group (300 x 0.1 = 30/s).
    await client.listResourceTags(new $Kms.ListResourceTagsRequest({ keyId }));
    emu.faults.setGroupQpsLimits(null);
    await client.describeKey(new $Kms.DescribeKeyRequest({ keyId }));
    expect(emu.faults.qpsThrottled().throttled).toBe(4);
  });
});
