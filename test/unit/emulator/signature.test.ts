import RPCUtil from '@alicloud/rpc-util';
import { describe, expect, it } from 'vitest';
import {
  canonicalizedQueryString,
  computeSignature,
  constantTimeEqual,
  percentEncode,
  stringToSign,
} from '../../../packages/kms-emulator/src/signature.js';

const map = (o: Record<string, string>): Map<string, string> => new Map(Object.entries(o));

describe('signature v1 (docs/kms-api.md §1.3)', () => {
  it('matches the vendor GET vector 41wk2SSX1GJh7fwnc5eqOfiJPFg=', () => {
    const params = map({
      AccessKeyId: 'testid',
      Action: 'CreateKey',
      Format: 'json',
      SignatureMethod: 'HMAC-SHA1',
      SignatureVersion: '1.0',
      Timestamp: '2016-03-28T03:13:08Z',
      Version: '2016-01-20',
    });
    expect(stringToSign('GET', params)).toBe(
      'GET&%2F&AccessKeyId%3Dtestid%26Action%3DCreateKey%26Format%3Djson%26SignatureMethod%3DHMAC-SHA1' +
        '%26SignatureVersion%3D1.0%26Timestamp%3D2016-03-28T03%253A13%253A08Z%26Version%3D2016-01-20',
    );
    expect(computeSignature('GET', params, 'testsecret')).toBe('41wk2SSX1GJh7fwnc5eqOfiJPFg=');
  });

  const postVector = map({
    Action: 'DescribeKey',
    Format: 'json',
    Version: '2016-01-20',
    Timestamp: '2016-03-28T03:13:08Z',
    SignatureNonce: '0123456789abcdef0123456789abcdef',
    KeyId: 'alias/my key*~!',
    SecurityToken: 'tok+/=',
    SignatureMethod: 'HMAC-SHA1',
    SignatureVersion: '1.0',
    AccessKeyId: 'testid',
  });

  it('builds the POST vector canonical string', () => {
    expect(canonicalizedQueryString(postVector)).toBe(
      'AccessKeyId=testid&Action=DescribeKey&Format=json&KeyId=alias%2Fmy%20key%2A~%21&SecurityToken=tok%2B%2F%3D' +
        '&SignatureMethod=HMAC-SHA1&SignatureNonce=0123456789abcdef0123456789abcdef&SignatureVersion=1.0' +
        '&Timestamp=2016-03-28T03%3A13%3A08Z&Version=2016-01-20',
    );
  });

  it('matches the POST vector JTQOxIqzxXZZSXFfqkONY2uihuE=', () => {
    expect(computeSignature('POST', postVector, 'testsecret')).toBe('JTQOxIqzxXZZSXFfqkONY2uihuE=');
  });

  it('ignores a Signature parameter already present in the set', () => {
    const withSig = new Map(postVector);
    withSig.set('Signature', 'whatever');
    expect(computeSignature('POST', withSig, 'testsecret')).toBe('JTQOxIqzxXZZSXFfqkONY2uihuE=');
  });

  it("percent-encodes ! ' ( ) * and space, keeps - _ . ~ literal, upper-case hex", () => {
    expect(percentEncode("a b!'()*-_.~é/+=")).toBe('a%20b%21%27%28%29%2A-_.~%C3%A9%2F%2B%3D');
    expect(percentEncode('Az09-_.~')).toBe('Az09-_.~');
    expect(percentEncode('')).toBe('');
  });

  it('sorts names by code point, astral characters after every BMP one', () => {
    // UTF-16 order would put U+1F389 (a surrogate pair, 0xD83C...) before U+FF21.
    const names = ['\u{FF21}', '\u{1F389}', 'b', 'B', 'bb', '\u00e9'];
    const canonical = canonicalizedQueryString(new Map(names.map((n) => [n, ''])));
    expect(canonical).toBe(
      ['B', 'b', 'bb', '\u00e9', '\u{FF21}', '\u{1F389}'].map((n) => `${percentEncode(n)}=`).join('&'),
    );
  });

  it('agrees with the SDK signer (RPCUtil.getSignatureV1) on awkward values', () => {
    const params = {
      Action: 'Encrypt',
      'EncryptionContext.ké y': "v*a'l(u)e!~",
      Plaintext: '日本語 + emoji 🎉 & = ?',
      AccessKeyId: 'ak',
      Zeta: '',
      alpha: 'lower-case sorts after upper-case',
    };
    expect(computeSignature('POST', map(params), 's3cr3t')).toBe(
      RPCUtil.getSignatureV1({ ...params }, 'POST', 's3cr3t'),
    );
  });

  it('compares in constant time and rejects different lengths', () => {
    expect(constantTimeEqual('abc=', 'abc=')).toBe(true);
    expect(constantTimeEqual('abc=', 'abd=')).toBe(false);
    expect(constantTimeEqual('abc=', 'abc')).toBe(false);
  });
});
