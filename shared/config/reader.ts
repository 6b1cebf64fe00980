/**
 * Reading variables: the patterns values must match, how a bad value is shown (secrets never), and
 * the Reader that collects every problem instead of stopping at the first.
 */
import { SECRET_VARIABLES } from './variables.js';
import type { ConfigProblem } from './schema.js';

/** `cn-hangzhou`, `ap-southeast-1`, `cn-shanghai-finance-1`. */
export const REGION_PATTERN = /^[a-z]{2,}(?:-[a-z0-9]+)+$/;
/** A DNS name or IPv4 address, optional port. */
const DNS_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
export const ENDPOINT_PATTERN = new RegExp(`^(${DNS_LABEL}(?:\\.${DNS_LABEL})*)(?::(\\d{1,5}))?$`);
/** CMK ids (UUID or `key-...`), `alias/...` names or ARNs: no spaces. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,255}$/;
/** Secrets Manager names: <= 192 chars of letters, digits and `_ / + = . @ -` (docs/kms-api.md §2.12). */
export const SECRET_NAME_PATTERN = /^[A-Za-z0-9_/+=.@-]{1,192}$/;
/**
 * KMS 3.0 instance ids: `kst-` + a region prefix and random lowercase letters and digits
 * (documented example `kst-hzz62ee817bvyyr5x****`; the exact length is inferred, so be lenient).
 */
export const INSTANCE_ID_PATTERN = /^kst-[a-z0-9]{6,48}$/;
/** RFC 3986 unreserved characters: a URL token must survive a URL unescaped. */
export const URL_TOKEN_PATTERN = /^[A-Za-z0-9._~-]+$/;
export const MIN_SECRET_CHARS = 16;

/** How a bad value is shown: quoted, escaped, cut at 64 characters; secrets never. */
export function shown(variable: string, raw: string): string {
  if (SECRET_VARIABLES.has(variable)) return 'a value (not shown)';
  const cut = raw.length > 64 ? `${raw.slice(0, 64)}...` : raw;
  return JSON.stringify(cut);
}

export type Env = Record<string, string | undefined>;

/** Collects problems while reading variables. */
export class Reader {
  readonly problems: ConfigProblem[] = [];
  readonly warnings: string[] = [];
  constructor(private readonly env: Env) {}

  fail(variable: string, rule: string): undefined {
    this.problems.push({ variable, message: `${variable}: ${rule}` });
    return undefined;
  }

  /** The raw value: undefined when unset or empty; trimmed unless secret. */
  raw(variable: string): string | undefined {
    const v = this.env[variable];
    if (v === undefined) return undefined;
    if (SECRET_VARIABLES.has(variable)) return v === '' ? undefined : v;
    const t = v.trim();
    return t === '' ? undefined : t;
  }

  isSet(variable: string): boolean {
    return this.raw(variable) !== undefined;
  }

  string(variable: string, pattern: RegExp, rule: string): string | undefined {
    const v = this.raw(variable);
    if (v === undefined) return undefined;
    return pattern.test(v) ? v : this.fail(variable, `${rule}, got ${shown(variable, v)}`);
  }

  required(variable: string, rule: string, value: string | undefined): string | undefined {
    if (value === undefined && !this.isSet(variable)) this.fail(variable, `required: ${rule}`);
    return value;
  }

  oneOf<T extends string>(variable: string, allowed: readonly T[], fallback: T): T | undefined {
    const v = this.raw(variable);
    if (v === undefined) return fallback;
    return (allowed as readonly string[]).includes(v)
      ? (v as T)
      : this.fail(variable, `must be one of ${allowed.join(', ')}, got ${shown(variable, v)}`);
  }

  int(variable: string, [min, max]: readonly [number, number], fallback: number, note = ''): number | undefined {
    const v = this.raw(variable);
    if (v === undefined) return fallback;
    return (
      checkInt(v, min, max) ??
      this.fail(variable, `must be a whole number from ${min} to ${max}${note}, got ${shown(variable, v)}`)
    );
  }
}

function checkInt(v: string, min: number, max: number): number | undefined {
  if (!/^\d{1,9}$/.test(v)) return undefined;
  const n = Number(v);
  return n >= min && n <= max ? n : undefined;
}

/** `{ [key]: value }` when value is defined, else `{}` (exactOptionalPropertyTypes-friendly). */
export function opt<K extends string, T>(key: K, value: T | undefined): { [P in K]?: T } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: T };
}
