/**
 * Parsing at the edge: KMS answers become our types once, in shared/kms/parse.ts. A key state KMS
 * may add one day is `Unknown` (its word kept), never a cast string that crashes the planner.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../shared/errors.js';
import { parseKeyMetadata, parseKeyState, tagListToRecord } from '../../../shared/kms/parse.js';

describe('parseKeyState', () => {
  it.each(['Enabled', 'Disabled', 'PendingDeletion', 'PendingImport', 'Unavailable'])(
    'keeps the known state %s',
    (s) => {
      expect(parseKeyState(s)).toEqual({ keyState: s });
    },
  );

  it.each(['PendingRotation', '', 'Unknown', 'enabled'])('maps %j to Unknown, keeping the word', (s) => {
    expect(parseKeyState(s)).toEqual({ keyState: 'Unknown', unknownKeyState: s });
  });
});

describe('parseKeyMetadata', () => {
  const raw = {
    KeyId: 'key-1',
    Arn: 'acs:kms:cn-hangzhou:1:key/key-1',
    KeyState: 'Enabled',
    KeySpec: 'Aliyun_AES_256',
    KeyUsage: 'ENCRYPT/DECRYPT',
    Origin: 'EXTERNAL',
    ProtectionLevel: 'SOFTWARE',
    Description: '',
    CreationDate: '2027-01-01T00:00:00Z',
    MaterialExpireTime: '2027-02-01T00:00:00Z',
    DeleteDate: '',
    DKMSInstanceId: 'kst-hzz65f176a0keys0001',
  };

  it('turns dates into epoch ms, "" into undefined, and keeps the instance', () => {
    expect(parseKeyMetadata(raw, 'DescribeKey')).toMatchObject({
      keyId: 'key-1',
      keyState: 'Enabled',
      creationDateMs: Date.UTC(2027, 0, 1),
      materialExpireAtMs: Date.UTC(2027, 1, 1),
      deleteDateMs: undefined,
      dkmsInstanceId: 'kst-hzz65f176a0keys0001',
    });
  });

  it('answers an unknown state as Unknown with the word, not as a cast string', () => {
    const meta = parseKeyMetadata({ ...raw, KeyState: 'Archived' }, 'DescribeKey');
    expect([meta.keyState, meta.unknownKeyState]).toEqual(['Unknown', 'Archived']);
  });

  it('refuses an answer without KeyMetadata as KmsUnexpected', () => {
    expect(() => parseKeyMetadata(undefined, 'DescribeKey')).toThrow(
      expect.objectContaining({ code: ErrorCode.KmsUnexpected }),
    );
  });
});

describe('tagListToRecord', () => {
  it('reads both Key/Value and TagKey/TagValue, skipping anything else', () => {
    const raw = {
      Tag: [{ Key: 'a', Value: '1' }, { TagKey: 'b', TagValue: '2' }, { Key: 'c' }, { Key: 3, Value: 'x' }],
    };
    expect(tagListToRecord(raw)).toEqual({ a: '1', b: '2' });
    expect(tagListToRecord(undefined)).toEqual({});
  });
});
