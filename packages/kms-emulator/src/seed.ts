/**
 * Seeding by cloning (benchmarks, large-account tests): copies every record that belongs to one
 * template (keys whose tags or description name a token, their aliases, and the secrets that name
 * the token or one of those keys) many times, with string substitutions, directly in the state.
 * Creating thousands of lineages through the API would take minutes; a clone of a lineage the
 * client created through the API has exactly the shape the client gave it (same tags, same secret
 * layout), which is the point: the emulator knows nothing of the client's formats.
 *
 * Per clone: each template key gets a new key id (same id scheme as CreateKey), a new key version
 * id and optionally new material (bound as if imported); every string of the copied records (tags,
 * descriptions, alias and secret names, secret version ids and the decrypted secret data) has the
 * clone's substitutions applied, then the template key id -> new key id. Secret data is sealed
 * again under the secret's CMK. Import tokens are not copied. Not an API action; not persisted
 * specially (the records are ordinary state).
 */
import { randomUUID } from 'node:crypto';
import { openBlob, parseBlob, sealBlob } from './actions/crypto.js';
import { AdminInputError } from './faults.js';
import { newInstanceKeyId } from './instances.js';
import type { AliasRecord, EmulatorStore, KeyRecord, SecretRecord, Tag } from './store.js';

/** One clone: its substitutions and, per template key id, new material (base64). */
export interface CloneSpec {
  /** `[from, to]` pairs applied in order to every copied string (the template key ids follow). */
  replace: ReadonlyArray<readonly [string, string]>;
  /** New raw material (base64) per template key id; absent = the template key's material. */
  materials?: Readonly<Record<string, string>>;
}

/** What `cloneTemplate` copies and how often. */
export interface CloneRequest {
  /** Selects the template keys: a tag value or the description contains it. */
  token: string;
  clones: readonly CloneSpec[];
}

/** What one call did. */
export interface CloneReport {
  /** Template key ids, in store order. */
  templateKeyIds: string[];
  /** Per clone, template key id -> new key id. */
  keyIds: Array<Record<string, string>>;
  aliases: number;
  secrets: number;
}

/** Seeding controls of a running emulator. */
export interface SeedControls {
  /** Clones a template (see the module comment); throws AdminInputError naming the field at fault. */
  cloneTemplate(request: CloneRequest): CloneReport;
}

function substitute(text: string, pairs: ReadonlyArray<readonly [string, string]>): string {
  let out = text;
  for (const [from, to] of pairs) if (from !== '' && out.includes(from)) out = out.split(from).join(to);
  return out;
}

const mentions = (text: string, needles: readonly string[]): boolean => needles.some((n) => text.includes(n));
const tagsMention = (tags: readonly Tag[], needles: readonly string[]): boolean =>
  tags.some((t) => mentions(t.key, needles) || mentions(t.value, needles));

/** Blob context of a secret version (same binding as actions/secrets.ts). */
function secretContext(secretName: string, versionId: string): Record<string, string> {
  return { 'emulator:SecretName': secretName, 'emulator:VersionId': versionId };
}

/** A template secret with its CMK and each version's data, decrypted once per cloneTemplate call. */
interface OpenedSecret {
  secret: SecretRecord;
  key: KeyRecord;
  data: string[];
}

function openSecret(store: EmulatorStore, secret: SecretRecord): OpenedSecret {
  const key = store.keys.get(secret.encryptionKeyId);
  if (key === undefined)
    throw new AdminInputError(`token: the CMK of a template secret is gone (${secret.secretName})`);
  const data = secret.versions.map((v) =>
    openBlob(key, parseBlob(v.blob), secretContext(secret.secretName, v.versionId)).toString('utf8'),
  );
  return { secret, key, data };
}

function cloneSecret(store: EmulatorStore, opened: OpenedSecret, pairs: ReadonlyArray<readonly [string, string]>) {
  const { secret, key } = opened;
  const secretName = substitute(secret.secretName, pairs);
  const versions = secret.versions.map((v, i) => {
    const data = opened.data[i]!;
    const newData = substitute(data, pairs);
    const versionId = substitute(v.versionId, pairs);
    return {
      ...v,
      versionId,
      stages: [...v.stages],
      blob: sealBlob(key, Buffer.from(newData, 'utf8'), secretContext(secretName, versionId)),
      fingerprint: store.fingerprint(Buffer.from(`${v.dataType}\u0000${newData}`, 'utf8')),
    };
  });
  const copy: SecretRecord = {
    ...secret,
    secretName,
    description: substitute(secret.description, pairs),
    tags: secret.tags.map((t) => ({ key: substitute(t.key, pairs), value: substitute(t.value, pairs) })),
    versions,
  };
  if (store.secrets.has(secretName))
    throw new AdminInputError(`replace: the cloned secret name ${secretName} exists already`);
  store.secrets.set(secretName, copy);
}

/** The seeding controls over `store`. */
export function seedControls(store: EmulatorStore): SeedControls {
  return {
    cloneTemplate(request) {
      const { token } = request;
      if (token === '') throw new AdminInputError('token: must not be empty');
      const templates = [...store.keys.values()].filter(
        (k) => k.description.includes(token) || tagsMention(k.tags, [token]),
      );
      if (templates.length === 0)
        throw new AdminInputError('token: no key has a tag value or description containing it');
      const templateIds = templates.map((k) => k.keyId);
      const needles = [token, ...templateIds];
      const aliases: AliasRecord[] = [...store.aliases.values()].filter((a) => templateIds.includes(a.keyId));
      const secrets = [...store.secrets.values()]
        .filter(
          (s) => mentions(s.secretName, needles) || mentions(s.description, needles) || tagsMention(s.tags, needles),
        )
        .map((s) => openSecret(store, s));
      const report: CloneReport = { templateKeyIds: templateIds, keyIds: [], aliases: 0, secrets: 0 };
      for (const spec of request.clones) {
        const ids: Record<string, string> = {};
        for (const k of templates) {
          ids[k.keyId] =
            k.dkmsInstanceId === undefined ? randomUUID() : newInstanceKeyId(k.dkmsInstanceId, k.creationUnix);
        }
        const pairs = [...spec.replace, ...templateIds.map((id) => [id, ids[id]!] as const)];
        for (const k of templates) {
          const material = spec.materials?.[k.keyId] ?? k.material;
          const copy: KeyRecord = {
            ...k,
            keyId: ids[k.keyId]!,
            primaryKeyVersion: randomUUID(),
            description: substitute(k.description, pairs),
            tags: k.tags.map((t) => ({ key: substitute(t.key, pairs), value: substitute(t.value, pairs) })),
            material,
            boundFingerprint:
              material === null ? k.boundFingerprint : store.fingerprint(Buffer.from(material, 'base64')),
          };
          store.putKey(copy);
        }
        for (const a of aliases) {
          const aliasName = substitute(a.aliasName, pairs);
          if (store.aliases.has(aliasName))
            throw new AdminInputError(`replace: the cloned alias ${aliasName} exists already`);
          store.aliases.set(aliasName, { ...a, aliasName, keyId: ids[a.keyId]! });
          report.aliases += 1;
        }
        for (const s of secrets) {
          cloneSecret(store, s, pairs);
          report.secrets += 1;
        }
        report.keyIds.push(ids);
      }
      store.markDirty();
      return report;
    },
  };
}
