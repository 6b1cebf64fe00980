/**
 * Who the operator is, as Alibaba Cloud sees the credentials: STS `GetCallerIdentity` (version
 * 2015-04-01, `sts.aliyuncs.com`, no parameters, no RAM permission needed; documented:
 * docs/alerting-and-events.md §8.4), called through @alicloud/openapi-client with the official
 * Credential client. The ARN becomes the audit actor of operator commands. When the call fails the
 * CLI says so on stderr and falls back to the access key id (or $USER), marked `unverified:`.
 *
 * Where STS is: `BYOK_STS_ENDPOINT` (`host[:port]` or a URL; https unless the URL says http); else,
 * when KMS is on a loopback address, that same endpoint (the local KMS emulator answers
 * GetCallerIdentity, packages/kms-emulator/src/actions/sts.ts); else `sts.aliyuncs.com` over https.
 */
import OpenApiModule, { Config, OpenApiRequest, Params } from '@alicloud/openapi-client';
import type { Actor } from '../../shared/lifecycle/ports.js';
import type { OperatorCredentials } from './credentials.js';

type Env = Record<string, string | undefined>;

// CommonJS with `exports.default`: unwrap for loaders that hand over module.exports as the default.
const OpenApiClient = ((OpenApiModule as unknown as { default?: typeof OpenApiModule }).default ??
  OpenApiModule) as typeof OpenApiModule;
type CallApiRuntime = Parameters<InstanceType<typeof OpenApiModule>['callApi']>[2];

/** host[:port] and protocol of an endpoint. */
export interface Endpoint {
  host: string;
  protocol: 'http' | 'https';
}

/** The public STS endpoint (documented: §8.4). */
export const PUBLIC_STS_ENDPOINT: Endpoint = { host: 'sts.aliyuncs.com', protocol: 'https' };

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/i;

/** Where GetCallerIdentity goes (module comment), given the KMS endpoint in use, if any. */
export function stsEndpointOf(env: Env, kms?: Endpoint): Endpoint {
  const set = env['BYOK_STS_ENDPOINT']?.trim();
  if (set) {
    const m = /^(https?):\/\/([^/]+)\/?$/i.exec(set);
    if (m) return { host: m[2]!, protocol: m[1]!.toLowerCase() as Endpoint['protocol'] };
    return { host: set, protocol: 'https' };
  }
  if (kms && LOOPBACK.test(kms.host)) return kms;
  return PUBLIC_STS_ENDPOINT;
}

/** The documented GetCallerIdentity answer fields we use. */
export interface CallerIdentity {
  arn: string;
  identityType: string;
  accountId: string;
  principalId: string;
}

/** Calls GetCallerIdentity with the operator's Credential client. Throws the SDK's error as is. */
export async function getCallerIdentity(
  credentials: OperatorCredentials,
  endpoint: Endpoint,
  timeoutMs = 5000,
): Promise<CallerIdentity> {
  const client = new OpenApiClient(
    new Config({
      credential: credentials.client as unknown as Config['credential'],
      endpoint: endpoint.host,
      protocol: endpoint.protocol,
      regionId: 'cn-hangzhou', // STS is global; the signer only needs some region
    }),
  );
  const runtime = {
    readTimeout: timeoutMs,
    connectTimeout: timeoutMs,
    autoretry: false,
    maxAttempts: 1,
  } as unknown as CallApiRuntime;
  const response = (await client.callApi(
    new Params({
      action: 'GetCallerIdentity',
      version: '2015-04-01',
      protocol: endpoint.protocol.toUpperCase(),
      pathname: '/',
      method: 'POST',
      authType: 'AK',
      style: 'RPC',
      reqBodyType: 'formData',
      bodyType: 'json',
    }),
    new OpenApiRequest({}),
    runtime,
  )) as { body?: Record<string, unknown> };
  const body = response.body ?? {};
  const text = (k: string) => (typeof body[k] === 'string' ? (body[k] as string) : '');
  if (!text('Arn')) throw new Error('GetCallerIdentity answered without an Arn');
  return {
    arn: text('Arn'),
    identityType: text('IdentityType'),
    accountId: text('AccountId'),
    principalId: text('PrincipalId'),
  };
}

/** The audit actor id rule (shared/audit/event.ts): 1-128 of letters, digits and `. _ : @ / + = -`. */
const ACTOR_ID = /^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}$/;

/** The actor id of a verified identity: the ARN, or (too long or odd) the account and principal id. */
export function actorIdOf(identity: CallerIdentity): string {
  if (ACTOR_ID.test(identity.arn)) return identity.arn;
  const short = `acs:ram::${identity.accountId}:principal/${identity.principalId}`;
  return ACTOR_ID.test(short) ? short : `unverified:${identity.accountId}`.slice(0, 128);
}

/** The fallback of today, marked: the access key id (not a secret), else $USER. */
export function unverifiedActorId(env: Env, accessKeyId: string | undefined): string {
  const who = (accessKeyId || env['USER'] || env['USERNAME'] || 'unknown').replace(/[^A-Za-z0-9._:@/+=-]/g, '_');
  return `unverified:${who}`.slice(0, 128);
}

/** The operator actor and how it was found. */
export interface OperatorIdentity {
  actor: Actor;
  verified: boolean;
  /** For doctor and messages: `acs:ram::...:user/alice (profile "dev" ...)`. */
  description: string;
}

/**
 * Resolves the operator identity once: GetCallerIdentity, else the marked fallback with one warning
 * line (the failure's name only: SDK messages can carry request details).
 */
export async function resolveOperatorIdentity(
  env: Env,
  credentials: OperatorCredentials,
  endpoint: Endpoint,
  warn: (line: string) => void,
): Promise<OperatorIdentity> {
  try {
    const identity = await getCallerIdentity(credentials, endpoint);
    const id = actorIdOf(identity);
    return {
      actor: { kind: 'operator', id },
      verified: true,
      description: `${identity.arn} (${credentials.description})`,
    };
  } catch (err) {
    const e = err as { code?: unknown; name?: unknown; data?: { Code?: unknown } };
    const why = [e.data?.Code, e.code, e.name].find((x) => typeof x === 'string' && /^[\w.-]{1,80}$/.test(x));
    let accessKeyId: string | undefined;
    try {
      accessKeyId = credentials.current().accessKeyId;
    } catch {
      accessKeyId = undefined;
    }
    const id = unverifiedActorId(env, accessKeyId);
    warn(
      `warning: could not verify who you are with STS GetCallerIdentity at ${endpoint.host} ` +
        `(${String(why ?? 'error')}); audit events name you as ${id}`,
    );
    return { actor: { kind: 'operator', id }, verified: false, description: `${id} (${credentials.description})` };
  }
}
