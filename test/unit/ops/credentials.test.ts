/**
 * The CLI's credential chain (scripts/ops/credentials.ts) and operator identity helpers
 * (scripts/ops/identity.ts): which link is chosen, profile parsing and selection against real
 * temporary `~/.aliyun/config.json` files, the coded errors, and resolution through the official
 * @alicloud/credentials providers (static links only: no network). No mocks.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  chooseCredentialSource,
  cliConfigPath,
  operatorCredentials,
  selectCliProfile,
  takeProfileFlag,
} from '../../../scripts/ops/credentials.js';
import { PUBLIC_STS_ENDPOINT, actorIdOf, stsEndpointOf, unverifiedActorId } from '../../../scripts/ops/identity.js';

const SECRET_A = 'profile-A-SECRET-never-shown-0123456789';
const SECRET_B = 'profile-B-SECRET-never-shown-9876543210';
const TOKEN_B = 'profile-B-sts-TOKEN-never-shown';

let root: string;
/** A HOME with a two-profile aliyun CLI configuration (current: "dev"). */
let home: string;
/** A HOME without any configuration. */
let emptyHome: string;

async function homeWith(name: string, content: string): Promise<string> {
  const h = join(root, name);
  await mkdir(join(h, '.aliyun'), { recursive: true });
  await writeFile(cliConfigPath(h), content, { mode: 0o600 });
  return h;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'byok-cred-unit-'));
  home = await homeWith(
    'home',
    JSON.stringify({
      current: 'dev',
      profiles: [
        {
          name: 'dev',
          mode: 'AK',
          access_key_id: 'ak-dev-0001',
          access_key_secret: SECRET_A,
          region_id: 'cn-hangzhou',
        },
        {
          name: 'oncall',
          mode: 'StsToken',
          access_key_id: 'STS.oncall-0002',
          access_key_secret: SECRET_B,
          sts_token: TOKEN_B,
        },
        { name: 'half', mode: 'AK', access_key_id: 'ak-half' },
        { name: 'odd', mode: 'Kerberos' },
      ],
    }),
  );
  emptyHome = join(root, 'empty');
  await mkdir(emptyHome);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function thrown(fn: () => unknown): { code?: string; message: string; details?: Record<string, unknown> } {
  try {
    fn();
  } catch (err) {
    return err as { code?: string; message: string; details?: Record<string, unknown> };
  }
  throw new Error('expected a throw');
}

describe('takeProfileFlag', () => {
  it('takes --profile <name> and --profile=<name> from anywhere on the line', () => {
    expect(takeProfileFlag(['status', '--profile', 'dev', '--json'])).toEqual({
      rest: ['status', '--json'],
      profile: 'dev',
    });
    expect(takeProfileFlag(['--profile=oncall', 'plan'])).toEqual({ rest: ['plan'], profile: 'oncall' });
    expect(takeProfileFlag(['plan'])).toEqual({ rest: ['plan'] });
  });

  it('refuses a missing value, a flag as value, and a second --profile, naming the flag', () => {
    for (const argv of [
      ['status', '--profile'],
      ['--profile', '--json'],
      ['--profile=a', '--profile', 'b'],
    ]) {
      const e = thrown(() => takeProfileFlag(argv));
      expect([e.code, e.message.startsWith('--profile: ')]).toEqual(['ERR_INVALID_INPUT', true]);
    }
    expect(thrown(() => takeProfileFlag(['--profile=a b'])).message).toBe(
      '--profile: must be a profile name of 1-64 printable ASCII characters without spaces',
    );
  });
});

describe('selectCliProfile', () => {
  it("returns the named profile and its mode; the file's current one when none is named", () => {
    expect(selectCliProfile(cliConfigPath(home), 'oncall', '--profile')).toEqual({
      profile: 'oncall',
      mode: 'StsToken',
    });
    expect(selectCliProfile(cliConfigPath(home), undefined, 'current')).toEqual({ profile: 'dev', mode: 'AK' });
  });

  it('a missing profile is a coded error naming the flag, listing the names and no value', () => {
    const e = thrown(() => selectCliProfile(cliConfigPath(home), 'prod', '--profile'));
    expect(e.code).toBe('ERR_INVALID_INPUT');
    expect(e.details).toEqual({ field: '--profile' });
    expect(e.message).toBe(
      `--profile: no profile "prod" in ${cliConfigPath(home)} (profiles: "dev", "oncall", "half", "odd")`,
    );
    const byVariable = thrown(() => selectCliProfile(cliConfigPath(home), 'prod', 'ALIBABA_CLOUD_PROFILE'));
    expect([byVariable.code, byVariable.details]).toEqual(['ERR_INVALID_CONFIG', { field: 'ALIBABA_CLOUD_PROFILE' }]);
  });

  it('names missing fields and unsupported modes without showing values', () => {
    const half = thrown(() => selectCliProfile(cliConfigPath(home), 'half', '--profile'));
    expect(half.message).toBe(
      `--profile: profile "half" (mode AK) in ${cliConfigPath(home)} lacks access_key_secret (values not shown)`,
    );
    const odd = thrown(() => selectCliProfile(cliConfigPath(home), 'odd', '--profile'));
    expect(odd.message).toMatch(/^--profile: profile "odd" has mode "Kerberos", which @alicloud\/credentials does not/);
  });

  it('never quotes a broken file (it holds access keys)', async () => {
    const broken = await homeWith('broken', `{"profiles":[{"name":"x","access_key_secret":"${SECRET_A}"`);
    const e = thrown(() => selectCliProfile(cliConfigPath(broken), 'x', '--profile'));
    expect(e.message).toBe(
      `--profile: ${cliConfigPath(broken)} is not valid JSON (content not shown: it holds access keys)`,
    );
    expect(e.message).not.toContain(SECRET_A);
  });

  it('a missing file: nothing for the current profile, an error when a profile was named', () => {
    expect(selectCliProfile(cliConfigPath(emptyHome), undefined, 'current')).toBeUndefined();
    expect(thrown(() => selectCliProfile(cliConfigPath(emptyHome), 'dev', '--profile')).message).toBe(
      `--profile: ${cliConfigPath(emptyHome)} does not exist (it should hold profile "dev"); ` +
        'create it with `aliyun configure`',
    );
  });
});

describe('chooseCredentialSource: the chain order', () => {
  const envAk = { ALIBABA_CLOUD_ACCESS_KEY_ID: 'ak-env', ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'env-secret-value-0123' };

  it('the environment variables come first, then the CLI profile (its current one)', () => {
    expect(chooseCredentialSource({ ...envAk, HOME: home }).source).toEqual({
      via: 'env',
      accessKeyId: 'ak-env',
      accessKeySecret: 'env-secret-value-0123',
    });
    expect(chooseCredentialSource({ HOME: home }).source).toMatchObject({
      via: 'cli-profile',
      profile: 'dev',
      chosenBy: 'current',
    });
  });

  it('--profile beats the environment variables; ALIBABA_CLOUD_PROFILE names the profile otherwise', () => {
    expect(chooseCredentialSource({ ...envAk, HOME: home }, { profile: 'oncall' }).source).toMatchObject({
      via: 'cli-profile',
      profile: 'oncall',
      mode: 'StsToken',
      chosenBy: '--profile',
      file: cliConfigPath(home),
    });
    expect(chooseCredentialSource({ HOME: home, ALIBABA_CLOUD_PROFILE: 'oncall' }).source).toMatchObject({
      profile: 'oncall',
      chosenBy: 'ALIBABA_CLOUD_PROFILE',
    });
    const e = thrown(() => chooseCredentialSource({ HOME: home, ALIBABA_CLOUD_PROFILE: 'gone' }));
    expect([e.code, e.message.startsWith('ALIBABA_CLOUD_PROFILE: no profile "gone" in ')]).toEqual([
      'ERR_INVALID_CONFIG',
      true,
    ]);
  });

  it('OIDC (all three variables) comes before the profile; ECS role and URI after it', () => {
    const oidc = {
      ALIBABA_CLOUD_ROLE_ARN: 'acs:ram::1234567890123456:role/byok-oncall',
      ALIBABA_CLOUD_OIDC_PROVIDER_ARN: 'acs:ram::1234567890123456:oidc-provider/ack',
      ALIBABA_CLOUD_OIDC_TOKEN_FILE: '/var/run/secrets/token',
    };
    expect(chooseCredentialSource({ ...oidc, HOME: home }).source).toEqual({
      via: 'oidc',
      roleArn: oidc.ALIBABA_CLOUD_ROLE_ARN,
      oidcProviderArn: oidc.ALIBABA_CLOUD_OIDC_PROVIDER_ARN,
      tokenFile: oidc.ALIBABA_CLOUD_OIDC_TOKEN_FILE,
    });
    // Two of three: not OIDC; the profile answers.
    expect(chooseCredentialSource({ ...oidc, ALIBABA_CLOUD_OIDC_TOKEN_FILE: '', HOME: home }).source?.via).toBe(
      'cli-profile',
    );
    expect(chooseCredentialSource({ HOME: emptyHome, ALIBABA_CLOUD_ECS_METADATA: 'byok-ecs' }).source).toEqual({
      via: 'ecs-ram-role',
      roleName: 'byok-ecs',
      imdsV1Disabled: false,
    });
    const disabled = { HOME: home, ALIBABA_CLOUD_CLI_PROFILE_DISABLED: 'true', ALIBABA_CLOUD_ECS_METADATA: 'r' };
    expect(chooseCredentialSource(disabled).source?.via).toBe('ecs-ram-role');
    const uri = { HOME: emptyHome, ALIBABA_CLOUD_CREDENTIALS_URI: 'http://127.0.0.1:9/creds' };
    expect(chooseCredentialSource(uri).source).toEqual({ via: 'credentials-uri', uri: 'http://127.0.0.1:9/creds' });
  });

  it('nothing configured, or half an access key: problems naming the variables (no network)', () => {
    expect(chooseCredentialSource({ HOME: emptyHome }).problems.map((p) => p.variable)).toEqual([
      'ALIBABA_CLOUD_ACCESS_KEY_ID',
      'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
    ]);
    const half = chooseCredentialSource({ HOME: home, ALIBABA_CLOUD_ACCESS_KEY_ID: 'ak-only' });
    expect([half.source, half.problems.map((p) => p.variable)]).toEqual([
      undefined,
      ['ALIBABA_CLOUD_ACCESS_KEY_SECRET'],
    ]);
  });
});

describe('operatorCredentials: resolution through the official providers', () => {
  it('a StsToken profile resolves to its key, secret and token; describe() shows none of the secrets', async () => {
    const { source } = chooseCredentialSource({ HOME: home }, { profile: 'oncall' });
    const creds = operatorCredentials(source!);
    expect(() => creds.current()).toThrow(/before they were resolved/);
    expect(await creds.resolve()).toEqual({
      accessKeyId: 'STS.oncall-0002',
      accessKeySecret: SECRET_B,
      securityToken: TOKEN_B,
    });
    expect(creds.current().accessKeyId).toBe('STS.oncall-0002');
    expect(creds.description).toBe(`profile (--profile) "oncall" (mode StsToken) of ${cliConfigPath(home)}`);
    expect(creds.description).not.toContain(SECRET_B);
  });

  it("the AK profile of a HOME other than the process's is the one read", async () => {
    const creds = operatorCredentials(chooseCredentialSource({ HOME: home }).source!);
    expect((await creds.resolve()).accessKeyId).toBe('ak-dev-0001');
  });
});

describe('identity helpers', () => {
  it('STS endpoint: BYOK_STS_ENDPOINT, else a loopback KMS endpoint (the emulator), else sts.aliyuncs.com', () => {
    const kmsLocal = { host: '127.0.0.1:8765', protocol: 'http' as const };
    expect(stsEndpointOf({ BYOK_STS_ENDPOINT: 'http://127.0.0.1:9999' }, kmsLocal)).toEqual({
      host: '127.0.0.1:9999',
      protocol: 'http',
    });
    expect(stsEndpointOf({ BYOK_STS_ENDPOINT: 'sts-vpc.cn-hangzhou.aliyuncs.com' })).toEqual({
      host: 'sts-vpc.cn-hangzhou.aliyuncs.com',
      protocol: 'https',
    });
    expect(stsEndpointOf({}, kmsLocal)).toEqual(kmsLocal);
    expect(stsEndpointOf({}, { host: 'kms.cn-hangzhou.aliyuncs.com', protocol: 'https' })).toEqual(PUBLIC_STS_ENDPOINT);
  });

  it('the actor id is the ARN; the fallback is marked unverified', () => {
    const identity = {
      arn: 'acs:ram::1234567890123456:assumed-role/byok-oncall/alice',
      identityType: 'AssumedRoleUser',
      accountId: '1234567890123456',
      principalId: '3337:alice',
    };
    expect(actorIdOf(identity)).toBe('acs:ram::1234567890123456:assumed-role/byok-oncall/alice');
    const long = { ...identity, arn: `acs:ram::1234567890123456:assumed-role/${'r'.repeat(64)}/${'s'.repeat(64)}` };
    expect(actorIdOf(long)).toBe('acs:ram::1234567890123456:principal/3337:alice');
    expect(unverifiedActorId({ USER: 'alice' }, 'ak-dev-0001')).toBe('unverified:ak-dev-0001');
    expect(unverifiedActorId({ USER: 'alice bob' }, undefined)).toBe('unverified:alice_bob');
  });
});
