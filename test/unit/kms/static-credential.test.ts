import Credential, { Config } from '@alicloud/credentials';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { StaticCredential } from '../../../shared/kms/static-credential.js';

// The package's own Credential for the same key: what the SDK clients would build for themselves.
function packageCredential(c: { accessKeyId: string; accessKeySecret: string; securityToken?: string }) {
  const CredentialClass = ((Credential as unknown as { default?: typeof Credential }).default ??
    Credential) as typeof Credential;
  return new CredentialClass(new Config(c.securityToken ? { type: 'sts', ...c } : { type: 'access_key', ...c }));
}

const KEYS = [
  { accessKeyId: 'LTAI5tStaticKeyId', accessKeySecret: 'static-secret-value-0123' },
  { accessKeyId: 'STS.NUgYrLnoC37mZZCNnAbez', accessKeySecret: 'sts-secret-value-0123', securityToken: 'CAIS-token' },
];

describe('StaticCredential answers what @alicloud/credentials answers for the same key', () => {
  it.each(KEYS)('$accessKeyId: getCredential, the per-field getters and getType', async (key) => {
    const ours = new StaticCredential(key);
    const theirs = packageCredential(key);
    const model = await theirs.getCredential();
    const fields = (m: Record<string, unknown>) => ({
      accessKeyId: m['accessKeyId'],
      accessKeySecret: m['accessKeySecret'],
      securityToken: m['securityToken'],
      bearerToken: m['bearerToken'],
      type: m['type'],
      providerName: m['providerName'],
    });
    expect(fields({ ...(await ours.getCredential()) })).toEqual(fields({ ...model }));
    expect([
      await ours.getAccessKeyId(),
      await ours.getAccessKeySecret(),
      await ours.getSecurityToken(),
      ours.getBearerToken(),
      ours.getType(),
    ]).toEqual([
      await theirs.getAccessKeyId(),
      await theirs.getAccessKeySecret(),
      await theirs.getSecurityToken(),
      theirs.getBearerToken(),
      theirs.getType(),
    ]);
  });

  it('treats an empty security token as a plain access key', async () => {
    const ours = new StaticCredential({ ...KEYS[0]!, securityToken: '' });
    expect([ours.getType(), (await ours.getCredential()).providerName]).toEqual(['access_key', 'static_ak']);
  });

  it('shows neither the secret nor the token when printed or serialised', () => {
    const ours = new StaticCredential(KEYS[1]!);
    const printed = `${inspect(ours, { showHidden: true, depth: 5 })} ${JSON.stringify(ours)} ${String(ours)}`;
    expect([printed.includes(KEYS[1]!.accessKeySecret), printed.includes(KEYS[1]!.securityToken!)]).toEqual([
      false,
      false,
    ]);
    expect(JSON.parse(JSON.stringify(ours))).toEqual({ type: 'sts', accessKeyId: KEYS[1]!.accessKeyId });
  });
});
