import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ErrorCode, OrchestratorError } from '../../../shared/errors.js';
import { KCV_LABEL, fingerprintMaterial, isFingerprint } from '../../../shared/escrow/fingerprint.js';

const bytes0to31 = Buffer.from(Array.from({ length: 32 }, (_, i) => i));

describe('fingerprintMaterial', () => {
  // Known answers computed with the openssl CLI, independently of node:crypto:
  //   printf %s 'byok-orchestrator/kcv/v1' \
  //     | openssl dgst -sha256 -mac HMAC -macopt hexkey:<material hex> -r | cut -c1-24
  it('matches the openssl known answer for 32 bytes 00..1f', () => {
    expect(fingerprintMaterial(bytes0to31)).toBe('kcv1:0fb89ed945720d4d8bdd576d');
  });

  it('matches the openssl known answer for 16 bytes of ff', () => {
    expect(fingerprintMaterial(Buffer.alloc(16, 0xff))).toBe('kcv1:115a7d40a709246eaf0834f2');
  });

  it('is the first 12 bytes of HMAC-SHA256 keyed by the material over the fixed label', () => {
    const material = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');
    const expected = createHmac('sha256', material).update(KCV_LABEL).digest('hex').slice(0, 24);
    expect(fingerprintMaterial(material)).toBe(`kcv1:${expected}`);
  });

  it('is not a plain SHA-256 of the material', () => {
    expect(fingerprintMaterial(bytes0to31)).not.toContain(
      '630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd'.slice(0, 24),
    );
  });

  it('tells materials that differ in one bit apart', () => {
    const flipped = Buffer.from(bytes0to31);
    flipped[31] = 0x1e;
    expect(fingerprintMaterial(flipped)).not.toBe(fingerprintMaterial(bytes0to31));
  });

  it('fits the CMK tag value rules (<= 128 chars of letters, digits and / \\ _ - . + = : @)', () => {
    expect(fingerprintMaterial(bytes0to31)).toMatch(/^[A-Za-z0-9/\\_\-.+=:@]{1,128}$/);
  });

  it('rejects empty material with InvalidMaterial', () => {
    let caught: unknown;
    try {
      fingerprintMaterial(Buffer.alloc(0));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(OrchestratorError);
    expect((caught as OrchestratorError).code).toBe(ErrorCode.InvalidMaterial);
  });
});

describe('isFingerprint', () => {
  it('accepts exactly kcv1: followed by 24 lower-case hex digits', () => {
    expect(
      [
        'kcv1:0fb89ed945720d4d8bdd576d',
        'kcv1:0FB89ED945720D4D8BDD576D',
        'kcv1:0fb89ed945720d4d8bdd576',
        'kcv2:0fb89ed945720d4d8bdd576d',
      ].map(isFingerprint),
    ).toEqual([true, false, false, false]);
  });
});
