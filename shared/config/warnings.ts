/**
 * Unknown BYOK_* variables: typos silently falling back to defaults are the danger, so each one is
 * warned about, with the nearest known name.
 */
import type { Env, Reader } from './reader.js';
import { ConfigVariable } from './variables.js';

const KNOWN: ReadonlySet<string> = new Set(Object.values(ConfigVariable));

/** Warns about BYOK_* variables nobody reads (typos silently falling back to defaults are the danger). */
export function warnUnknown(r: Reader, env: Env): void {
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('BYOK_') || KNOWN.has(name) || env[name] === undefined) continue;
    // A near miss (a typo) or a name whose words all appear in a known name (a shortened name).
    const words = name.split('_');
    const near = [...KNOWN]
      .map((k) => ({ k, d: editDistance(k, name), contains: words.every((w) => k.split('_').includes(w)) }))
      .filter((c) => c.d <= Math.max(3, Math.floor(name.length / 4)) || c.contains)
      .sort((a, b) => a.d - b.d)[0];
    const hint = near ? ` (did you mean ${near.k}?)` : '';
    r.warnings.push(`${name} is not a known variable and is ignored${hint}`);
  }
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}
