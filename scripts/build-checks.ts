/**
 * Pure checks on the function bundles (a size budget and proof that no
 * test-only code or secrets end up inside). They take values (metafile input paths, output text,
 * sizes) so they are unit-tested without esbuild; scripts/build.ts feeds them the real outputs.
 *
 * Messages never repeat a secret: a fixture secret is named by its line number in secrets.txt.
 */

/** 1 MiB in bytes. */
export const MIB = 1024 * 1024;

/**
 * Budget for one function's `index.js` when no per-function budget is given. The bundles carry the
 * KMS SDK and its HTTP stack; 3 MiB leaves room for that while catching an accidental
 * bundling of something large (a second SDK, a test framework), which would also slow cold starts.
 */
export const DEFAULT_BUNDLE_BUDGET_BYTES = 3 * MIB;

/** Per-function budgets for `dist/<function>/index.js`, bytes. */
export const BUNDLE_BUDGETS: Readonly<Record<string, number>> = {
  sweep: 3 * MIB,
  webhook: 3 * MIB,
  ops: 3 * MIB,
};

/** The kinds of problem a bundle can have. */
export const ViolationKind = {
  TestInput: 'test-input',
  FixtureSecret: 'fixture-secret',
  PrivateKey: 'private-key',
  OverBudget: 'over-budget',
} as const;
/** One kind of bundle problem. */
export type ViolationKind = (typeof ViolationKind)[keyof typeof ViolationKind];

/** One problem found in one bundle; `detail` never contains a secret. */
export interface BundleViolation {
  fn: string;
  kind: ViolationKind;
  detail: string;
}

/** Input paths that must never be part of a function bundle, with the reason. */
export const FORBIDDEN_INPUTS: ReadonlyArray<{ pattern: RegExp; why: string }> = [
  { pattern: /(^|\/)test\//, why: 'test code' },
  { pattern: /(^|\/)scripts\/local\//, why: 'local stack (emulator / local FC host)' },
  // The dev-only workspaces (packages/kms-emulator, packages/fc-local-host), by path or by package name.
  { pattern: /^(\.\.\/)*packages\//, why: 'dev-only workspace package (KMS emulator / local FC host)' },
  { pattern: /(^|\/)node_modules\/@byok\//, why: 'dev-only workspace package (KMS emulator / local FC host)' },
  { pattern: /(^|\/)fixtures?\//, why: 'test fixture' },
  { pattern: /\.(test|spec)\.[cm]?[jt]sx?$/, why: 'test file' },
  { pattern: /(^|\/)node_modules\/(vitest|@vitest|vite|tsx|@types)\//, why: 'test or build tooling' },
];

/** Metafile input paths (esbuild `metafile.inputs` keys) that must not be bundled. */
export function checkBundleInputs(fn: string, inputPaths: Iterable<string>): BundleViolation[] {
  const out: BundleViolation[] = [];
  for (const raw of inputPaths) {
    const path = raw.replace(/\\/g, '/');
    const hit = FORBIDDEN_INPUTS.find((f) => f.pattern.test(path));
    if (hit) out.push({ fn, kind: ViolationKind.TestInput, detail: `${path} (${hit.why})` });
  }
  return out;
}

/**
 * A PEM private-key block: the BEGIN line followed by base64 body text (plain or `\n`-escaped
 * newlines in a JS string). A bare header literal, as PEM parsers contain, does not match.
 */
const PRIVATE_KEY_BLOCK = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:\s|\\[nr])*[A-Za-z0-9+/]{40,}/;

/** Output text (bundle, source map, legal file) must contain no fixture secret and no private key. */
export function checkBundleText(
  fn: string,
  file: string,
  text: string,
  fixtureSecrets: readonly string[],
): BundleViolation[] {
  const out: BundleViolation[] = [];
  fixtureSecrets.forEach((secret, index) => {
    if (text.includes(secret)) {
      out.push({
        fn,
        kind: ViolationKind.FixtureSecret,
        detail: `${file} contains fixture secret #${index + 1} of secrets.txt`,
      });
    }
  });
  if (PRIVATE_KEY_BLOCK.test(text))
    out.push({ fn, kind: ViolationKind.PrivateKey, detail: `${file} contains a PEM private key block` });
  return out;
}

/** A bundle larger than its budget. */
export function checkBundleSize(fn: string, bytes: number, budgetBytes: number): BundleViolation[] {
  return bytes > budgetBytes
    ? [{ fn, kind: ViolationKind.OverBudget, detail: `index.js is ${bytes} bytes, budget ${budgetBytes} bytes` }]
    : [];
}

/** Shortest entry accepted in secrets.txt: shorter strings would match ordinary code by chance. */
export const MIN_FIXTURE_SECRET_LENGTH = 8;

/**
 * Parses test/fixtures/secrets.txt: one secret per line; blank lines and lines starting with `#`
 * are ignored; surrounding whitespace is trimmed. Throws on an entry too short to search for safely
 * (the message names the line, not the value).
 */
export function parseFixtureSecrets(text: string): string[] {
  const out: string[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    const value = line.trim();
    if (value === '' || value.startsWith('#')) return;
    if (value.length < MIN_FIXTURE_SECRET_LENGTH) {
      throw new Error(
        `secrets.txt line ${index + 1}: entries must be at least ${MIN_FIXTURE_SECRET_LENGTH} characters`,
      );
    }
    out.push(value);
  });
  return out;
}

/** One row of the size table. */
export interface SizeRow {
  fn: string;
  bytes: number;
  mapBytes: number;
  budgetBytes: number;
  /** Median `require` time of the bundle over bare `node -e 0`, in ms, when measured (scripts/cold-start.ts). */
  coldStartOverheadMs?: number;
  /** Median time of the `require` call itself, timed inside the child, in ms (scripts/cold-start.ts). */
  coldStartRequireMs?: number;
  /** Side files beside index.js, loaded on first use only (scripts/lazy-packages.ts). */
  sideFiles?: readonly { bytes: number }[];
}

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;

/** A fixed-width table of bundle sizes against budgets, one line per function. */
export function formatSizeTable(rows: readonly SizeRow[]): string {
  const withColdStart = rows.some((r) => r.coldStartOverheadMs !== undefined);
  const withSide = rows.some((r) => (r.sideFiles?.length ?? 0) > 0);
  const header = [
    'function',
    'index.js',
    ...(withColdStart ? ['cold start'] : []),
    ...(withSide ? ['side files (on first use)'] : []),
    'index.js.map',
    'budget',
    'used',
  ];
  const side = (r: SizeRow): string =>
    `${r.sideFiles?.length ?? 0} x, ${kib((r.sideFiles ?? []).reduce((sum, f) => sum + f.bytes, 0))}`;
  const coldStart = (ms: number | undefined, requireMs: number | undefined): string =>
    ms === undefined
      ? '-'
      : `+${Math.round(ms)} ms${requireMs === undefined ? '' : ` (require ${Math.round(requireMs)} ms)`}`;
  const body = rows.map((r) => [
    r.fn,
    kib(r.bytes),
    ...(withColdStart ? [coldStart(r.coldStartOverheadMs, r.coldStartRequireMs)] : []),
    ...(withSide ? [side(r)] : []),
    kib(r.mapBytes),
    kib(r.budgetBytes),
    `${Math.round((r.bytes / r.budgetBytes) * 100)}%`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), ...body.map(line)].join('\n');
}
