/**
 * The operator's credentials in the CLI, found the way the Alibaba Cloud tools find them: the
 * official provider chain of `@alicloud/credentials` 2.4.7 (docs/alerting-and-events.md §8.3, §8.5).
 * The functions do not use this: they keep `context.credentials`.
 *
 * The chain is read from the CLI's own environment (`CliIo.env`, which `--local` extends with
 * `.local/cli.env`), not from process.env, so the choice of link is made here, in the official
 * order, and each link is the package's own provider:
 *   0. `--profile <name>`: that profile of the aliyun CLI configuration, whatever else is set;
 *   1. `ALIBABA_CLOUD_ACCESS_KEY_ID` + `_SECRET` (+ `ALIBABA_CLOUD_SECURITY_TOKEN`);
 *   2. OIDC / RRSA: `ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`, `ALIBABA_CLOUD_OIDC_TOKEN_FILE`;
 *   3. the aliyun CLI profile `$HOME/.aliyun/config.json`: `ALIBABA_CLOUD_PROFILE`, else its `current`
 *      (modes AK, StsToken, RamRoleArn = STS assume-role, EcsRamRole, OIDC, ChainableRamRoleArn, ...);
 *   4. the ECS instance RAM role named by `ALIBABA_CLOUD_ECS_METADATA`;
 *   5. `ALIBABA_CLOUD_CREDENTIALS_URI`.
 * Deliberate differences from the package's DefaultCredentialsProvider (§8.5): the ECS link only
 * when ALIBABA_CLOUD_ECS_METADATA names the role (the package README documents it so; its code
 * probes 100.100.100.200 even without it, which makes a laptop without credentials wait), and the
 * shared `~/.alibabacloud/credentials` INI file is not read.
 *
 * Credentials are resolved lazily (the first command that needs them) and again before each run;
 * the session providers (STS assume-role, OIDC, ECS role) refresh themselves before expiry, and
 * openapi-client clients can take the Credential client itself. No secret is ever in a message.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as CredentialsModule from '@alicloud/credentials';
import type { ConfigProblem } from '../../shared/config/index.js';
import { ErrorCode, OrchestratorError } from '../../shared/errors.js';
import type { KmsCredentials } from '../../shared/kms/alicloud-adapter.js';

type Env = Record<string, string | undefined>;

// @alicloud/credentials is CommonJS with `exports.default` and named exports: ESM loaders may hand
// over module.exports as the default, so read both shapes.
const credentialsExports = ((CredentialsModule as unknown as { default?: unknown }).default ??
  CredentialsModule) as typeof CredentialsModule & { default?: typeof CredentialsModule.default };
const mod = {
  Credential: (credentialsExports.default ?? credentialsExports) as unknown as typeof CredentialsModule.default,
  StaticAK: CredentialsModule.StaticAKCredentialsProvider ?? credentialsExports.StaticAKCredentialsProvider,
  StaticSTS: CredentialsModule.StaticSTSCredentialsProvider ?? credentialsExports.StaticSTSCredentialsProvider,
  Oidc: CredentialsModule.OIDCRoleArnCredentialsProvider ?? credentialsExports.OIDCRoleArnCredentialsProvider,
  CliProfile: CredentialsModule.CLIProfileCredentialsProvider ?? credentialsExports.CLIProfileCredentialsProvider,
  Ecs: CredentialsModule.ECSRAMRoleCredentialsProvider ?? credentialsExports.ECSRAMRoleCredentialsProvider,
  Uri: CredentialsModule.URICredentialsProvider ?? credentialsExports.URICredentialsProvider,
};

/** The official Credential client (openapi-client's `Config.credential` takes it). */
export type CredentialClient = InstanceType<typeof CredentialsModule.default>;

/** Profile modes @alicloud/credentials 2.4.7 turns into credentials (src/providers/cli_profile.ts). */
export const PROFILE_MODES: readonly string[] = [
  'AK',
  'StsToken',
  'RamRoleArn',
  'EcsRamRole',
  'OIDC',
  'ChainableRamRoleArn',
  'CloudSSO',
  'OAuth',
  'External',
];

/** Which link of the chain, and what it needs (access key values only for link 1). */
export type CredentialSource =
  | { via: 'env'; accessKeyId: string; accessKeySecret: string; securityToken?: string }
  | { via: 'oidc'; roleArn: string; oidcProviderArn: string; tokenFile: string; sessionName?: string }
  | { via: 'cli-profile'; home: string; file: string; profile: string; mode: string; chosenBy: ProfileChooser }
  | { via: 'ecs-ram-role'; roleName: string; imdsV1Disabled: boolean }
  | { via: 'credentials-uri'; uri: string };

/** What named the profile: the flag, the variable, or the file's `current`. */
export type ProfileChooser = '--profile' | 'ALIBABA_CLOUD_PROFILE' | 'current';

/** The aliyun CLI configuration file under `home` (the CLI's own place). */
export function cliConfigPath(home: string): string {
  return join(home, '.aliyun', 'config.json');
}

/** The home directory the CLI reads: `HOME` of its environment, else the process's. */
export function homeOf(env: Env): string {
  return env['HOME']?.trim() || homedir();
}

function profileProblem(chooser: ProfileChooser, message: string): OrchestratorError {
  const field = chooser === 'current' ? 'ALIBABA_CLOUD_PROFILE' : chooser;
  const code = chooser === '--profile' ? ErrorCode.InvalidInput : ErrorCode.InvalidConfig;
  return new OrchestratorError(code, `${field}: ${message}`, { details: { field } });
}

/**
 * Reads the aliyun CLI configuration and returns the named profile's mode. Every problem is a coded
 * error naming the flag or variable that chose the profile; the file's content (it holds secrets)
 * is never quoted, only profile names and field names. `undefined` when the file does not exist and
 * the profile was not asked for by name.
 */
export function selectCliProfile(
  file: string,
  name: string | undefined,
  chooser: ProfileChooser,
): { profile: string; mode: string } | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOENT' && chooser === 'current') return undefined;
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${typeof code === 'string' ? code : 'error'})`;
    const wanted = name === undefined ? '' : ` (it should hold profile ${JSON.stringify(name)})`;
    throw profileProblem(chooser, `${file} ${why}${wanted}; create it with \`aliyun configure\``);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw profileProblem(chooser, `${file} is not valid JSON (content not shown: it holds access keys)`);
  }
  const profiles = (doc as { profiles?: unknown } | null)?.profiles;
  if (!Array.isArray(profiles) || profiles.length === 0) {
    throw profileProblem(chooser, `${file} has no "profiles" list; create one with \`aliyun configure\``);
  }
  const named = profiles.filter(
    (p): p is Record<string, unknown> => typeof p === 'object' && p !== null && typeof p.name === 'string',
  );
  const current = (doc as { current?: unknown }).current;
  const wanted = name ?? (typeof current === 'string' && current !== '' ? current : undefined);
  if (wanted === undefined) {
    throw profileProblem(chooser, `${file} names no current profile; choose one with --profile <name>`);
  }
  const p = named.find((x) => x['name'] === wanted);
  if (p === undefined) {
    const names = named.map((x) => JSON.stringify(x['name']));
    const list = names.length > 10 ? `${names.slice(0, 10).join(', ')}, ...` : names.join(', ');
    throw profileProblem(chooser, `no profile ${JSON.stringify(wanted)} in ${file} (profiles: ${list || 'none'})`);
  }
  const mode = typeof p['mode'] === 'string' && p['mode'] !== '' ? p['mode'] : 'AK';
  if (!PROFILE_MODES.includes(mode)) {
    throw profileProblem(
      chooser,
      `profile ${JSON.stringify(wanted)} has mode ${JSON.stringify(mode.slice(0, 40))}, which ` +
        `@alicloud/credentials does not support (supported: ${PROFILE_MODES.join(', ')})`,
    );
  }
  const needs: Record<string, string[]> = {
    AK: ['access_key_id', 'access_key_secret'],
    StsToken: ['access_key_id', 'access_key_secret', 'sts_token'],
    RamRoleArn: ['access_key_id', 'access_key_secret', 'ram_role_arn'],
    EcsRamRole: [],
    OIDC: ['ram_role_arn', 'oidc_provider_arn', 'oidc_token_file'],
    ChainableRamRoleArn: ['source_profile', 'ram_role_arn'],
  };
  const missing = (needs[mode] ?? []).filter((f) => typeof p[f] !== 'string' || p[f] === '');
  if (missing.length > 0) {
    throw profileProblem(
      chooser,
      `profile ${JSON.stringify(wanted)} (mode ${mode}) in ${file} lacks ${missing.join(', ')} (values not shown)`,
    );
  }
  return { profile: wanted, mode };
}

const isTrue = (v: string | undefined) => v?.trim().toLowerCase() === 'true';

/**
 * Chooses the link of the chain (module comment) from the CLI's environment and the `--profile`
 * flag. A problem with an explicitly chosen profile throws a coded error naming `--profile` or
 * `ALIBABA_CLOUD_PROFILE`; "nothing configured" and half-set access keys come back as problems, so
 * they are listed with the configuration's own.
 */
export function chooseCredentialSource(
  env: Env,
  options: { profile?: string } = {},
): { source?: CredentialSource; problems: ConfigProblem[] } {
  const home = homeOf(env);
  if (options.profile !== undefined) {
    const file = cliConfigPath(home);
    const chosen = selectCliProfile(file, options.profile, '--profile')!;
    return { source: { via: 'cli-profile', home, file, ...chosen, chosenBy: '--profile' }, problems: [] };
  }
  const id = env['ALIBABA_CLOUD_ACCESS_KEY_ID']?.trim();
  const secret = env['ALIBABA_CLOUD_ACCESS_KEY_SECRET'];
  const token = env['ALIBABA_CLOUD_SECURITY_TOKEN'];
  if (id && secret) {
    return {
      source: { via: 'env', accessKeyId: id, accessKeySecret: secret, ...(token ? { securityToken: token } : {}) },
      problems: [],
    };
  }
  if (id || secret) return { problems: accessKeyProblems(id, secret) };
  const roleArn = env['ALIBABA_CLOUD_ROLE_ARN'];
  const oidcProviderArn = env['ALIBABA_CLOUD_OIDC_PROVIDER_ARN'];
  const tokenFile = env['ALIBABA_CLOUD_OIDC_TOKEN_FILE'];
  if (roleArn && oidcProviderArn && tokenFile) {
    const sessionName = env['ALIBABA_CLOUD_ROLE_SESSION_NAME'];
    return {
      source: { via: 'oidc', roleArn, oidcProviderArn, tokenFile, ...(sessionName ? { sessionName } : {}) },
      problems: [],
    };
  }
  if (!isTrue(env['ALIBABA_CLOUD_CLI_PROFILE_DISABLED'])) {
    const file = cliConfigPath(home);
    const named = env['ALIBABA_CLOUD_PROFILE']?.trim() || undefined;
    const chooser: ProfileChooser = named === undefined ? 'current' : 'ALIBABA_CLOUD_PROFILE';
    const chosen = selectCliProfile(file, named, chooser);
    if (chosen) return { source: { via: 'cli-profile', home, file, ...chosen, chosenBy: chooser }, problems: [] };
  }
  const roleName = env['ALIBABA_CLOUD_ECS_METADATA']?.trim();
  if (roleName && !isTrue(env['ALIBABA_CLOUD_ECS_METADATA_DISABLED'])) {
    const imdsV1Disabled = isTrue(env['ALIBABA_CLOUD_IMDSV1_DISABLED']);
    return { source: { via: 'ecs-ram-role', roleName, imdsV1Disabled }, problems: [] };
  }
  const uri = env['ALIBABA_CLOUD_CREDENTIALS_URI']?.trim();
  if (uri) return { source: { via: 'credentials-uri', uri }, problems: [] };
  return { problems: accessKeyProblems(id, secret) };
}

function accessKeyProblems(id: string | undefined, secret: string | undefined): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (!id) {
    const message =
      'ALIBABA_CLOUD_ACCESS_KEY_ID: required in direct mode (your access key id), unless another source ' +
      'of the credential chain is set (--profile, ~/.aliyun/config.json, OIDC, ECS RAM role; see --help)';
    problems.push({ variable: 'ALIBABA_CLOUD_ACCESS_KEY_ID', message });
  }
  if (!secret) {
    const message = 'ALIBABA_CLOUD_ACCESS_KEY_SECRET: required in direct mode (value not shown)';
    problems.push({ variable: 'ALIBABA_CLOUD_ACCESS_KEY_SECRET', message });
  }
  return problems;
}

/** Where the credentials come from, for people (never a secret). */
export function describeSource(s: CredentialSource): string {
  switch (s.via) {
    case 'env':
      return `${s.securityToken ? 'STS access key' : 'access key'} ${s.accessKeyId} from ALIBABA_CLOUD_ACCESS_KEY_ID`;
    case 'oidc':
      return `OIDC role ${s.roleArn}`;
    case 'cli-profile': {
      const by = s.chosenBy === 'current' ? 'current profile' : `profile (${s.chosenBy})`;
      return `${by} ${JSON.stringify(s.profile)} (mode ${s.mode}) of ${s.file}`;
    }
    case 'ecs-ram-role':
      return `ECS RAM role ${s.roleName}`;
    case 'credentials-uri':
      return 'ALIBABA_CLOUD_CREDENTIALS_URI';
  }
}

type Provider = ConstructorParameters<typeof CredentialsModule.default>[1];

/** The package's own provider for a link. */
function providerOf(s: CredentialSource): NonNullable<Provider> {
  switch (s.via) {
    case 'env':
      return s.securityToken
        ? mod.StaticSTS.builder()
            .withAccessKeyId(s.accessKeyId)
            .withAccessKeySecret(s.accessKeySecret)
            .withSecurityToken(s.securityToken)
            .build()
        : mod.StaticAK.builder().withAccessKeyId(s.accessKeyId).withAccessKeySecret(s.accessKeySecret).build();
    case 'oidc': {
      const b = mod.Oidc.builder()
        .withRoleArn(s.roleArn)
        .withOIDCProviderArn(s.oidcProviderArn)
        .withOIDCTokenFilePath(s.tokenFile);
      return (s.sessionName ? b.withRoleSessionName(s.sessionName) : b).build();
    }
    case 'cli-profile': {
      const provider = mod.CliProfile.builder().withProfileName(s.profile).build();
      // The provider reads `<homedir>/.aliyun/config.json` with homedir = os.homedir() at
      // construction; its `homedir` field is the package's own test seam ("used for mock",
      // src/providers/cli_profile.ts). Set it so the CLI's HOME (tests, --local) is the one read.
      (provider as unknown as { homedir: string }).homedir = s.home;
      return provider;
    }
    case 'ecs-ram-role':
      return mod.Ecs.builder().withRoleName(s.roleName).withDisableIMDSv1(s.imdsV1Disabled).build();
    case 'credentials-uri':
      return mod.Uri.builder().withCredentialsURI(s.uri).build();
  }
}

/** The operator's credentials: the official client, resolved on demand. */
export interface OperatorCredentials {
  readonly source: CredentialSource;
  /** For people and doctor; never a secret. */
  readonly description: string;
  /** The official Credential client (openapi-client refreshes through it by itself). */
  readonly client: CredentialClient;
  /** Asks the provider now (session providers refresh before expiry); errors are coded, secret-free. */
  resolve(): Promise<KmsCredentials>;
  /** The last resolved credentials (KmsPort reads these before every call); throws before resolve(). */
  current(): KmsCredentials;
}

/** Builds the operator's credentials for a chosen link (no network until resolve()). */
export function operatorCredentials(source: CredentialSource): OperatorCredentials {
  const client = new mod.Credential(null, providerOf(source));
  const description = describeSource(source);
  let last: KmsCredentials | undefined;
  return {
    source,
    description,
    client,
    async resolve() {
      let model: { accessKeyId?: string; accessKeySecret?: string; securityToken?: string };
      try {
        model = await client.getCredential();
      } catch (err) {
        throw resolveFailed(description, source, err, last);
      }
      if (!model.accessKeyId || !model.accessKeySecret) {
        throw resolveFailed(description, source, new Error('no access key in the answer'), last);
      }
      last = {
        accessKeyId: model.accessKeyId,
        accessKeySecret: model.accessKeySecret,
        ...(model.securityToken ? { securityToken: model.securityToken } : {}),
      };
      return last;
    },
    current() {
      if (!last) {
        throw new OrchestratorError(ErrorCode.Internal, 'operator credentials used before they were resolved', {
          details: { field: 'credentials' },
        });
      }
      return last;
    },
  };
}

/** A failed resolution: the provider's message, cut, with anything secret-looking removed. */
function resolveFailed(
  description: string,
  source: CredentialSource,
  err: unknown,
  last: KmsCredentials | undefined,
): OrchestratorError {
  let why = err instanceof Error ? err.message : 'unknown error';
  for (const secret of [last?.accessKeySecret, last?.securityToken, source.via === 'env' ? source.accessKeySecret : ''])
    if (secret && secret.length >= 8) why = why.split(secret).join('[redacted]');
  // Provider messages may echo an STS or metadata answer: keep one short line of word characters.
  why = why
    .replace(/[A-Za-z0-9+/=_-]{24,}/g, '[redacted]')
    .replace(/\s+/g, ' ')
    .slice(0, 200);
  const field = source.via === 'cli-profile' && source.chosenBy === '--profile' ? '--profile' : 'credentials';
  return new OrchestratorError(ErrorCode.Unauthenticated, `credentials from ${description}: ${why}`, {
    details: { field, source: source.via },
  });
}

/**
 * Takes the global `--profile <name>` (or `--profile=<name>`) out of the command line, valid
 * anywhere like the mode flags. Problems are usage errors naming the flag.
 */
export function takeProfileFlag(argv: string[]): { rest: string[]; profile?: string } {
  const rest: string[] = [];
  let profile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    let value: string | undefined;
    if (a === '--profile') {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('-')) throw profileFlagError('needs a profile name');
      i++;
    } else if (a.startsWith('--profile=')) value = a.slice('--profile='.length);
    else {
      rest.push(a);
      continue;
    }
    if (profile !== undefined) throw profileFlagError('given twice');
    if (!/^[!-~]{1,64}$/.test(value)) {
      throw profileFlagError('must be a profile name of 1-64 printable ASCII characters without spaces');
    }
    profile = value;
  }
  return profile === undefined ? { rest } : { rest, profile };
}

function profileFlagError(rule: string): OrchestratorError {
  return new OrchestratorError(ErrorCode.InvalidInput, `--profile: ${rule}`, { details: { field: 'argv' } });
}
