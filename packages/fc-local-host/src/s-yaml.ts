/**
 * Reads a Serverless Devs v3 `s.yaml` (edition 3.0.0, component fc3; docs/fc-runtime.md §5) into the
 * host's `functions` option, so the local host runs exactly what would be deployed.
 *
 * Supported: `vars`, `template` + `extend: {name, ignore}` (deep merge of maps, lists replaced,
 * props win: what @serverless-devs/s 3.1.10 does, as checked by the s.yaml author),
 * `${vars.x}`, `${env('NAME', 'default')}`, `${config('AccountID')}`; fc3 props functionName, code,
 * handler, runtime (nodejs*), timeout (default 3), memorySize (default 512), environmentVariables,
 * logConfig, and triggers of type timer and http (other trigger types are ignored).
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { parse } from 'yaml';
import { FcHostError, FcHostErrorCode } from './errors.js';
import type { FunctionSpec, TimerTriggerSpec } from './types.js';

/** Where values for `${env(...)}` and `${config(...)}` come from, and where the bundles are. */
export interface SYamlOptions {
  /**
   * Directory that replaces the first segment of each `code` path: `code: ./dist/sweep` with
   * `distDir: /tmp/b` -> `/tmp/b/sweep`. Without it, `code` resolves against the s.yaml directory.
   */
  distDir?: string;
  /** Values for `${env('NAME')}`; nothing is read from process.env unless the caller passes it. */
  env?: Record<string, string | undefined>;
  /** Values for `${config('AccountID')}` (the `s config` alias). */
  config?: Record<string, string>;
  /** Set on top of every function's environmentVariables (e.g. the local KMS endpoint). */
  envOverrides?: Record<string, string>;
}

/** The parts of an s.yaml the local host uses. */
export interface SYamlProject {
  /** Top-level `name`: a natural FC 2.0 service name for the host's fc2 route. */
  projectName: string;
  functions: FunctionSpec[];
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function invalid(field: string, rule: string): FcHostError {
  return new FcHostError(FcHostErrorCode.InvalidConfig, `s.yaml ${field}: ${rule}`, { field });
}

function isMap(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge of maps: `over` wins, lists and scalars are replaced whole. */
function deepMerge(base: Record<string, Json>, over: Record<string, Json>): Record<string, Json> {
  const out: Record<string, Json> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isMap(b) && isMap(v) ? deepMerge(b, v) : v;
  }
  return out;
}

const EXPR = /\$\{([^}]*)\}/g;

/** Resolves `${...}` in every string of a value. A string that is one whole `${...}` keeps the value's type. */
function resolveValue(value: Json, lookup: (expr: string, where: string) => Json, where: string): Json {
  if (typeof value === 'string') {
    const whole = /^\$\{([^}]*)\}$/.exec(value);
    if (whole) return lookup((whole[1] ?? '').trim(), where);
    return value.replace(EXPR, (_m, expr: string) => {
      const v = lookup(expr.trim(), where);
      return typeof v === 'string' ? v : JSON.stringify(v);
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveValue(v, lookup, `${where}[${i}]`));
  if (isMap(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveValue(v, lookup, `${where}.${k}`)]));
  }
  return value;
}

function makeLookup(vars: Record<string, Json>, options: SYamlOptions): (expr: string, where: string) => Json {
  const depth = { n: 0 };
  const lookup = (expr: string, where: string): Json => {
    const call = /^(env|config)\(\s*(['"]?)([^'",\s)]+)\2\s*(?:,\s*(['"])(.*?)\4\s*)?\)$/.exec(expr);
    if (call) {
      const [, fn, , name = '', , fallback] = call;
      const value = fn === 'env' ? options.env?.[name] : options.config?.[name];
      if (value !== undefined) return value;
      if (fallback !== undefined) return fallback;
      throw invalid(where, `\${${expr}} has no value: pass ${fn === 'env' ? 'env' : 'config'}.${name}`);
    }
    const path = /^vars\.([A-Za-z0-9_.-]+)$/.exec(expr);
    if (path) {
      let v: Json | undefined = vars;
      for (const key of (path[1] ?? '').split('.')) v = isMap(v) ? v[key] : undefined;
      if (v === undefined) throw invalid(where, `\${${expr}} is not defined under vars`);
      if (++depth.n > 20) throw invalid(where, `\${${expr}}: vars reference each other in a cycle`);
      try {
        return resolveValue(v, lookup, `vars.${path[1]}`);
      } finally {
        depth.n--;
      }
    }
    throw invalid(where, `unsupported variable \${${expr}} (only vars.*, env(...), config(...))`);
  };
  return lookup;
}

function str(v: Json | undefined, field: string): string {
  if (typeof v !== 'string' || v === '') throw invalid(field, 'must be a non-empty string');
  return v;
}

function codeDir(code: Json | undefined, field: string, baseDir: string, distDir: string | undefined): string {
  const src = isMap(code) ? code['src'] : code;
  if (isMap(code) && code['ossBucketName'] !== undefined) throw invalid(field, 'code from OSS cannot run locally');
  const rel = str(src as Json, field);
  if (distDir === undefined || isAbsolute(rel)) return resolve(baseDir, rel);
  const parts = normalize(rel)
    .split(sep)
    .filter((p) => p !== '' && p !== '.');
  return join(distDir, ...parts.slice(1));
}

function triggersOf(props: Record<string, Json>, field: string): Pick<FunctionSpec, 'timers' | 'http'> {
  const triggers = props['triggers'] ?? [];
  if (!Array.isArray(triggers)) throw invalid(field, 'triggers must be a list');
  const timers: TimerTriggerSpec[] = [];
  let http: FunctionSpec['http'];
  triggers.forEach((t, i) => {
    const where = `${field}.triggers[${i}]`;
    if (!isMap(t)) throw invalid(where, 'must be a map');
    const cfg = t['triggerConfig'];
    if (!isMap(cfg)) throw invalid(`${where}.triggerConfig`, 'must be a map');
    const triggerName = str(t['triggerName'], `${where}.triggerName`);
    if (t['triggerType'] === 'timer') {
      const payload = cfg['payload'];
      if (payload !== undefined && typeof payload !== 'string')
        throw invalid(`${where}.triggerConfig.payload`, 'must be a string (quote JSON)');
      timers.push({
        triggerName,
        cronExpression: str(cfg['cronExpression'], `${where}.triggerConfig.cronExpression`),
        ...(payload === undefined ? {} : { payload }),
        enable: cfg['enable'] !== false,
      });
    } else if (t['triggerType'] === 'http') {
      const methods = cfg['methods'];
      if (!Array.isArray(methods) || methods.some((x) => typeof x !== 'string'))
        throw invalid(`${where}.triggerConfig.methods`, 'must be a list of methods');
      if (http === undefined) http = { triggerName, methods: methods.map((x) => String(x).toUpperCase()) };
    }
  });
  return { ...(timers.length > 0 ? { timers } : {}), ...(http ? { http } : {}) };
}

/** Parses s.yaml text; `baseDir` is the directory relative `code` paths resolve against. */
export function parseSYaml(text: string, baseDir: string, options: SYamlOptions = {}): SYamlProject {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw invalid('(file)', `not valid YAML: ${(err as Error).message}`);
  }
  if (!isMap(doc)) throw invalid('(file)', 'must be a map');
  if (String(doc['edition']) !== '3.0.0') throw invalid('edition', "must be '3.0.0' (Serverless Devs v3)");
  const vars = isMap(doc['vars']) ? doc['vars'] : {};
  const templates = isMap(doc['template']) ? doc['template'] : {};
  const resources = doc['resources'];
  if (!isMap(resources)) throw invalid('resources', 'must be a map');
  const lookup = makeLookup(vars, options);
  const functions: FunctionSpec[] = [];
  for (const [resourceName, resource] of Object.entries(resources)) {
    const field = `resources.${resourceName}`;
    if (!isMap(resource)) throw invalid(field, 'must be a map');
    const component = String(resource['component'] ?? '');
    if (component !== 'fc3' && !component.startsWith('fc3@')) continue;
    let raw: Record<string, Json> = isMap(resource['props']) ? resource['props'] : {};
    const extend = resource['extend'];
    if (isMap(extend)) {
      const tplName = str(extend['name'], `${field}.extend.name`);
      const tpl = templates[tplName];
      if (!isMap(tpl)) throw invalid(`${field}.extend.name`, `template '${tplName}' does not exist`);
      const ignore = Array.isArray(extend['ignore']) ? extend['ignore'].map(String) : [];
      raw = deepMerge(Object.fromEntries(Object.entries(tpl).filter(([k]) => !ignore.includes(k))), raw);
    }
    const props = resolveValue(raw, lookup, `${field}.props`) as Record<string, Json>;
    const runtime = str(props['runtime'], `${field}.props.runtime`);
    if (!runtime.startsWith('nodejs'))
      throw invalid(`${field}.props.runtime`, `'${runtime}' cannot run in the local Node.js host`);
    const env = props['environmentVariables'] ?? {};
    if (!isMap(env)) throw invalid(`${field}.props.environmentVariables`, 'must be a map');
    const logConfig = props['logConfig'];
    const timeout = props['timeout'] ?? 3;
    const memory = props['memorySize'] ?? 512;
    if (typeof timeout !== 'number') throw invalid(`${field}.props.timeout`, 'must be a number of seconds');
    if (typeof memory !== 'number') throw invalid(`${field}.props.memorySize`, 'must be a number of MB');
    functions.push({
      name: str(props['functionName'], `${field}.props.functionName`),
      bundleDir: codeDir(props['code'], `${field}.props.code`, baseDir, options.distDir),
      handler: str(props['handler'], `${field}.props.handler`),
      timeoutSeconds: timeout,
      memoryMB: memory,
      env: {
        ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])),
        ...options.envOverrides,
      },
      ...(isMap(logConfig)
        ? { logConfig: { project: String(logConfig['project'] ?? ''), logstore: String(logConfig['logstore'] ?? '') } }
        : {}),
      ...triggersOf(props, `${field}.props`),
    });
  }
  return { projectName: typeof doc['name'] === 'string' ? doc['name'] : '', functions };
}

/** Reads an s.yaml file and returns the `functions` option of startFcHost. */
export function loadFunctionsFromSYaml(path: string, options: SYamlOptions = {}): FunctionSpec[] {
  return readSYaml(path, options).functions;
}

/** Reads an s.yaml file: project name and functions. */
export function readSYaml(path: string, options: SYamlOptions = {}): SYamlProject {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new FcHostError(FcHostErrorCode.InvalidConfig, `cannot read s.yaml at ${path}: ${why}`, { field: 's.yaml' });
  }
  return parseSYaml(text, dirname(resolve(path)), options);
}
