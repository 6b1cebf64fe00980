/**
 * The bench's account: a KMS emulator (KMS 1.0, or with `--kms3` KMS 3.0 with the managed keys in
 * one software instance and the escrow CMK, escrow and lease secrets in another, as the product is
 * deployed; see startWorld for why 1.0 is the default), a request counter fed by the
 * emulator's own request log, the BYOK_* environment the engine process is started with, and the
 * seeding of N lineages.
 *
 * Seeding: two lineages are onboarded through the engine (`bench-tpl-a`, then `bench-tpl-b`, whose
 * calls give the onboard baseline; `bench-tpl-a` is then rotated, giving the rotation baseline).
 * The other N - 2 lineages are clones of `bench-tpl-b` made in the emulator's state by
 * `emu.seed.cloneTemplate` (packages/kms-emulator/src/seed.ts): every record the engine wrote for
 * that lineage (CMK with its tags and description marker, alias, escrow secret, lease secret),
 * with the lineage name replaced and fresh CSPRNG material per clone, its key check value computed
 * by the engine's own fingerprintMaterial. What substitution cannot reproduce (a hash over a key's
 * tags, say) the engine then rewrites itself in one unpaced settling sweep, which must plan no
 * action. So the clones have exactly the shape the engine gives a lineage, whatever that shape is
 * when the bench runs.
 */
import { randomBytes } from 'node:crypto';
import { type KmsEmulator, startKmsEmulator } from '@byok/kms-emulator';
import { type EngineInstance, createEngineFactory } from '../../shared/bootstrap.js';
import { type Config, parseConfig } from '../../shared/config/index.js';
import { fingerprintMaterial } from '../../shared/escrow/fingerprint.js';
import { createAlicloudKms } from '../../shared/kms/alicloud-adapter.js';
import type { KmsPort } from '../../shared/kms/port.js';
import { onboard, rotateNow, sweep } from '../../shared/lifecycle/engine.js';
import type { RunDeps } from '../../shared/bootstrap.js';
import { systemRandom } from '../../shared/system.js';

/** One clone as the emulator's seeding takes it. */
type CloneSpec = Parameters<KmsEmulator['seed']['cloneTemplate']>[0]['clones'][number];

/** The bench's access key (local emulator only; not a secret). */
export const BENCH_AK = { accessKeyId: 'bench-ak', accessKeySecret: 'bench-emulator-only-0123456789' };
const KEYS_INSTANCE = 'kst-hzz65f176a0benchkeys1';
const ESCROW_INSTANCE = 'kst-hzz65f176a0benchescr1';
/** Lineage whose records are cloned. */
export const TEMPLATE_LINEAGE = 'bench-tpl-b';
/** Lineage onboarded first (warm-up) and rotated once (rotation baseline). */
export const WARMUP_LINEAGE = 'bench-tpl-a';

/** Requests the emulator answered, by action: `ok` answered 200, `throttled` refused for QPS. */
export class RequestCounter {
  private readonly ok = new Map<string, number>();
  private readonly throttled = new Map<string, number>();
  private readonly failed = new Map<string, number>();

  /** The emulator's `log` option: one line per request (`kms-emulator <method> / <Action> <status> <code> ...`). */
  readonly observe = (line: string): void => {
    const m = /^kms-emulator \S+ \/ (\S+) (\d{3}) (\S+) /.exec(line);
    if (!m) return;
    const [, action, status, code] = m as unknown as [string, string, string, string];
    const map = status === '200' ? this.ok : /Throttling$/.test(code) ? this.throttled : this.failed;
    map.set(action, (map.get(action) ?? 0) + 1);
  };

  reset(): void {
    this.ok.clear();
    this.throttled.clear();
    this.failed.clear();
  }

  /** Answered requests by action, largest first. */
  byAction(): Array<[string, number]> {
    return [...this.ok].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  }

  /** Answered requests (200). */
  get answered(): number {
    return sum(this.ok);
  }

  /** Requests refused with Throttling / Rejected.Throttling. */
  get throttledCount(): number {
    return sum(this.throttled);
  }

  /** Requests refused with any other error. */
  get failedCount(): number {
    return sum(this.failed);
  }
}

function sum(map: Map<string, number>): number {
  let n = 0;
  for (const v of map.values()) n += v;
  return n;
}

/** A running bench account. */
export interface World {
  emu: KmsEmulator;
  counter: RequestCounter;
  /** The variables the engine process is started with. */
  env: Record<string, string>;
  config: Config;
  /** Setup adapter (no latency is set while it is used). */
  kms: KmsPort;
  /** Emulator clock minus the wall clock, ms. */
  clockOffsetMs(): number;
  /** Calls of onboarding the second lineage, and of rotating the first (1-2 lineages in the account). */
  baseline: { onboardCalls: number; rotateCalls: number };
  /** Key ids of the cloned lineages' CMKs (bench-00001 ...), in order. */
  clonedKeyIds: string[];
  close(): Promise<void>;
}

/** Lineage name of clone `i` (1-based). */
export function cloneLineage(i: number): string {
  return `bench-${String(i).padStart(5, '0')}`;
}

/**
 * Key and secret quota of one emulated KMS 3.0 instance (packages/kms-emulator: INSTANCE_KEY_QUOTA,
 * INSTANCE_SECRET_QUOTA, an inferred typical purchasable size). A lineage holds one key in the keys
 * instance and two secrets (escrow and lease) in the escrow instance.
 */
export const EMULATED_INSTANCE_QUOTA = 1000;

/** Most lineages a KMS 3.0 world holds: two secrets each, plus the alert state and the bench's extras. */
export const KMS3_MAX_LINEAGES = Math.floor((EMULATED_INSTANCE_QUOTA - 8) / 2);

/**
 * Starts an account with `lineages` lineages (at least 2). `kmsVersion` 3 places keys and secrets
 * in two instances, as deployed, but the emulated instance quotas cap it at KMS3_MAX_LINEAGES; 1 is
 * the shared KMS 1.0 model, which has no instance quota (the sweep's calls differ by the instance
 * reads only: GetKmsInstance, twice per sweep).
 */
export async function startWorld(
  lineages: number,
  kmsVersion: 1 | 3,
  progress: (line: string) => void,
): Promise<World> {
  const counter = new RequestCounter();
  const v3 = kmsVersion === 3;
  const emu = await startKmsEmulator({
    port: 0,
    credentials: [BENCH_AK],
    kmsVersion,
    ...(v3
      ? {
          instances: [
            { id: KEYS_INSTANCE, type: 'software' as const },
            { id: ESCROW_INSTANCE, type: 'software' as const },
          ],
        }
      : {}),
    log: counter.observe,
  });
  const clockOffsetMs = (): number => (emu.clock.nowMs?.() ?? emu.clock.nowUnix() * 1000) - Date.now();
  try {
    const kms = createAlicloudKms({
      endpoint: emu.endpoint,
      protocol: 'http',
      regionId: 'cn-hangzhou',
      credentials: () => BENCH_AK,
      random: systemRandom,
      nowMs: () => Date.now(),
    });
    const escrowKey = await kms.createKey({
      origin: 'Aliyun_KMS',
      keySpec: 'Aliyun_AES_256',
      description: 'bench escrow and lease CMK',
      ...(v3 ? { dkmsInstanceId: ESCROW_INSTANCE } : {}),
    });
    // The operator's BYOK_* settings (e.g. BYOK_KMS_CONCURRENCY) pass through; the account's are fixed.
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (k.startsWith('BYOK_') && v !== undefined) env[k] = v;
    Object.assign(env, {
      BYOK_REGION: 'cn-hangzhou',
      BYOK_KMS_ENDPOINT: emu.endpoint,
      BYOK_KMS_PROTOCOL: 'http',
      BYOK_ESCROW_BACKEND: 'kms-secrets',
      BYOK_ESCROW_KEY_ID: escrowKey.keyId,
      BYOK_AUDIT_SINK: 'stdout',
      ALIBABA_CLOUD_ACCESS_KEY_ID: BENCH_AK.accessKeyId,
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: BENCH_AK.accessKeySecret,
    });
    if (v3) Object.assign(env, { BYOK_KMS_INSTANCE_ID: KEYS_INSTANCE, BYOK_ESCROW_INSTANCE_ID: ESCROW_INSTANCE });
    else {
      for (const k of ['BYOK_KMS_INSTANCE_ID', 'BYOK_ESCROW_INSTANCE_ID']) delete env[k];
      // KMS 1.0 has no instances to keep escrow apart from the keys: the configuration asks for consent.
      env['BYOK_ALLOW_ESCROW_IN_KEY_INSTANCE'] = 'true';
    }
    const config = parseConfig(env);
    const factory = createEngineFactory({
      config,
      clock: { nowMs: () => Date.now() + clockOffsetMs() },
      auditWriter: () => undefined,
    });
    const instance = await factory.instance(() => BENCH_AK);
    const run = (id: string) => factory.run(instance, { actor: { kind: 'operator', id: 'bench' }, runId: id });
    const counted = async (id: string, op: (deps: RunDeps) => Promise<unknown>): Promise<number> => {
      const deps = await run(id);
      try {
        counter.reset();
        await op(deps);
        return counter.answered;
      } finally {
        await deps.close();
      }
    };
    await counted('bench-warmup', (d) => onboard(d, { alias: `alias/${WARMUP_LINEAGE}` }));
    const onboardCalls = await counted('bench-template', (d) => onboard(d, { alias: `alias/${TEMPLATE_LINEAGE}` }));
    const rotateCalls = await counted('bench-rotate', (d) => rotateNow(d, `alias/${WARMUP_LINEAGE}`));
    const clonedKeyIds = await cloneTemplate(emu, instance, lineages - 2, progress);
    await settle(env, counter, clockOffsetMs, progress);
    counter.reset();
    return {
      emu,
      counter,
      env,
      config,
      kms,
      clockOffsetMs,
      baseline: { onboardCalls, rotateCalls },
      clonedKeyIds,
      close: () => emu.close(),
    };
  } catch (err) {
    await emu.close();
    throw err;
  }
}

/**
 * One sweep by the engine itself, unpaced (no quota share, 16 calls in flight, no latency), over
 * the cloned account: what the engine keeps per key that a string substitution cannot reproduce
 * (e.g. a hash over the key's tags in its escrow record's tag mirror) it rewrites here, so the
 * measured sweeps start from the state the engine maintains. It must plan no action.
 */
async function settle(
  env: Record<string, string>,
  counter: RequestCounter,
  clockOffsetMs: () => number,
  progress: (line: string) => void,
): Promise<void> {
  const config = parseConfig({ ...env, BYOK_KMS_QPS_SHARE: 'off', BYOK_KMS_CONCURRENCY: '16' });
  const factory = createEngineFactory({
    config,
    clock: { nowMs: () => Date.now() + clockOffsetMs() },
    auditWriter: () => undefined,
  });
  const deps = await factory.run(await factory.instance(() => BENCH_AK), {
    actor: { kind: 'operator', id: 'bench' },
    runId: 'bench-settle',
    alerts: false,
  });
  const started = Date.now();
  try {
    counter.reset();
    const result = await sweep(deps);
    if (result.plan.actions.length > 0) {
      const kinds = [...new Set(result.plan.actions.map((a) => a.kind))].join(', ');
      throw new Error(`the seeded account is not healthy: the settling sweep planned ${kinds}`);
    }
  } finally {
    await deps.close();
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const calls = counter.byAction().map(([action, n]) => `${action} ${n}`);
  progress(`# settling sweep (unpaced, ${seconds} s): ${calls.join(', ')}`);
}

/** Clones the template lineage `count` times (batches of 500), fresh material each. */
async function cloneTemplate(
  emu: KmsEmulator,
  instance: EngineInstance,
  count: number,
  progress: (line: string) => void,
): Promise<string[]> {
  const alias = await instance.kms.describeKey(`alias/${TEMPLATE_LINEAGE}`);
  const record = await instance.escrow.get(alias.keyId);
  const templateMaterial = record.material.toString('base64');
  const templateKcv = record.fingerprint.replace(/^kcv1:/, '');
  const keyIds: string[] = [];
  let shape = 'nothing';
  const started = Date.now();
  for (let from = 1; from <= count; from += 500) {
    const clones: CloneSpec[] = [];
    for (let i = from; i < Math.min(from + 500, count + 1); i++) {
      const material = randomBytes(record.material.length);
      const kcv = fingerprintMaterial(material).replace(/^kcv1:/, '');
      clones.push({
        replace: [
          [TEMPLATE_LINEAGE, cloneLineage(i)],
          [templateMaterial, material.toString('base64')],
          [templateKcv, kcv],
        ],
        materials: { [alias.keyId]: material.toString('base64') },
      });
      material.fill(0);
    }
    const report = emu.seed.cloneTemplate({ token: TEMPLATE_LINEAGE, clones });
    for (const ids of report.keyIds) keyIds.push(ids[alias.keyId]!);
    const per = (n: number) => n / clones.length;
    shape = `${report.templateKeyIds.length} key, ${per(report.aliases)} alias, ${per(report.secrets)} secrets`;
  }
  record.material.fill(0);
  progress(
    `# seeded ${count} lineages by cloning ${TEMPLATE_LINEAGE} (each ${shape}) in ` +
      `${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  return keyIds;
}
