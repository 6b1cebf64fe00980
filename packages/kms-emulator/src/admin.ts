/**
 * The admin API under `/__emulator/` (only with `admin: true` / `--admin`; 404 otherwise).
 * Unauthenticated by design: the emulator binds 127.0.0.1 only and is a local development tool.
 *
 *   GET    /__emulator/state   summary (never material, tokens or secret data)
 *   POST   /__emulator/clock   {"advanceSeconds": n} | {"setUnix": n}
 *   POST   /__emulator/faults  {"kind": "throttle"|"error5xx"|"latency"|"reset",
 *                                "rate"?, "actions"?, "count"?, "latencyMs"?}
 *   DELETE /__emulator/faults
 *   POST   /__emulator/qps     {"limit": n}   (0 / absent = off)
 *   GET    /__emulator/instances          KMS 3.0 instances (also in GET state)
 *   POST   /__emulator/instances          {"id", "type": "software"|"hardware", "sharedGateway"?, "endDate"? (ISO),
 *                                         "keyQuota"?, "secretQuota"? (KeyNum/SecretNum): create or update
 *   DELETE /__emulator/instances/<id>     release (keys and secrets of the instance are gone)
 *
 * Invalid bodies get 400 `{"error": "<reason>"}`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isoSeconds } from './clock.js';
import type { OffsetClock } from './clock.js';
import { AdminInputError, parseFaultRequest, parseQpsRequest } from './faults.js';
import type { FaultInjector } from './faults.js';
import {
  instanceSummary,
  parseAdminInstanceBody,
  releaseInstance,
  upsertInstance,
  validateInstanceId,
} from './instances.js';
import { readBody, sendJson } from './protocol.js';
import type { EmulatorStore } from './store.js';

/** Everything the admin routes touch. */
export interface AdminDeps {
  store: EmulatorStore;
  clock: OffsetClock;
  faults: FaultInjector;
  knownActions: ReadonlySet<string>;
  /** Applies time-driven transitions and persists if anything changed. */
  settle(): void;
}

/** The state summary: ids, states, origins, expiries, aliases, secret names; no secrets. */
export function stateSummary(deps: AdminDeps): Record<string, unknown> {
  const { store, clock, faults } = deps;
  const nowUnix = clock.nowUnix();
  let activeTokens = 0;
  for (const token of store.importTokens.values()) if (token.expiresUnix > nowUnix) activeTokens += 1;
  return {
    nowUnix,
    now: isoSeconds(nowUnix),
    // For clients that follow the emulator clock continuously (the local stack's engine clock).
    nowMs: clock.nowMs?.() ?? nowUnix * 1000,
    rate: clock.rate ?? 1,
    kmsVersion: store.kmsVersion,
    defaultInstanceId: store.defaultInstanceId,
    instances: [...store.instances.values()].map((i) => instanceSummary(store, i, nowUnix)),
    keys: [...store.keys.values()].map((key) => ({
      keyId: key.keyId,
      dkmsInstanceId: key.dkmsInstanceId ?? null,
      state: key.state,
      origin: key.origin,
      keySpec: key.keySpec,
      protectionLevel: key.protectionLevel,
      hasMaterial: key.material !== null,
      materialBound: key.boundFingerprint !== null,
      materialExpireUnix: key.material !== null && key.materialExpireUnix > 0 ? key.materialExpireUnix : null,
      deleteUnix: key.deleteUnix,
      primaryKeyVersion: key.primaryKeyVersion,
      tagCount: key.tags.length,
    })),
    aliases: [...store.aliases.values()].map((a) => ({ aliasName: a.aliasName, keyId: a.keyId })),
    secrets: [...store.secrets.values()].map((s) => ({
      secretName: s.secretName,
      encryptionKeyId: s.encryptionKeyId,
      dkmsInstanceId: s.dkmsInstanceId ?? null,
      versionIds: s.versions.map((v) => v.versionId),
      plannedDeleteUnix: s.plannedDeleteUnix,
    })),
    importTokens: { active: activeTokens, total: store.importTokens.size },
    faults: faults.active(),
    qpsLimit: faults.qpsLimit(),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Validates a clock body: exactly one of advanceSeconds (integer >= 0) / setUnix (integer >= 0). */
export function parseClockRequest(body: unknown): { advanceSeconds: number } | { setUnix: number } {
  if (!isRecord(body)) throw new AdminInputError('body must be a JSON object');
  const fields = Object.keys(body);
  const unknown = fields.find((f) => f !== 'advanceSeconds' && f !== 'setUnix');
  if (unknown !== undefined) throw new AdminInputError(`unknown field "${unknown}"`);
  if (fields.length !== 1) throw new AdminInputError('send exactly one of "advanceSeconds" or "setUnix"');
  const value = fields[0] === 'advanceSeconds' ? body['advanceSeconds'] : body['setUnix'];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new AdminInputError(`"${fields[0]}" must be a non-negative integer`);
  }
  return fields[0] === 'advanceSeconds' ? { advanceSeconds: value } : { setUnix: value };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const body = await readBody(req);
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw new AdminInputError('body is not valid JSON');
  }
}

/** Handles one admin request (path already known to start with `/__emulator/`). */
export async function handleAdmin(
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  deps: AdminDeps,
): Promise<void> {
  const route = `${req.method ?? ''} ${pathname}`;
  try {
    const instancePath = /^\/__emulator\/instances\/([^/]+)$/.exec(pathname);
    if (instancePath !== null) {
      if (req.method !== 'DELETE') {
        sendJson(res, 405, { error: `method ${req.method ?? ''} not allowed on ${pathname}` });
        return;
      }
      let raw: string;
      try {
        raw = decodeURIComponent(instancePath[1]!);
      } catch {
        throw new AdminInputError('the instance id in the path is not valid percent-encoding');
      }
      const id = validateInstanceId(raw, 'the instance id');
      deps.settle();
      if (!deps.store.instances.has(id)) {
        sendJson(res, 404, { error: `no instance ${id}` });
        return;
      }
      const instance = releaseInstance(deps.store, id, deps.clock.nowUnix());
      deps.settle();
      sendJson(res, 200, { instance: instanceSummary(deps.store, instance, deps.clock.nowUnix()) });
      return;
    }
    switch (route) {
      case 'GET /__emulator/state':
        deps.settle();
        sendJson(res, 200, stateSummary(deps));
        return;
      case 'POST /__emulator/clock': {
        const request = parseClockRequest(await readJson(req));
        if ('advanceSeconds' in request) deps.clock.advance(request.advanceSeconds);
        else deps.clock.set(request.setUnix);
        deps.settle();
        const nowUnix = deps.clock.nowUnix();
        sendJson(res, 200, { nowUnix, now: isoSeconds(nowUnix) });
        return;
      }
      case 'POST /__emulator/faults': {
        const rule = deps.faults.inject(parseFaultRequest(await readJson(req), deps.knownActions));
        sendJson(res, 200, { rule, faults: deps.faults.active() });
        return;
      }
      case 'DELETE /__emulator/faults':
        deps.faults.reset();
        sendJson(res, 200, { faults: [] });
        return;
      case 'POST /__emulator/qps': {
        const limit = parseQpsRequest(await readJson(req));
        deps.faults.setQpsLimit(limit);
        sendJson(res, 200, { qpsLimit: limit });
        return;
      }
      case 'GET /__emulator/instances': {
        deps.settle();
        const nowUnix = deps.clock.nowUnix();
        sendJson(res, 200, {
          instances: [...deps.store.instances.values()].map((i) => instanceSummary(deps.store, i, nowUnix)),
        });
        return;
      }
      case 'POST /__emulator/instances': {
        const spec = parseAdminInstanceBody(await readJson(req));
        deps.settle();
        const instance = upsertInstance(deps.store, spec, deps.clock.nowUnix());
        deps.settle();
        sendJson(res, 200, { instance: instanceSummary(deps.store, instance, deps.clock.nowUnix()) });
        return;
      }
      default: {
        const known = [
          '/__emulator/state',
          '/__emulator/clock',
          '/__emulator/faults',
          '/__emulator/qps',
          '/__emulator/instances',
        ];
        if (known.includes(pathname))
          sendJson(res, 405, { error: `method ${req.method ?? ''} not allowed on ${pathname}` });
        else sendJson(res, 404, { error: `no admin route ${pathname}` });
      }
    }
  } catch (err) {
    if (err instanceof AdminInputError) {
      sendJson(res, 400, { error: err.message });
      return;
    }
    throw err;
  }
}
