/**
 * Reads a Serverless Devs v3 `s.yaml` and resolves it the way `s` 3.x does before handing props to a
 * component, so tests (and the local FC host) see the same props a deploy would.
 *
 * Behaviour mirrored from @serverless-devs/s 3.1.10 (read in its bundled lib/index.js):
 * - a string is rendered with the template rule `${expr}`; if the result still contains `${`, it is
 *   rendered exactly once more (so `${vars.a}` where `vars.a` is `${config('AccountID')}` resolves);
 * - `vars` is the raw `vars` block, `resources.<name>` the raw resource (`.props...`);
 * - `env('NAME')` reads the environment and throws when unset, `env('NAME', 'default')` falls back;
 * - `config('AccountID')` reads the credential of the `access` alias;
 * - `extend: { name, ignore }` takes `template.<name>` minus the top-level `ignore` keys and merges
 *   it under the resource's props with a deep merge of plain objects (arrays replaced; props win).
 * Every rendered value is a string: `${...}` never yields a number or boolean, so numeric props are
 * written as literals.
 */
import { parse } from 'yaml';

/** What `${env(...)}` and `${config(...)}` read while resolving. */
export interface SYamlResolveContext {
  env: Readonly<Record<string, string | undefined>>;
  config: Readonly<Record<string, string | undefined>>;
}

/** One resource after `extend` and template expressions are resolved. */
export interface ResolvedResource {
  component: string;
  props: Record<string, unknown>;
  actions?: unknown;
}

/** The parsed (unresolved) top level of a v3 `s.yaml`. */
export interface SYamlDocument {
  edition?: unknown;
  name?: unknown;
  access?: unknown;
  vars?: Record<string, unknown>;
  template?: Record<string, unknown>;
  actions?: Record<string, unknown>;
  resources?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Error raised when an expression cannot be resolved (the message names the expression). */
export class SYamlResolveError extends Error {
  override readonly name = 'SYamlResolveError';
}

const EXPRESSION = /\$\{([\s\S]*?)\}/g;
const ENV_CALL = /^env\(\s*(['"])(.*?)\1\s*(?:,\s*(['"])(.*?)\3\s*)?\)$/;
const CONFIG_CALL = /^config\(\s*(['"])(.*?)\1\s*\)$/;
const PATH = /^[A-Za-z_$][\w$-]*(?:\.[\w$-]+)*$/;

/** Parses s.yaml text (YAML 1.2) into its raw top-level object. */
export function parseSYaml(text: string): SYamlDocument {
  const doc: unknown = parse(text);
  if (!isPlainObject(doc)) throw new SYamlResolveError('s.yaml: the top level must be a mapping');
  return doc as SYamlDocument;
}

/** True for `{...}` objects (not arrays, not null), as extend2's deep merge tests them. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep merge of plain objects into a new object; arrays and scalars from later sources replace. */
export function deepMerge(...sources: ReadonlyArray<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const source of sources) {
    for (const [key, value] of Object.entries(source)) {
      if (key === '__proto__' || value === undefined) continue;
      const current = out[key];
      out[key] = isPlainObject(value) ? deepMerge(isPlainObject(current) ? current : {}, value) : value;
    }
  }
  return out;
}

interface Scope {
  vars: Record<string, unknown>;
  resources: Record<string, unknown>;
  ctx: SYamlResolveContext;
}

function lookupPath(scope: Scope, path: string): unknown {
  const [head, ...rest] = path.split('.');
  let node: unknown = head === 'vars' ? scope.vars : head === 'resources' ? scope.resources : undefined;
  if (node === undefined) throw new SYamlResolveError(`\${${path}}: unsupported expression`);
  for (const part of rest) {
    node = isPlainObject(node) || Array.isArray(node) ? (node as Record<string, unknown>)[part] : undefined;
  }
  if (node === undefined || node === null) throw new SYamlResolveError(`\${${path}} not found`);
  return node;
}

function evaluate(scope: Scope, rawExpr: string): string {
  const expr = rawExpr.trim();
  const env = ENV_CALL.exec(expr);
  if (env) {
    const name = env[2] ?? '';
    const value = scope.ctx.env[name];
    if (value !== undefined && value !== '') return value;
    if (env[4] !== undefined) return env[4];
    throw new SYamlResolveError(`env('${name}') not found`);
  }
  const config = CONFIG_CALL.exec(expr);
  if (config) {
    const name = config[2] ?? '';
    const value = scope.ctx.config[name];
    if (value === undefined || value === '') throw new SYamlResolveError(`config('${name}') not found`);
    return value;
  }
  if (!PATH.test(expr)) throw new SYamlResolveError(`\${${expr}}: unsupported expression`);
  const value = lookupPath(scope, expr);
  if (typeof value === 'object') throw new SYamlResolveError(`\${${expr}} is not a scalar`);
  return String(value);
}

function renderOnce(scope: Scope, text: string): string {
  return text.replace(EXPRESSION, (_match, expr: string) => evaluate(scope, expr));
}

/** Renders the `${...}` expressions of one string: one pass, plus one more if `${` remains. */
function renderString(scope: Scope, text: string): string {
  const first = renderOnce(scope, text);
  return first.includes('${') ? renderOnce(scope, first) : first;
}

function renderDeep(scope: Scope, value: unknown): unknown {
  if (typeof value === 'string') return renderString(scope, value);
  if (Array.isArray(value)) return value.map((item) => renderDeep(scope, item));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = renderDeep(scope, item);
    return out;
  }
  return value;
}

/** Renders one string against a document's vars/resources and a context (exported for tests). */
export function renderSYamlString(doc: SYamlDocument, text: string, ctx: SYamlResolveContext): string {
  return renderString({ vars: doc.vars ?? {}, resources: doc.resources ?? {}, ctx }, text);
}

/** Resolves every resource of the document: `extend` merged, expressions rendered. */
export function resolveResources(doc: SYamlDocument, ctx: SYamlResolveContext): Record<string, ResolvedResource> {
  const resources = doc.resources ?? {};
  const scope: Scope = { vars: doc.vars ?? {}, resources, ctx };
  const out: Record<string, ResolvedResource> = {};
  for (const [name, raw] of Object.entries(resources)) {
    if (!isPlainObject(raw)) throw new SYamlResolveError(`resources.${name}: must be a mapping`);
    const component = raw['component'];
    if (typeof component !== 'string') throw new SYamlResolveError(`resources.${name}.component: missing`);
    const props = isPlainObject(raw['props']) ? raw['props'] : {};
    let base: Record<string, unknown> = {};
    const extend = raw['extend'];
    if (extend !== undefined) {
      if (!isPlainObject(extend) || typeof extend['name'] !== 'string') {
        throw new SYamlResolveError(`resources.${name}.extend.name: missing`);
      }
      const template = doc.template?.[extend['name']];
      if (!isPlainObject(template)) {
        throw new SYamlResolveError(`resources.${name}.extend: template '${extend['name']}' not found`);
      }
      const ignore = Array.isArray(extend['ignore']) ? extend['ignore'].map(String) : [];
      base = Object.fromEntries(Object.entries(template).filter(([key]) => !ignore.includes(key)));
    }
    const merged = deepMerge(base, props);
    const resolved: ResolvedResource = {
      component: renderString(scope, component),
      props: renderDeep(scope, merged) as Record<string, unknown>,
    };
    if (raw['actions'] !== undefined) resolved.actions = renderDeep(scope, raw['actions']);
    out[name] = resolved;
  }
  return out;
}
