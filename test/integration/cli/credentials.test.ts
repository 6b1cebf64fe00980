/**
 * The CLI's credentials as the Alibaba Cloud tools find them (issue 9 §4), run in-process against
 * the KMS emulator over real HTTP: an aliyun CLI profile in a temporary `$HOME/.aliyun/config.json`
 * chosen with `--profile` or ALIBABA_CLOUD_PROFILE, the operator recorded in audit events being the
 * principal STS GetCallerIdentity returns (the emulator answers it), the unverified fallback, the
 * coded error of a wrong profile name, and no secret anywhere in the output.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ACCOUNT_ID, startKmsEmulator } from '@byok/kms-emulator';
import { ExitCode, createDirectRunner, runCli } from '../../../scripts/ops/cli.js';
import { chooseCredentialSource, operatorCredentials } from '../../../scripts/ops/credentials.js';
import { getCallerIdentity, resolveOperatorIdentity } from '../../../scripts/ops/identity.js';
import { type CliTestEnv, startCliTestEnv } from '../../support/cli-env.js';

const AK = { accessKeyId: 'profile-ak-0001', accessKeySecret: 'profile-SECRET-value-do-not-print-0123456789' };
const WRONG_SECRET = 'wrong-profile-SECRET-value-0123456789';
/** STS credentials a credentials URI hands out in turn (the emulator accepts both). */
const ROTATION = [
  { accessKeyId: 'STS.rotation-1', accessKeySecret: 'rotation-SECRET-1-0123456789', securityToken: 'rot-TOKEN-1' },
  { accessKeyId: 'STS.rotation-2', accessKeySecret: 'rotation-SECRET-2-0123456789', securityToken: 'rot-TOKEN-2' },
];

let world: CliTestEnv;
let home: string;
/** The CLI's environment without access key variables: credentials come from the profile file. */
let env: Record<string, string | undefined>;
const everything: string[] = [];

async function ops(argv: string[], extra: Record<string, string | undefined> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    env: { ...env, ...extra },
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
  });
  everything.push(stdout, stderr);
  return { code, stdout, stderr };
}

async function auditLines(): Promise<string[]> {
  return (await readFile(env['BYOK_AUDIT_FILE']!, 'utf8').catch(() => '')).split('\n').filter(Boolean);
}

/** Runs a command and returns it with the actors of the audit events it wrote. */
async function opsAudited(argv: string[], extra: Record<string, string | undefined> = {}) {
  const before = (await auditLines()).length;
  const r = await ops(argv, extra);
  const actors = (await auditLines()).slice(before).map((l) => (JSON.parse(l) as { actor: unknown }).actor);
  return { ...r, actors };
}

beforeAll(async () => {
  world = await startCliTestEnv(AK, 'byok-cli-cred-', ROTATION);
  home = join(world.dir, 'home');
  await mkdir(join(home, '.aliyun'), { recursive: true });
  const config = {
    current: 'broken',
    profiles: [
      { name: 'oncall', mode: 'AK', access_key_id: AK.accessKeyId, access_key_secret: AK.accessKeySecret },
      { name: 'broken', mode: 'AK', access_key_id: AK.accessKeyId, access_key_secret: WRONG_SECRET },
    ],
  };
  await writeFile(join(home, '.aliyun', 'config.json'), JSON.stringify(config), { mode: 0o600 });
  env = {
    ...world.env,
    ALIBABA_CLOUD_ACCESS_KEY_ID: undefined,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: undefined,
    HOME: home,
  };
});

afterAll(async () => {
  await world?.close();
});

const principal = `acs:ram::${DEFAULT_ACCOUNT_ID}:user/${AK.accessKeyId}`;

describe('credentials from an aliyun CLI profile', () => {
  it('--profile: the command runs with that profile and audits the resolved principal', async () => {
    const r = await opsAudited(['onboard', 'alias/by-flag', '--profile', 'oncall', '--json']);
    expect(r.code).toBe(ExitCode.Ok);
    expect(r.stderr).not.toMatch(/^(warning|error)/m);
    expect(JSON.parse(r.stdout)).toMatchObject({ command: 'onboard', ok: true, lineage: 'by-flag' });
    expect(r.actors.length).toBeGreaterThan(3);
    expect(r.actors).toEqual(r.actors.map(() => ({ kind: 'operator', id: principal })));
  });

  it('a follow-up command the CLI suggests carries --profile', async () => {
    const unmanaged = await world.kms.createKey({
      origin: 'EXTERNAL',
      keySpec: 'Aliyun_AES_256',
      description: 'filled by hand',
      dkmsInstanceId: world.env['BYOK_KMS_INSTANCE_ID']!,
    });
    const r = await ops(['renew', unmanaged.keyId, '--profile', 'oncall']);
    expect(r.code).not.toBe(ExitCode.Ok);
    expect(r.stderr).toContain(`npm run ops -- --profile oncall adopt ${unmanaged.keyId}`);
  });

  it('ALIBABA_CLOUD_PROFILE chooses the profile the same way', async () => {
    const r = await opsAudited(['onboard', 'alias/by-variable'], { ALIBABA_CLOUD_PROFILE: 'oncall' });
    expect(r.code).toBe(ExitCode.Ok);
    expect(r.actors.length).toBeGreaterThan(3);
    expect(r.actors).toEqual(r.actors.map(() => ({ kind: 'operator', id: principal })));
  });

  it("without a name the file's current profile is used (here one with a wrong secret: KMS refuses)", async () => {
    const r = await ops(['plan']);
    expect(r.code).toBe(ExitCode.Failure);
    expect(r.stderr).toMatch(
      /^warning: could not verify who you are with STS GetCallerIdentity .*SignatureDoesNotMatch/,
    );
    expect(r.stderr).toMatch(/^error ERR_KMS_FORBIDDEN: KMS \w+ failed: SignatureDoesNotMatch/m);
  });

  it('a profile missing from the file is a coded usage error naming --profile (exit 2), nothing run', async () => {
    const before = await auditLines();
    const r = await ops(['status', '--profile', 'prod', '--json']);
    const file = join(home, '.aliyun', 'config.json');
    expect(r.code).toBe(ExitCode.Usage);
    expect(r.stderr.split('\n')[0]).toBe(
      `error ERR_INVALID_INPUT: --profile: no profile "prod" in ${file} (profiles: "oncall", "broken")`,
    );
    expect(JSON.parse(r.stdout)).toMatchObject({
      command: 'status',
      ok: false,
      exitCode: ExitCode.Usage,
      error: { code: 'ERR_INVALID_INPUT', details: { field: '--profile' } },
    });
    const byVariable = await ops(['status'], { ALIBABA_CLOUD_PROFILE: 'prod' });
    expect([byVariable.code, byVariable.stderr.split('\n')[0]]).toEqual([
      ExitCode.Usage,
      `error ERR_INVALID_CONFIG: ALIBABA_CLOUD_PROFILE: no profile "prod" in ${file} (profiles: "oncall", "broken")`,
    ]);
    expect(await auditLines()).toEqual(before);
  });

  it('--profile is refused with --local (the local stack has its own credentials)', async () => {
    const r = await ops(['status', '--local', '--profile', 'oncall']);
    expect([r.code, r.stderr.split('\n')[0]]).toEqual([
      ExitCode.Usage,
      'error ERR_INVALID_INPUT: --profile: not with --local ' +
        '(the local stack uses its own test credentials from its cli.env)',
    ]);
  });

  it('when STS cannot be reached the actor is the access key id marked unverified, with a warning', async () => {
    const r = await opsAudited(['onboard', 'alias/unverified', '--profile', 'oncall'], {
      BYOK_STS_ENDPOINT: 'http://127.0.0.1:9', // nothing listens on the discard port
    });
    expect(r.code).toBe(ExitCode.Ok);
    expect(r.stderr.split('\n')[0]).toMatch(
      /^warning: could not verify who you are with STS GetCallerIdentity at 127\.0\.0\.1:9 \(ECONNREFUSED\); /,
    );
    expect(r.stderr.split('\n')[0]).toMatch(/; audit events name you as unverified:profile-ak-0001$/);
    expect(r.actors.length).toBeGreaterThan(3);
    const unverified = { kind: 'operator', id: `unverified:${AK.accessKeyId}` };
    expect(r.actors).toEqual(r.actors.map(() => unverified));
  });

  it('no secret of any profile appears in anything the CLI printed or audited', async () => {
    const all = everything.join('\n');
    expect(all).not.toContain(AK.accessKeySecret);
    expect(all).not.toContain(WRONG_SECRET);
    const audit = await readFile(env['BYOK_AUDIT_FILE']!, 'utf8');
    expect(audit).not.toContain(AK.accessKeySecret);
    expect(audit).not.toContain(WRONG_SECRET);
  });
});

describe('rotating credentials (ALIBABA_CLOUD_CREDENTIALS_URI, an official session provider)', () => {
  it('every run resolves the credentials again: a revoked set fails, the next rotation works', async () => {
    // What the URI answers now; the provider refreshes a session with < 15 min left on every ask.
    let serving: { accessKeyId: string; accessKeySecret: string; securityToken: string } = ROTATION[0]!;
    let asked = 0;
    const server = createServer((_req, res) => {
      asked++;
      const expiration = new Date(Date.now() + 5 * 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          Code: 'Success',
          AccessKeyId: serving.accessKeyId,
          AccessKeySecret: serving.accessKeySecret,
          SecurityToken: serving.securityToken,
          Expiration: expiration,
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/credentials`;
      const lines: string[] = [];
      const runner = createDirectRunner({
        env: { ...env, HOME: join(world.dir, 'no-home'), ALIBABA_CLOUD_CREDENTIALS_URI: uri },
        writeLine: (l) => lines.push(l),
      });
      const progress = { progress: () => {} };
      const first = await runner.run({ command: 'onboard', alias: 'alias/rotating-1' }, progress);
      expect(first).toMatchObject({ command: 'onboard', lineage: 'rotating-1', created: true });
      const afterFirst = asked;
      expect(afterFirst).toBeGreaterThan(0);

      serving = { accessKeyId: 'STS.revoked', accessKeySecret: 'revoked-SECRET-0123456789', securityToken: 't' };
      await expect(runner.run({ command: 'onboard', alias: 'alias/rotating-2' }, progress)).rejects.toMatchObject({
        code: 'ERR_KMS_FORBIDDEN',
      });
      expect(asked).toBeGreaterThan(afterFirst);

      serving = ROTATION[1]!;
      const third = await runner.run({ command: 'onboard', alias: 'alias/rotating-2' }, progress);
      expect(third).toMatchObject({ command: 'onboard', lineage: 'rotating-2', created: true });
      // Identity is asked once per runner (one CLI command): the first credentials' session.
      const audit = (await auditLines()).map((l) => JSON.parse(l) as { actor: { id: string } });
      expect(audit.at(-1)!.actor.id).toBe(
        `acs:ram::${DEFAULT_ACCOUNT_ID}:assumed-role/byok-emulator-role/STS.rotation-1`,
      );
      const printed = lines.join('\n');
      for (const c of ROTATION) expect(printed).not.toContain(c.accessKeySecret);
    } finally {
      server.close();
    }
  });
});

describe('GetCallerIdentity against the emulator', () => {
  it('an access key is a RAM user; an STS credential is an assumed-role session', async () => {
    const sts = { accessKeyId: 'STS.session-0001', accessKeySecret: 'sts-SECRET-0123456789', securityToken: 'tok-1' };
    const emu = await startKmsEmulator({ port: 0, credentials: [AK, sts] });
    try {
      const endpoint = { host: emu.endpoint, protocol: 'http' as const };
      const envOf = (c: typeof sts | typeof AK) => ({
        ALIBABA_CLOUD_ACCESS_KEY_ID: c.accessKeyId,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET: c.accessKeySecret,
        ...('securityToken' in c ? { ALIBABA_CLOUD_SECURITY_TOKEN: c.securityToken } : {}),
      });
      const user = await getCallerIdentity(operatorCredentials(chooseCredentialSource(envOf(AK)).source!), endpoint);
      expect(user).toEqual({
        arn: principal,
        identityType: 'RAMUser',
        accountId: DEFAULT_ACCOUNT_ID,
        principalId: expect.stringMatching(/^\d{16}$/) as unknown as string,
      });
      const role = await getCallerIdentity(operatorCredentials(chooseCredentialSource(envOf(sts)).source!), endpoint);
      expect(role).toMatchObject({
        arn: `acs:ram::${DEFAULT_ACCOUNT_ID}:assumed-role/byok-emulator-role/STS.session-0001`,
        identityType: 'AssumedRoleUser',
      });
      // A token that does not match is refused like any other call, and the CLI falls back.
      const badToken = operatorCredentials(
        chooseCredentialSource({ ...envOf(sts), ALIBABA_CLOUD_SECURITY_TOKEN: 'tok-2' }).source!,
      );
      await badToken.resolve();
      const warnings: string[] = [];
      const who = await resolveOperatorIdentity({}, badToken, endpoint, (l) => warnings.push(l));
      expect(who).toMatchObject({ verified: false, actor: { kind: 'operator', id: 'unverified:STS.session-0001' } });
      expect(warnings).toEqual([
        `warning: could not verify who you are with STS GetCallerIdentity at ${emu.endpoint} ` +
          '(InvalidSecurityToken.MismatchWithAccessKey); audit events name you as unverified:STS.session-0001',
      ]);
    } finally {
      await emu.close();
    }
  });
});
