/**
 * The soak's invariant checker (docs/design.md §5, README "How it works"). It reads the account
 * itself, fault-free and independently of the engine (DescribeKey, ListResourceTags, ListAliases,
 * the escrow's get, Encrypt/Decrypt of its own probes), and remembers what it must across sweeps:
 * which keys it saw revoked, which keys the operator disabled, what bound a retired generation's
 * Valid Until must keep, a ciphertext per generation.
 *
 * "always" invariants are checked after every sweep, faulty or not; "converged" ones only after a
 * fault-free sweep (no emulator fault and no crash while it ran; what was changed out of band
 * before it is what it must repair): a fault may stop a repair, the next fault-free sweep must
 * then have made it.
 */
import type { EscrowPort } from '../../shared/lifecycle/ports.js';
import type { KmsPort } from '../../shared/kms/port.js';
import { DAY_MS, Hold, Phase, Tag, parseMarker, policyFor, type Policies } from '../../shared/lifecycle/model.js';
import type { RunOutput } from './world.js';

/** The invariants, in the order they are printed. */
export const INVARIANTS = {
  'escrow-matches-tag': 'always',
  'one-cmk-per-generation': 'always',
  'alias-on-ready-key': 'always',
  'revoked-hold-kept': 'always',
  'disabled-never-reenabled': 'always',
  'retired-not-renewed': 'always',
  'no-secret-in-output': 'always',
  'every-run-ends': 'always',
  'one-current-generation': 'converged',
  'alias-on-current-generation': 'converged',
  'healthy-keys-enabled': 'converged',
  'old-ciphertext-readable': 'converged',
  'fault-free-sweep-succeeds': 'converged',
} as const;
/** An invariant name. */
export type Invariant = keyof typeof INVARIANTS;

/** Counters of one invariant. */
export interface InvariantCount {
  sweeps: number;
  faults: number;
  violations: number;
}

/** One violation, as reported. */
export interface Violation {
  invariant: Invariant;
  detail: string;
}

/** One managed (or marker-carrying) key as the checker reads it. */
export interface KeyObs {
  keyId: string;
  state: string;
  materialExpireAtMs?: number;
  lineage?: string;
  generation?: number;
  phase?: string;
  hold?: string;
  fingerprint?: string;
  superseded: boolean;
}

/** What the checker read. */
export interface WorldObs {
  nowMs: number;
  keys: KeyObs[];
  /** alias name -> key id */
  aliases: Record<string, string>;
}

/** Reads every EXTERNAL key carrying our tags or our CreateKey marker, and every alias. */
export async function observeWorld(kms: KmsPort, nowMs: number): Promise<WorldObs> {
  const keys: KeyObs[] = [];
  for (const keyId of await kms.listKeys()) {
    const meta = await kms.describeKey(keyId);
    if (meta.origin !== 'EXTERNAL') continue;
    const tags = await kms.listResourceTags(keyId);
    const marker = parseMarker(meta.description);
    const lineage = tags[Tag.Lineage] ?? marker?.lineage;
    if (lineage === undefined) continue;
    const generation = tags[Tag.Generation] !== undefined ? Number(tags[Tag.Generation]) : marker?.generation;
    keys.push({
      keyId,
      state: meta.keyState,
      ...(meta.materialExpireAtMs === undefined ? {} : { materialExpireAtMs: meta.materialExpireAtMs }),
      lineage,
      ...(generation === undefined ? {} : { generation }),
      ...(tags[Tag.Phase] === undefined ? {} : { phase: tags[Tag.Phase] }),
      ...(tags[Tag.Hold] === undefined ? {} : { hold: tags[Tag.Hold] }),
      ...(tags[Tag.Fingerprint] === undefined ? {} : { fingerprint: tags[Tag.Fingerprint] }),
      superseded: tags[Tag.SupersededAt] !== undefined,
    });
  }
  // A stable order (not KMS's random key ids), so a seed's choices land on the same generations.
  keys.sort(
    (a, b) =>
      a.lineage!.localeCompare(b.lineage!) ||
      (a.generation ?? 0) - (b.generation ?? 0) ||
      a.keyId.localeCompare(b.keyId),
  );
  const aliases: Record<string, string> = {};
  for (const a of await kms.listAliases()) aliases[a.aliasName] = a.keyId;
  return { nowMs, keys, aliases };
}

/** The strings a secret may appear as in text: hex, base64 and base64url of its bytes. */
export function secretForms(bytes: Buffer): string[] {
  return [bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64url')];
}

/** The checker: call `check` after each sweep. */
export class InvariantChecker {
  readonly counts: Record<Invariant, InvariantCount>;
  /** Keys seen with a `revoked` hold (and whether seen without material since), until a successful restore. */
  private readonly revoked = new Map<string, { down: boolean }>();
  /** Keys the operator disabled (console) and has not enabled or restored since. */
  readonly operatorDisabled = new Set<string>();
  /** Highest Valid Until a retired generation may have (its expiry when retired, or a revival's bound). */
  private readonly retiredBound = new Map<string, number>();
  /** Text forms of every secret the run could leak (materials, the access key secret). */
  private readonly secrets = new Set<string>();
  private readonly escrowed = new Set<string>();
  /** A ciphertext written under each key while it was usable (data the lineage must keep readable). */
  private readonly probes = new Map<string, { ciphertextBlob: string; plaintext: string }>();
  /** The last observation (targets for the next sweep's scenario). */
  last: WorldObs | undefined;

  constructor(
    private readonly reader: { kms: KmsPort; escrow: EscrowPort; policies: Policies; nowMs(): number },
    options: { secrets?: string[]; counts?: Record<Invariant, InvariantCount> } = {},
  ) {
    for (const s of options.secrets ?? []) this.secrets.add(s);
    this.counts =
      options.counts ??
      (Object.fromEntries(
        Object.keys(INVARIANTS).map((name) => [name, { sweeps: 0, faults: 0, violations: 0 }]),
      ) as Record<Invariant, InvariantCount>);
  }

  /** Reads the account without checking (a new world): what later checks compare against. */
  async prime(): Promise<void> {
    this.last = await observeWorld(this.reader.kms, this.reader.nowMs());
  }

  /**
   * A restore the operator ran imported the key's material (so it is usable by the operator's
   * doing); `holdRemoved`: it also got as far as removing the hold (restored in full).
   */
  restoreImported(keyId: string, holdRemoved: boolean): void {
    this.operatorDisabled.delete(keyId);
    if (holdRemoved) this.revoked.delete(keyId);
    else {
      const seen = this.revoked.get(keyId);
      if (seen !== undefined) seen.down = false;
    }
  }

  /** The operator retired `keyId`; its Valid Until was `expireAtMs` right after. */
  retiredNow(keyId: string, expireAtMs: number | undefined): void {
    if (!this.retiredBound.has(keyId)) this.retiredBound.set(keyId, expireAtMs ?? 0);
  }

  /** A revival (re-import of a retired generation) succeeded at `nowMs` for `reviveDays`. */
  revived(keyId: string, nowMs: number, reviveDays: number): void {
    const bound = nowMs + reviveDays * DAY_MS + 60_000;
    this.retiredBound.set(keyId, Math.max(this.retiredBound.get(keyId) ?? 0, bound));
  }

  /**
   * Checks every invariant against the account now; `converged` after a fault-free sweep.
   * `outputs`: what the runs of this sweep wrote; `sweepErrors`: why a fault-free sweep did not succeed.
   */
  async check(input: {
    converged: boolean;
    faults: number;
    outputs: RunOutput[];
    sweepErrors: string[];
    /** Runs (sweeps, commands) that never ended: they looped. */
    runaways?: string[];
  }): Promise<Violation[]> {
    const obs = await observeWorld(this.reader.kms, this.reader.nowMs());
    this.last = obs;
    const found: Violation[] = [];
    const v = (invariant: Invariant, detail: string) => found.push({ invariant, detail });
    await this.checkEscrow(obs, v);
    this.checkGenerations(obs, v);
    this.checkHolds(obs, v);
    this.checkRetired(obs, v);
    this.checkOutputs(input.outputs, v);
    for (const why of input.runaways ?? []) v('every-run-ends', `a run looped: ${why}`);
    if (input.converged) {
      this.checkConverged(obs, v);
      await this.checkProbes(obs, v);
      for (const e of input.sweepErrors) v('fault-free-sweep-succeeds', e);
    }
    for (const [name, kind] of Object.entries(INVARIANTS) as Array<[Invariant, string]>) {
      if (kind === 'converged' && !input.converged) continue;
      const c = this.counts[name];
      c.sweeps++;
      c.faults += input.faults;
      c.violations += found.filter((f) => f.invariant === name).length;
    }
    return found;
  }

  /** Every key with a fingerprint tag has an escrow record of that fingerprint (material never lost). */
  private async checkEscrow(obs: WorldObs, v: (i: Invariant, d: string) => void): Promise<void> {
    for (const k of obs.keys) {
      if (k.fingerprint === undefined) continue;
      try {
        const record = await this.reader.escrow.get(k.keyId);
        if (record.fingerprint !== k.fingerprint || record.keyId !== k.keyId)
          v('escrow-matches-tag', `${k.keyId}: escrow fingerprint ${record.fingerprint} != tag ${k.fingerprint}`);
        if (!this.escrowed.has(k.keyId)) {
          this.escrowed.add(k.keyId);
          for (const s of secretForms(record.material)) this.secrets.add(s);
        }
        record.material.fill(0);
      } catch (err) {
        const code = (err as { code?: string }).code ?? (err as Error).name;
        v('escrow-matches-tag', `${k.keyId} (${k.lineage} g${k.generation}, ${k.state}): escrow unreadable: ${code}`);
      }
    }
  }

  /** One CMK per generation; the alias always on a ready key of its own lineage. */
  private checkGenerations(obs: WorldObs, v: (i: Invariant, d: string) => void): void {
    const seen = new Map<string, string>();
    for (const k of obs.keys) {
      if (k.generation === undefined) continue;
      const slot = `${k.lineage} g${k.generation}`;
      const other = seen.get(slot);
      if (other !== undefined) v('one-cmk-per-generation', `${slot}: ${other} and ${k.keyId}`);
      seen.set(slot, k.keyId);
    }
    for (const lineage of new Set(obs.keys.map((k) => k.lineage))) {
      const target = obs.aliases[`alias/${lineage}`];
      if (target === undefined) continue; // a lineage whose onboarding never got as far as the alias
      const key = obs.keys.find((k) => k.keyId === target);
      if (key === undefined || key.lineage !== lineage)
        v('alias-on-ready-key', `alias/${lineage} points at ${target}, not a key of the lineage`);
      else if (key.phase !== Phase.Ready)
        v('alias-on-ready-key', `alias/${lineage} points at ${target} in phase ${key.phase ?? 'none'}`);
    }
  }

  /** Revoked holds are kept (and never re-imported into); operator-disabled keys never re-enabled. */
  private checkHolds(obs: WorldObs, v: (i: Invariant, d: string) => void): void {
    const byId = new Map(obs.keys.map((k) => [k.keyId, k]));
    for (const [keyId, seen] of this.revoked) {
      const k = byId.get(keyId);
      if (k === undefined) continue;
      if (k.hold !== Hold.Revoked)
        v('revoked-hold-kept', `${keyId}: revoked hold gone (${k.hold ?? 'none'}) without a successful restore`);
      else if (seen.down && k.state === 'Enabled')
        v('revoked-hold-kept', `${keyId}: revoked key usable again without a successful restore`);
      if (k.state === 'PendingImport') seen.down = true;
    }
    for (const k of obs.keys) {
      if (k.hold === Hold.Revoked && !this.revoked.has(k.keyId))
        this.revoked.set(k.keyId, { down: k.state === 'PendingImport' });
    }
    for (const keyId of this.operatorDisabled) {
      const k = byId.get(keyId);
      if (k?.state === 'Enabled')
        v('disabled-never-reenabled', `${keyId}: Enabled again, the operator did not enable it`);
    }
  }

  /** A retired generation is never renewed: its Valid Until stays within its bound. */
  private checkRetired(obs: WorldObs, v: (i: Invariant, d: string) => void): void {
    for (const k of obs.keys) {
      if (k.phase !== Phase.Retired) continue;
      const expiry = k.state === 'Enabled' || k.state === 'Disabled' ? (k.materialExpireAtMs ?? 0) : 0;
      const bound = this.retiredBound.get(k.keyId);
      if (bound === undefined) this.retiredBound.set(k.keyId, expiry);
      else if (expiry > bound + 1000)
        v(
          'retired-not-renewed',
          `${k.keyId}: retired, Valid Until ${new Date(expiry).toISOString()} ` +
            `beyond its bound ${new Date(bound).toISOString()}`,
        );
    }
  }

  /** No material (hex/base64) and no access key secret in audit events, progress or log lines. */
  private checkOutputs(outputs: RunOutput[], v: (i: Invariant, d: string) => void): void {
    for (const out of outputs) {
      // Where, never what: the report must not repeat the secret.
      const texts = [
        ...out.audit.map((e) => ({ text: JSON.stringify(e), where: `audit event ${e.action}/${e.phase}` })),
        ...out.lines.map((text, n) => ({ text, where: `output line ${n + 1}` })),
      ];
      for (const { text, where } of texts) {
        const leaked = [...this.secrets].find((s) => text.includes(s));
        if (leaked !== undefined) v('no-secret-in-output', `a secret (${leaked.length} chars) appears in ${where}`);
      }
    }
  }

  /**
   * Data written under a generation stays readable while the generation is kept (ready, not held,
   * not retired, not scheduled for deletion): its probe decrypts to what was encrypted. Each usable
   * key gets its probe the first time it is seen usable.
   */
  private async checkProbes(obs: WorldObs, v: (i: Invariant, d: string) => void): Promise<void> {
    for (const k of obs.keys) {
      const kept = k.phase === Phase.Ready && k.hold === undefined && k.state === 'Enabled';
      if (!kept) continue;
      const probe = this.probes.get(k.keyId);
      if (probe === undefined) {
        const plaintext = Buffer.from(`soak probe ${k.lineage} g${k.generation} ${obs.nowMs}`).toString('base64');
        const enc = await this.reader.kms.encrypt({ keyId: k.keyId, plaintext });
        this.probes.set(k.keyId, { ciphertextBlob: enc.ciphertextBlob, plaintext });
        continue;
      }
      try {
        const dec = await this.reader.kms.decrypt({ ciphertextBlob: probe.ciphertextBlob });
        if (dec.plaintext !== probe.plaintext || dec.keyId !== k.keyId)
          v('old-ciphertext-readable', `${k.keyId} (${k.lineage} g${k.generation}): probe decrypts to other data`);
      } catch (err) {
        const code = (err as { code?: string }).code ?? (err as Error).name;
        v('old-ciphertext-readable', `${k.keyId} (${k.lineage} g${k.generation}): probe does not decrypt: ${code}`);
      }
    }
  }

  /** After a fault-free sweep: one current generation, the alias on it, healthy keys Enabled and valid. */
  private checkConverged(obs: WorldObs, v: (i: Invariant, d: string) => void): void {
    for (const lineage of new Set(obs.keys.map((k) => k.lineage!))) {
      const keys = obs.keys.filter((k) => k.lineage === lineage);
      const current = keys.filter((k) => k.phase === Phase.Ready && !k.superseded && k.hold === undefined);
      if (current.length > 1)
        v('one-current-generation', `${lineage}: ${current.length} current generations (${ids(current)})`);
      const usable = keys.filter((k) => k.phase === Phase.Ready && k.state === 'Enabled' && k.hold === undefined);
      const newest = Math.max(0, ...usable.map((k) => k.generation ?? 0));
      const target = keys.find((k) => k.keyId === obs.aliases[`alias/${lineage}`]);
      if (usable.length > 0 && (target?.generation ?? 0) < newest)
        v('alias-on-current-generation', `${lineage}: alias on g${target?.generation}, newest usable is g${newest}`);
      const stuck = keys.filter(
        (k) =>
          (k.phase === Phase.Provisioning || k.phase === undefined) &&
          k.hold === undefined &&
          (k.state === 'Enabled' || k.state === 'PendingImport'),
      );
      if (stuck.length > 0) v('alias-on-current-generation', `${lineage}: provisioning not finished for ${ids(stuck)}`);
      const renewBeforeMs = policyFor(this.reader.policies, lineage).renewBeforeDays * DAY_MS;
      for (const k of keys) {
        if (k.phase !== Phase.Ready || k.state === 'PendingDeletion') continue;
        if (k.state === 'Disabled' && k.hold === undefined)
          v('healthy-keys-enabled', `${k.keyId} (${lineage} g${k.generation}): Disabled and no hold recorded`);
        if (k.hold !== undefined || k.state === 'Disabled') continue;
        const left = (k.materialExpireAtMs ?? 0) - obs.nowMs;
        if (k.state !== 'Enabled' || left <= renewBeforeMs - DAY_MS)
          v(
            'healthy-keys-enabled',
            `${k.keyId} (${lineage} g${k.generation}): ${k.state}, material ${
              k.materialExpireAtMs === undefined ? 'none' : `left ${(left / DAY_MS).toFixed(2)} d`
            }`,
          );
      }
    }
  }
}

const ids = (keys: KeyObs[]) => keys.map((k) => `g${k.generation} ${k.keyId}`).join(', ');
