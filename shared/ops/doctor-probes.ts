/**
 * `doctor`'s probes: harmless KMS calls through the KmsPort, each recorded (action, outcome) by a
 * ProbeLog so the RAM check can say exactly what was called. Reads, and Encrypt/Decrypt of a random
 * probe, which change no state; nothing is ever written. A secret read as a probe is dropped unread.
 */
import type { Config } from '../config/index.js';
import { ConfigVariable } from '../config/index.js';
import { ESCROW_SECRET_PREFIX } from '../escrow/kms-secrets-store.js';
import type { KmsPort } from '../kms/port.js';
import type { RandomSource } from '../runtime-types.js';
import { isNotFound, probeErrorOf, type ProbeError } from './doctor-checks.js';
import type { GatewayObservation } from './doctor-gateway.js';
import type { ProbeRecord } from './doctor-ram.js';

/** What doctor needs: the KMS client, the configuration and a few ambient values. */
export interface DoctorInput {
  kms: KmsPort;
  config: Config;
  nowMs: number;
  random: RandomSource;
  /** Who the probes run as, for the RAM check (`access key <id>`, `the function role`). */
  identity: string;
  /** The shipped function-role policy document, compared statically; undefined = not compared. */
  ramPolicy?: unknown;
}

/** At most this many DescribeKey calls while looking for a managed key to probe the gateway with. */
const MAX_KEY_LOOKUPS = 25;
/** Name prefix of lineage lease secrets (shared/lifecycle/lease.ts). */
const LEASE_SECRET_PREFIX = 'byok-lease/';

/** A probe's outcome as a value. */
export type Probed<T> = { ok: true; value: T } | { ok: false; error: ProbeError };

/** Records every probe (action, outcome) so the RAM check can report exactly what was called. */
export class ProbeLog {
  readonly records: ProbeRecord[] = [];
  readonly skipped: Record<string, string> = {};

  async run<T>(action: string, call: () => Promise<T>): Promise<Probed<T>> {
    try {
      const value = await call();
      this.records.push({ action });
      return { ok: true, value };
    } catch (err) {
      const error = probeErrorOf(err);
      this.records.push({ action, error });
      return { ok: false, error };
    }
  }

  /** Records why `actions` were not probed (the first reason wins). */
  skip(actions: readonly string[], why: string): void {
    for (const a of actions) this.skipped[a] ??= why;
  }
}

/** The probed value, or the probe's error. */
export const valueOr = <T>(p: Probed<T>): T | ProbeError => (p.ok ? p.value : p.error);

/**
 * Finds an Enabled managed key in the keys' instance (aliased keys first, then ListKeys order) and probes
 * Encrypt/Decrypt with it.
 */
export async function probeGateway(
  input: DoctorInput,
  probes: ProbeLog,
  keyIds: readonly string[],
): Promise<GatewayObservation> {
  const { kms, config, random } = input;
  const instanceId = config.instances.keys;
  if (instanceId === undefined) {
    probes.skip(['ListAliases', 'Encrypt', 'Decrypt'], `${ConfigVariable.KmsInstanceId} unset`);
    return { kind: 'no-instance' };
  }
  const aliases = await probes.run('ListAliases', () => kms.listAliases());
  if (!aliases.ok) {
    probes.skip(['Encrypt', 'Decrypt'], 'ListAliases failed');
    return { kind: 'lookup-failed', instanceId, action: 'ListAliases', error: aliases.error };
  }
  const aliasOf = new Map<string, string>();
  for (const a of [...aliases.value].sort((x, y) => x.aliasName.localeCompare(y.aliasName)))
    if (!aliasOf.has(a.keyId)) aliasOf.set(a.keyId, a.aliasName);
  const candidates = [...new Set([...aliasOf.keys(), ...keyIds])].slice(0, MAX_KEY_LOOKUPS);
  let found: { keyId: string; alias?: string } | undefined;
  for (const keyId of candidates) {
    const meta = await probes.run('DescribeKey', () => kms.describeKey(keyId));
    if (!meta.ok) {
      if (isNotFound(meta.error)) continue; // deleted since ListKeys
      probes.skip(['Encrypt', 'Decrypt'], 'DescribeKey failed');
      return { kind: 'lookup-failed', instanceId, action: 'DescribeKey', error: meta.error };
    }
    if (meta.value.dkmsInstanceId !== instanceId || meta.value.keyState !== 'Enabled') continue;
    const tags = await probes.run('ListResourceTags', () => kms.listResourceTags(meta.value.keyId));
    if (!tags.ok) {
      probes.skip(['Encrypt', 'Decrypt'], 'ListResourceTags failed');
      return { kind: 'lookup-failed', instanceId, action: 'ListResourceTags', error: tags.error };
    }
    if (tags.value['byok:managed'] !== 'true') continue;
    const alias = aliasOf.get(keyId);
    found = { keyId: meta.value.keyId, ...(alias ? { alias } : {}) };
    break;
  }
  if (!found) {
    probes.skip(['Encrypt', 'Decrypt'], 'no managed key yet');
    return { kind: 'no-key', instanceId };
  }
  // Encrypt changes no state; the random 16-byte probe is never kept.
  const plaintext = random.bytes(16).toString('base64');
  const enc = await probes.run('Encrypt', () => kms.encrypt({ keyId: found.keyId, plaintext }));
  if (!enc.ok) {
    probes.skip(['Decrypt'], 'Encrypt failed');
    return { kind: 'probed', instanceId, ...found, error: enc.error };
  }
  await probes.run('Decrypt', () => kms.decrypt({ ciphertextBlob: enc.value.ciphertextBlob }));
  return { kind: 'probed', instanceId, ...found };
}

/**
 * ListSecrets, then GetSecretValue / DescribeSecret / ListSecretVersionIds on one byok secret: an
 * escrow secret if one exists (the path observe takes), else a lease secret. The value read is
 * dropped without being looked at.
 */
export async function probeSecretReads(input: DoctorInput, probes: ProbeLog): Promise<void> {
  const { kms } = input;
  const perSecret = ['GetSecretValue', 'DescribeSecret', 'ListSecretVersionIds'];
  const secrets = await probes.run('ListSecrets', () => kms.listSecrets());
  if (!secrets.ok) {
    probes.skip(perSecret, 'ListSecrets failed');
    return;
  }
  const names = secrets.value.map((s) => s.secretName).sort();
  const target =
    names.find((n) => n.startsWith(ESCROW_SECRET_PREFIX)) ?? names.find((n) => n.startsWith(LEASE_SECRET_PREFIX));
  if (target === undefined) {
    probes.skip(perSecret, 'no escrow or lease secret yet');
    return;
  }
  await probes.run('GetSecretValue', async () => {
    await kms.getSecretValue({ secretName: target });
  });
  await probes.run('DescribeSecret', () => kms.describeSecret(target));
  await probes.run('ListSecretVersionIds', () => kms.listSecretVersionIds(target));
}
