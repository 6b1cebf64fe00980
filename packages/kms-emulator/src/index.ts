/**
 * A faithful local Alibaba Cloud KMS (API 2016-01-20) emulator: the official
 * `@alicloud/kms20160120` client talks to it unchanged (`endpoint: '127.0.0.1:<port>'`,
 * `protocol: 'http'`). See packages/kms-emulator/README.md for behaviour and inferred choices.
 *
 * Request pipeline (one place): decode -> authenticate -> resolve action -> QPS/faults ->
 * lazy time-driven transitions -> synchronous handler -> persist -> respond. Because handlers
 * are synchronous and persistence is synchronous, each action is atomic.
 */
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ACTIONS, NOT_EMULATED_ACTIONS, findAction } from './actions/registry.js';
import { handleAdmin } from './admin.js';
import type { AdminDeps } from './admin.js';
import { OffsetClock, scaledRealTime } from './clock.js';
import type { EmulatorClock } from './clock.js';
import { KmsApiError, kmsError } from './errors.js';
import { FaultInjector, parseFaultRequest } from './faults.js';
import type { FaultRequest, FaultRule, QpsStats } from './faults.js';
import { configureInstances, instanceControls } from './instances.js';
import type { InstanceControls, InstanceSpec } from './instances.js';
import { RequestParams } from './params.js';
import { NonceCache, authenticate, decodeParams, readBody, sendKmsError, sendSuccess } from './protocol.js';
import { acs3RequestOf } from './signature-v3.js';
import { seedControls, type SeedControls } from './seed.js';
import type { EmulatorCredential } from './protocol.js';
import { EmulatorStore, loadStateFile, saveStateFile } from './store.js';

export type { EmulatorClock } from './clock.js';
export type { EmulatorCredential } from './protocol.js';
export type { FaultRequest, FaultRule, QpsStats } from './faults.js';
export { SHARED_GATEWAY_QPS_GROUPS } from './faults.js';
export type { InstanceControls, InstanceSpec, InstanceSummary } from './instances.js';
export { EmulatorErrorCode, KmsApiError, KmsEmulatorError, UnwrapError } from './errors.js';
export { AdminInputError } from './faults.js';

/** Credentials used when none are configured (documented in the README; local use only). */
export const DEFAULT_CREDENTIAL: Readonly<EmulatorCredential> = {
  accessKeyId: 'local-ak',
  accessKeySecret: 'local-secret',
};
/** Default region (only used in ARNs and HostId). */
export const DEFAULT_REGION = 'cn-hangzhou';
/** Default account UID (numeric, like real `Creator` values). */
export const DEFAULT_ACCOUNT_ID = '1234567890123456';

/** Options of `startKmsEmulator`. */
export interface KmsEmulatorOptions {
  /** TCP port on 127.0.0.1; 0 (default) picks a free port. */
  port?: number;
  /** Accepted access keys; default `[DEFAULT_CREDENTIAL]`. A `securityToken` makes it an STS credential. */
  credentials?: EmulatorCredential[];
  /** Persist state here (atomic writes, mode 0600) and reload it on start. Default: memory only. */
  stateFile?: string;
  /** Serve the `/__emulator/` admin API. */
  admin?: boolean;
  region?: string;
  accountId?: string;
  /** Emulator clock start (Unix seconds). Overrides a clock offset restored from the state file. */
  startUnix?: number;
  /** Emulator seconds per real second (demo speed; default 1): the clock moves continuously. */
  speed?: number;
  /** Check `Timestamp` within ±15 min of the real wall clock (default true). */
  verifyTimestamp?: boolean;
  /** Refuse reused `SignatureNonce`s within 15 min (default true). */
  verifyNonce?: boolean;
  /** Seed for fault-injection draws (default: CSPRNG draws). */
  faultSeed?: number;
  /** One line per request and lifecycle event; never parameters, material or secrets. */
  log?: (line: string) => void;
  /** 3 (default): KMS 3.0 with instances; 1: the shared KMS 1.0 (no instances, DKMSInstanceId refused). */
  kmsVersion?: 1 | 3;
  /** KMS 3.0 instances to create (or update, when the state file has them). */
  instances?: InstanceSpec[];
  /** KMS 3.0: CreateKey/CreateSecret without DKMSInstanceId go here (a migrated account's default instance). */
  defaultInstanceId?: string;
}

/** In-process fault controls (same validation as `POST /__emulator/faults`). */
export interface FaultControls {
  /** Adds a rule (`kind: 'reset'` clears all); throws AdminInputError on invalid input. */
  inject(request: FaultRequest): void;
  /** Removes all fault rules. */
  reset(): void;
  /** Token-bucket limit across all actions; 0 = off. */
  setQpsLimit(limit: number): void;
  /** The shared gateway's per-group quotas (faults.ts SHARED_GATEWAY_QPS_GROUPS) x `scale`; null = off. */
  setGroupQpsLimits(scale: number | null): void;
  /** Requests the QPS limits throttled so far, in all and per action. */
  qpsThrottled(): QpsStats;
  /** Zeroes the throttle counters. */
  resetQpsStats(): void;
  /** Active rules. */
  active(): FaultRule[];
}

/** One key in `inspectKeys()`. */
export interface InspectedKey {
  keyId: string;
  /** The stored state (`Enabled`, `PendingImport`, ...), as DescribeKey reports it outside released instances. */
  state: string;
  /** When the imported material expires; null without material or without expiry. */
  materialExpireUnix: number | null;
  tags: Record<string, string>;
}

/** A running emulator. */
export interface KmsEmulator {
  port: number;
  /** `127.0.0.1:<port>`: what the SDK's `endpoint` wants (no scheme). */
  endpoint: string;
  /** `http://127.0.0.1:<port>` */
  url: string;
  clock: EmulatorClock;
  /** Accepts another access key (or replaces the one with the same id). */
  addCredentials(credential: EmulatorCredential): void;
  faults: FaultControls;
  /** KMS 3.0 instance controls (throw AdminInputError on invalid input or with kmsVersion 1). */
  instances: InstanceControls;
  /** Seeding by cloning a template's records (seed.ts; benchmarks). */
  seed: SeedControls;
  /**
   * Every key as the emulator holds it now (after expiring what the clock has passed), read in
   * process: for tests that check the account's truth every simulated day without paying for the
   * HTTP calls. No material, no secret.
   */
  inspectKeys(): InspectedKey[];
  /** Stops listening, drops open connections, writes pending state. Idempotent. */
  close(): Promise<void>;
}

function validateCredential(c: EmulatorCredential): EmulatorCredential {
  if (
    typeof c.accessKeyId !== 'string' ||
    c.accessKeyId === '' ||
    typeof c.accessKeySecret !== 'string' ||
    c.accessKeySecret === ''
  ) {
    throw new TypeError('credentials need a non-empty accessKeyId and accessKeySecret');
  }
  const copy: EmulatorCredential = { accessKeyId: c.accessKeyId, accessKeySecret: c.accessKeySecret };
  if (c.securityToken !== undefined && c.securityToken !== '') copy.securityToken = c.securityToken;
  return copy;
}

/** Starts the emulator on 127.0.0.1. Rejects if the port is taken or the state file is unusable. */
export async function startKmsEmulator(options: KmsEmulatorOptions = {}): Promise<KmsEmulator> {
  const log = options.log ?? (() => {});
  const region = options.region ?? DEFAULT_REGION;
  const accountId = options.accountId ?? DEFAULT_ACCOUNT_ID;
  const hostId = `kms.${region}.aliyuncs.com`;
  const verify = { verifyTimestamp: options.verifyTimestamp ?? true, verifyNonce: options.verifyNonce ?? true };
  const credentials = new Map<string, EmulatorCredential>();
  for (const c of options.credentials ?? [DEFAULT_CREDENTIAL]) credentials.set(c.accessKeyId, validateCredential(c));

  const stateFile = options.stateFile;
  const persisted = stateFile === undefined ? undefined : loadStateFile(stateFile);
  if (stateFile !== undefined && persisted !== undefined) {
    const mode = statSync(stateFile).mode & 0o777;
    if ((mode & 0o077) !== 0)
      log(`kms-emulator warning: state file mode is ${mode.toString(8)}; it will be rewritten as 600`);
  }
  const store = persisted === undefined ? EmulatorStore.create() : EmulatorStore.fromPersisted(persisted);
  let clock: OffsetClock;
  // Saves when something changed; on failure the flag stays set, so the next request retries.
  const persist = (): void => {
    if (!store.isDirty()) return;
    if (stateFile !== undefined) saveStateFile(stateFile, store.toPersisted(clock.persistedOffset));
    store.clearDirty();
  };
  const speed = options.speed ?? 1;
  const realNowMs = speed === 1 ? Date.now : scaledRealTime(speed);
  const initialOffsetMs =
    options.startUnix !== undefined ? options.startUnix * 1000 - realNowMs() : (persisted?.clockOffsetMs ?? 0);
  const onClockChange = (): void => {
    store.markDirty();
    try {
      persist();
    } catch (err) {
      // Never throw from clock.advance/set (callers tick it from timers); the dirty flag stays
      // set, so the next request retries the write and reports InternalFailure if it fails again.
      log(
        `kms-emulator warning: could not persist the clock offset: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  };
  clock = new OffsetClock(initialOffsetMs, realNowMs, onClockChange, speed);
  configureInstances(store, options, clock.nowUnix());
  if (persisted === undefined || options.startUnix !== undefined) store.markDirty();
  persist(); // creates the file (0600) right away, so a fresh emulator's secret is stable

  const faults = new FaultInjector(options.faultSeed);
  const nonces = new NonceCache();
  const knownActions = new Set(Object.keys(ACTIONS));
  const settle = (): void => {
    store.sweep(clock.nowUnix());
    persist();
  };
  const adminDeps: AdminDeps = { store, clock, faults, knownActions, settle };

  const handleApi = async (req: IncomingMessage, res: ServerResponse, requestId: string): Promise<string> => {
    const method = req.method ?? '';
    if (method !== 'POST' && method !== 'GET') throw kmsError('UnsupportedHTTPMethod');
    const body = await readBody(req);
    const decoded = decodeParams(req.url ?? '/', req.headers['content-type'], body);
    const authenticated = authenticate(
      method,
      decoded,
      credentials,
      verify,
      nonces,
      Date.now(),
      acs3RequestOf(req, body),
    );
    const { action } = authenticated;
    const caller = {
      accessKeyId: authenticated.credential.accessKeyId,
      sts: authenticated.credential.securityToken !== undefined,
    };
    const handler = findAction(action);
    if (handler === undefined) {
      if (NOT_EMULATED_ACTIONS.has(action))
        throw kmsError('UnsupportedOperation', `The action ${action} is not supported by the local KMS emulator.`);
      throw kmsError('InvalidAction.NotFound');
    }
    const decision = faults.decide(action);
    if (decision.latencyMs > 0) await sleep(decision.latencyMs);
    if (decision.error !== null) throw kmsError(decision.error);
    // From here on everything is synchronous: sweep, handler and persistence are one atomic step.
    const nowUnix = clock.nowUnix();
    store.sweep(nowUnix);
    let fields: Record<string, unknown>;
    try {
      fields = handler({ params: new RequestParams(decoded), store, nowUnix, region, accountId, requestId, caller });
    } finally {
      persist(); // a failed action may still have applied time-driven transitions
    }
    sendSuccess(res, fields, requestId);
    return action;
  };

  const server: Server = createServer({ maxHeaderSize: 1 << 20 }, (req, res) => {
    const startedMs = Date.now();
    const requestId = randomUUID();
    const pathname = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    let action = '-';
    const finish = (status: number, code: string): void =>
      log(
        `kms-emulator ${req.method ?? '?'} ${pathname} ${action} ${status} ${code} ` +
          `${Date.now() - startedMs}ms ${requestId}`,
      );
    const fail = (err: unknown): void => {
      let apiError: KmsApiError;
      if (err instanceof KmsApiError) apiError = err;
      else {
        const what = err instanceof Error ? `${err.name}: ${err.message}` : 'non-error thrown';
        log(`kms-emulator internal error (${action}): ${what}`);
        apiError = kmsError('InternalFailure');
      }
      if (!res.headersSent) sendKmsError(res, apiError, requestId, hostId);
      else res.destroy();
      finish(apiError.httpStatus, apiError.kmsCode);
    };
    if (pathname.startsWith('/__emulator/') && options.admin === true) {
      handleAdmin(req, res, pathname, adminDeps).then(() => finish(res.statusCode, 'admin'), fail);
      return;
    }
    if (pathname !== '/') {
      fail(kmsError('InvalidAction.NotFound'));
      return;
    }
    const v3Action = req.headers['x-acs-action'];
    const actionName =
      new URL(req.url ?? '/', 'http://127.0.0.1').searchParams.get('Action') ??
      (typeof v3Action === 'string' ? v3Action : null);
    if (actionName !== null && /^[A-Za-z0-9]{1,64}$/.test(actionName)) action = actionName; // log-safe
    handleApi(req, res, requestId).then(() => finish(200, 'OK'), fail);
  });

  // Outlive the client's idle keep-alive sockets (Node's global agent drops them after 5 s), so the
  // server never closes a socket the SDK is about to reuse (a classic ECONNRESET race).
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', onError);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  log(`kms-emulator listening on http://127.0.0.1:${port}`);

  let closing: Promise<void> | undefined;
  return {
    port,
    endpoint: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    clock,
    addCredentials(credential) {
      const c = validateCredential(credential);
      credentials.set(c.accessKeyId, c);
    },
    faults: {
      inject: (request) => void faults.inject(parseFaultRequest(request, knownActions)),
      reset: () => faults.reset(),
      setQpsLimit: (limit) => {
        if (!Number.isInteger(limit) || limit < 0) throw new RangeError('QPS limit must be an integer >= 0');
        faults.setQpsLimit(limit);
      },
      setGroupQpsLimits: (scale) => faults.setGroupQpsLimits(scale),
      qpsThrottled: () => faults.qpsThrottled(),
      resetQpsStats: () => faults.resetQpsStats(),
      active: () => faults.active(),
    },
    instances: instanceControls(store, () => clock.nowUnix(), settle),
    seed: seedControls(store),
    inspectKeys() {
      settle();
      return [...store.keys.values()].map((key) => ({
        keyId: key.keyId,
        state: key.state,
        materialExpireUnix: key.material !== null && key.materialExpireUnix > 0 ? key.materialExpireUnix : null,
        tags: Object.fromEntries(key.tags.map((t) => [t.key, t.value])),
      }));
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).then(() => {
        if (speed !== 1) store.markDirty(); // a sped-up clock moved on: keep the time reached
        persist();
        log('kms-emulator stopped');
      });
      return closing;
    },
  };
}
