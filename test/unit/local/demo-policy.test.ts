/**
 * The demo policy of `npm start -- --speed <n>` (scripts/local/demo-policy.ts): valid for the
 * config, and fast enough that a renewal and a rotation happen within two minutes at x3600.
 */
import { describe, expect, it } from 'vitest';
import {
  DEMO_POLICY,
  demoPolicyBanner,
  demoPolicyEnv,
  demoTimeline,
  humanSeconds,
} from '../../../scripts/local/demo-policy.js';
import { parseConfig } from '../../../shared/config/index.js';

const BASE = {
  BYOK_REGION: 'cn-hangzhou',
  BYOK_KMS_INSTANCE_ID: 'kst-loc00000000keys0001',
  BYOK_ESCROW_BACKEND: 'file',
  BYOK_ESCROW_DIR: '/tmp/escrow',
  BYOK_ESCROW_MASTER_KEY_FILE: '/tmp/master.key',
  BYOK_LEASE_KEY_ID: 'lease-key',
};

describe('demo policy', () => {
  it('is none at speed 1 (the product defaults stay)', () => {
    expect(demoPolicyEnv(1)).toEqual({});
    expect(demoPolicyBanner(1)).toEqual([]);
  });

  it('is a policy the configuration accepts', () => {
    const config = parseConfig({ ...BASE, ...demoPolicyEnv(3600) });
    expect(config.policies.defaults).toMatchObject({ validityDays: 3, renewBeforeDays: 1, rotateAfterDays: 3 });
    expect(config.leaseTtlSeconds).toBe(86_400);
  });

  it('renews and rotates within two minutes of real time at x3600', () => {
    const t = demoTimeline(3600);
    expect(t).toEqual({ sweepEveryS: 6, renewAfterS: 54, rotateAfterS: 78 });
    expect(Math.max(t.renewAfterS, t.rotateAfterS)).toBeLessThan(120);
    expect(DEMO_POLICY.renewBeforeDays).toBeLessThan(DEMO_POLICY.validityDays);
  });

  it('is printed in the banner with the timings at that speed', () => {
    expect(demoPolicyBanner(3600).join('\n')).toContain('at x3600: a sweep every 6 s');
    expect(demoPolicyBanner(60).join('\n')).toContain("a new key's first renewal within 54 min");
    expect([humanSeconds(54), humanSeconds(3240), humanSeconds(12_960), humanSeconds(259_200)]).toEqual([
      '54 s',
      '54 min',
      '3.6 h',
      '3 days',
    ]);
  });
});
