/**
 * The on-call CLI (`npm run ops -- <command>`): command parsing, one runner per mode, rendering.
 *
 * Direct mode (this file) runs the lifecycle engine in-process with the operator's own
 * credentials (`ALIBABA_CLOUD_ACCESS_KEY_ID` / `_SECRET` / `_SECURITY_TOKEN`) and the BYOK_*
 * configuration (shared/config). A remote mode plugs in as another `OpsRunner` (it sends the same
 * `OpsRequest` to the deployed `ops` function and gets the same `OpsResult` back), so parsing,
 * exit codes and rendering stay here, in one place.
 *
 * Output: `--json` prints exactly one JSON document on stdout (`{command, ok, exitCode, ...}`),
 * also on errors; otherwise tables for people. Progress, warnings, audit lines (the `stdout` audit
 * sink: stdout carries only the result) and errors go to stderr. Errors print
 * `error <CODE>: <message>`; a stack trace only with BYOK_DEBUG=1. No secret (access key secret,
 * security token, webhook secret) is ever printed: the access key id is, as the audit actor.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError, parseConfig, redactConfig, type Config, type ConfigProblem } from '../../shared/config/index.js';
import { buildEngineDeps } from '../../shared/bootstrap.js';
import { ErrorCode, OrchestratorError, isOrchestratorError } from '../../shared/errors.js';
import type { KmsCredentials } from '../../shared/kms/alicloud-adapter.js';
import type { StatusRow } from '../../shared/lifecycle/engine.js';
import { executeRequest, type OpsRequest, type OpsResult } from '../../shared/ops/commands.js';
import { CheckStatus, renderDoctor, worstStatus } from '../../shared/ops/doctor.js';
import functionRolePolicy from '../deploy/ram-policy-function.json';

export { executeRequest, type OpsRequest, type OpsResult, type SweepOutcome } from '../../shared/ops/commands.js';
import type { Action, Plan } from '../../shared/lifecycle/plan.js';
import type { Actor } from '../../shared/lifecycle/ports.js';
import { isKeySpec } from '../../shared/wrap/index.js';
import { verifyAuditChain } from '../../shared/audit/index.js';
import { join } from 'node:path';
import { invocationClock } from '../../shared/fc/adapter.js';
import { systemClock } from '../../shared/system.js';
import { createRemoteRunner, readEnvFile } from './remote.js';

/**
 * Exit codes (the one table; the README copies it):
 *
 * | code | meaning |
 * |---|---|
 * | 0 | ok (for `status`/`plan`: nothing critical pending) |
 * | 1 | failure: an action failed, a KMS/escrow error, escrow or audit verification failed |
 * | 2 | usage or configuration error: unknown command or flag, bad argument, bad BYOK_* variable, missing credentials |
 * | 3 | alert-worthy: the plan or the sweep raised a critical alert (nothing failed) |
 * | 4 | refused, nothing changed: confirmation required, or another run holds the lineage lease (retry later) |
 */
export const ExitCode = { Ok: 0, Failure: 1, Usage: 2, Alert: 3, Refused: 4 } as const;
/** A CLI exit code. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Maps an error code to the exit code (the one edge table for exit codes). */
export function exitCodeFor(code: string): ExitCode {
  switch (code) {
    case ErrorCode.InvalidInput:
    case ErrorCode.InvalidConfig:
      return ExitCode.Usage;
    case ErrorCode.ConfirmationRequired:
    case ErrorCode.LeaseHeld:
      return ExitCode.Refused;
    default:
      return ExitCode.Failure;
  }
}

/** What the CLI is given by its entry point (everything, so tests run it in-process). */
export interface CliIo {
  env: Record<string, string | undefined>;
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** Engine clock in epoch ms (tests follow the emulator clock); default the system clock. */
  now?: () => number;
  /** Replaces the direct runner (the remote mode, or a test double). */
  runner?: OpsRunner;
}

/** Runs requests somewhere: in-process (direct) or in the deployed ops function (remote). */
export interface OpsRunner {
  /** Which mode, for messages. */
  readonly mode: 'direct' | 'remote';
  run(request: OpsRequest, hooks: { progress: (line: string) => void }): Promise<OpsResult>;
}

// ---------------------------------------------------------------------------------------------
// Commands and flags

type FlagSpec = { name: string; short?: string; value?: 'string' | 'int'; /** Placeholder in usage lines. */ valueName?: string; help: string };

interface CommandSpec {
  name: string;
  args: string[];
  summary: string;
  flags: FlagSpec[];
  /** Extra help lines. */
  details?: string[];
}

const COMMON_FLAGS: FlagSpec[] = [
  { name: 'json', help: 'print one JSON document on stdout' },
  { name: 'help', short: 'h', help: 'show help' },
];

const COMMANDS: CommandSpec[] = [
  { name: 'status', args: [], summary: 'every lineage and EXTERNAL key: generation, state, expiry, days left, escrow, next action', flags: [] },
  { name: 'plan', args: [], summary: 'dry run: what the next sweep would do, and why', flags: [] },
  { name: 'sweep', args: [], summary: 'apply the plan now (renew, re-import, rotate, ...); progress on stderr', flags: [] },
  {
    name: 'onboard',
    args: ['alias'],
    summary: 'create generation 1 of a lineage: EXTERNAL CMK, fresh material, escrow, import, alias',
    flags: [
      { name: 'validity-days', value: 'int', valueName: 'days', help: 'Valid Until of each import for this lineage, days (default: policy)' },
      { name: 'key-spec', value: 'string', valueName: 'spec', help: 'Aliyun_AES_256 (default), Aliyun_AES_192, Aliyun_AES_128 or Aliyun_SM4' },
    ],
  },
  { name: 'renew', args: ['alias|key'], summary: 're-import the escrowed material now with a fresh Valid Until', flags: [] },
  { name: 'rotate', args: ['alias'], summary: 'create the next generation, self-test it, move the alias', flags: [] },
  { name: 'reimport', args: ['key'], summary: 're-import escrowed material into a key in PendingImport (not a revoked one: use restore)', flags: [] },
  {
    name: 'revoke',
    args: ['key'],
    summary: 'crypto-shred: hold the key and delete its material (escrow is kept for restore)',
    flags: [{ name: 'confirm', value: 'string', valueName: 'key', help: 'the key id again; without it nothing is changed (exit 4)' }],
  },
  { name: 'restore', args: ['key'], summary: 'clear a revoke/disable hold and re-import the escrowed material', flags: [] },
  { name: 'verify-escrow', args: [], summary: 'read every escrow record back and compare it with the key fingerprint tag', flags: [] },
  {
    name: 'doctor',
    args: [],
    summary: 'check a deployment before trusting it: credentials, instances, gateway, escrow keys, RAM, webhook secrets',
    flags: [],
    details: [
      '',
      'One line per check: ok|warn|fail  <check>  <what it found>  [-> what to do]. Read-only: it calls',
      'only harmless reads and Encrypt/Decrypt of a random probe; write calls are never made, only',
      'compared with scripts/deploy/ram-policy-function.json. Direct mode probes with your credentials;',
      '--remote probes with the function role. Secret values are never printed.',
      '',
      'doctor exits 0 when every check is ok, 3 when some warn and none fails, 1 when any fails.',
    ],
  },
  {
    name: 'audit verify',
    args: [],
    summary: 'walk the audit JSONL file and report the first broken or missing link',
    flags: [{ name: 'file', value: 'string', valueName: 'path', help: 'audit file (default BYOK_AUDIT_FILE)' }],
  },
  {
    name: 'audit tail',
    args: [],
    summary: 'show the last audit events',
    flags: [
      { name: 'lines', short: 'n', value: 'int', valueName: 'n', help: 'how many events (default 20)' },
      { name: 'file', value: 'string', valueName: 'path', help: 'audit file (default BYOK_AUDIT_FILE)' },
    ],
  },
  { name: 'config', args: [], summary: 'print the effective configuration (secrets redacted) and warnings', flags: [] },
];

const EXIT_CODE_HELP = [
  'Exit codes:',
  '  0  ok',
  '  1  failure (an action failed, KMS/escrow error, verification failed)',
  '  2  usage or configuration error',
  '  3  alert-worthy: a critical alert is raised (nothing failed)',
  '  4  refused, nothing changed: confirmation required, or the lineage is leased by another run',
];

/** `name <args>` without flags: the global list stays narrow; `<command> --help` shows the flags. */
function synopsisOf(c: CommandSpec): string {
  return [c.name, ...c.args.map((a) => `<${a}>`)].join(' ');
}

function globalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => synopsisOf(c).length));
  return [
    'Usage: npm run ops -- [--remote [--fc2]] [--local] <command> [args] [--json] [--help]',
    '',
    'On-call CLI for the BYOK orchestrator. Direct mode (default) runs the engine in-process with your',
    'ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET (/ ALIBABA_CLOUD_SECURITY_TOKEN)',
    'and the BYOK_* configuration (see the README). BYOK_DEBUG=1 shows stack traces.',
    '',
    'Modes:',
    '  --remote   invoke the deployed ops function instead (FC 3.0 invoke API; BYOK_FC_ACCOUNT_ID,',
    '             BYOK_REGION, optional BYOK_FC_ENDPOINT and BYOK_OPS_FUNCTION)',
    '  --fc2      with --remote: use the FC 2.0 API (@alicloud/fc2; BYOK_FC2_SERVICE)',
    '  --local    read the settings `npm start` wrote to .local/cli.env (the local stack)',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${synopsisOf(c).padEnd(width)}  ${c.summary}`),
    '',
    'Run "npm run ops -- <command> --help" for a command\'s flags.',
    '',
    ...EXIT_CODE_HELP,
    '',
  ].join('\n');
}

function usageOf(c: CommandSpec): string {
  const flags = c.flags.map((f) => `[--${f.name}${f.value ? ` <${f.valueName ?? 'value'}>` : ''}]`);
  return [c.name, ...c.args.map((a) => `<${a}>`), ...flags].join(' ');
}

function commandHelp(c: CommandSpec): string {
  const flags = [...c.flags, ...COMMON_FLAGS];
  return [
    `Usage: npm run ops -- ${usageOf(c)} [--json]`,
    '',
    c.summary,
    ...(c.details ?? []),
    '',
    'Flags:',
    ...flags.map((f) => `  ${`--${f.name}${f.short ? `, -${f.short}` : ''}${f.value ? ` <${f.valueName ?? 'value'}>` : ''}`.padEnd(24)}${f.help}`),
    '',
    ...EXIT_CODE_HELP,
    '',
  ].join('\n');
}

/** A parsed command line. */
interface Parsed {
  spec: CommandSpec;
  args: string[];
  flags: Record<string, string | number | true>;
  json: boolean;
  help: boolean;
}

function usageError(message: string): OrchestratorError {
  return new OrchestratorError(ErrorCode.InvalidInput, message, { details: { field: 'argv' } });
}

/** Flags that take a value, over all commands: their next token is a value, not the command. */
const VALUE_FLAGS: ReadonlySet<string> = new Set(COMMANDS.flatMap((c) => c.flags.filter((f) => f.value).flatMap((f) => [`--${f.name}`, ...(f.short ? [`-${f.short}`] : [])])));

/** Parses argv into a command; `undefined` spec means "global help". Throws InvalidInput naming the bad token. */
function parseArgv(argv: string[]): Parsed | { spec: undefined; json: boolean } {
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i]!;
    if (t === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (VALUE_FLAGS.has(t)) i++;
    else if (!(t.startsWith('-') && t.length > 1)) positionals.push(t);
  }
  const json = argv.includes('--json');
  const help = argv.includes('--help') || argv.includes('-h');
  const first = positionals[0];
  if (first === undefined) {
    const stray = argv.find((t) => t !== '--json' && t !== '--help' && t !== '-h');
    if (stray !== undefined) throw usageError(`unknown flag ${JSON.stringify(stray.slice(0, 40))}`);
    return { spec: undefined, json };
  }
  if (first === 'help') {
    // `help <command...>` is `<command...> --help`.
    return positionals.length > 1 ? parseArgv([...positionals.slice(1), '--help']) : { spec: undefined, json };
  }
  let spec = COMMANDS.find((c) => c.name === first);
  if (first === 'audit') {
    const sub = positionals[1];
    spec = COMMANDS.find((c) => c.name === `audit ${sub}`);
    if (!spec) {
      if (help && sub === undefined) return { spec: undefined, json };
      throw usageError(sub === undefined ? 'audit: missing subcommand (verify or tail)' : `audit: unknown subcommand ${JSON.stringify(sub.slice(0, 40))} (verify or tail)`);
    }
  }
  if (!spec) throw usageError(`unknown command ${JSON.stringify(first.slice(0, 40))}; run with --help for the list`);
  return parseForCommand(spec, argv, json, help);
}

function parseForCommand(spec: CommandSpec, argv: string[], json: boolean, help: boolean): Parsed {
  const known = [...spec.flags, ...COMMON_FLAGS];
  const flags: Record<string, string | number | true> = {};
  const positionals: string[] = [];
  const words = spec.name.split(' ').length;
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i]!;
    if (t === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    const isLong = t.startsWith('--') && t.length > 2;
    const isShort = !isLong && t.startsWith('-') && t.length > 1 && !/^-\d/.test(t);
    if (!isLong && !isShort) {
      positionals.push(t);
      continue;
    }
    const eq = isLong ? t.indexOf('=') : -1;
    const name = isLong ? t.slice(2, eq > 0 ? eq : undefined) : t.slice(1);
    const f = known.find((k) => (isLong ? k.name === name : k.short === name));
    if (!f) throw usageError(`${spec.name}: unknown flag ${isLong ? `--${name}` : t}`);
    if (!f.value) {
      if (eq > 0) throw usageError(`${spec.name}: flag --${f.name} takes no value`);
      flags[f.name] = true;
      continue;
    }
    let value: string | undefined;
    if (eq > 0) value = t.slice(eq + 1);
    else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined || value === '') throw usageError(`${spec.name}: flag --${f.name} needs a value`);
    if (f.value === 'int') {
      if (!/^\d{1,9}$/.test(value)) throw usageError(`${spec.name}: --${f.name} must be a whole number, got ${JSON.stringify(value.slice(0, 40))}`);
      flags[f.name] = Number(value);
    } else flags[f.name] = value;
  }
  const args = positionals.slice(words);
  if (!help) {
    if (args.length < spec.args.length) throw usageError(`${spec.name}: missing <${spec.args[args.length]}>`);
    if (args.length > spec.args.length) throw usageError(`${spec.name}: unexpected argument ${JSON.stringify(args[spec.args.length]!.slice(0, 80))}`);
  }
  return { spec, args, flags, json, help };
}

// ---------------------------------------------------------------------------------------------
// Direct mode

/** The operator's credentials from the standard Alibaba Cloud variables; problems name the variable. */
export function credentialsFromEnv(env: Record<string, string | undefined>): { credentials?: KmsCredentials; problems: ConfigProblem[] } {
  const id = env['ALIBABA_CLOUD_ACCESS_KEY_ID']?.trim();
  const secret = env['ALIBABA_CLOUD_ACCESS_KEY_SECRET'];
  const token = env['ALIBABA_CLOUD_SECURITY_TOKEN'];
  const problems: ConfigProblem[] = [];
  if (!id) problems.push({ variable: 'ALIBABA_CLOUD_ACCESS_KEY_ID', message: 'ALIBABA_CLOUD_ACCESS_KEY_ID: required in direct mode (your access key id)' });
  if (!secret) problems.push({ variable: 'ALIBABA_CLOUD_ACCESS_KEY_SECRET', message: 'ALIBABA_CLOUD_ACCESS_KEY_SECRET: required in direct mode (value not shown)' });
  if (problems.length > 0) return { problems };
  return { credentials: { accessKeyId: id!, accessKeySecret: secret!, ...(token ? { securityToken: token } : {}) }, problems };
}

/** The audit actor of a direct-mode operator: the access key id (not a secret), else $USER. */
export function operatorActor(env: Record<string, string | undefined>): Actor {
  return { kind: 'operator', id: env['ALIBABA_CLOUD_ACCESS_KEY_ID']?.trim() || env['USER'] || env['USERNAME'] || 'unknown' };
}

/** Parses config and credentials together, so one error lists every problem. */
function loadDirect(env: Record<string, string | undefined>): { config: Config; credentials: KmsCredentials } {
  const problems: ConfigProblem[] = [];
  let config: Config | undefined;
  try {
    config = parseConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  const creds = credentialsFromEnv(env);
  problems.push(...creds.problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return { config: config!, credentials: creds.credentials! };
}

/** The direct runner: builds engine deps per request from the env and runs the engine in-process. */
export function createDirectRunner(options: { env: Record<string, string | undefined>; now?: () => number; log: (line: string) => void }): OpsRunner {
  const { config, credentials } = loadDirect(options.env);
  for (const w of config.warnings) options.log(`warning: ${w}`);
  const actor = operatorActor(options.env);
  return {
    mode: 'direct',
    async run(request, hooks) {
      // Against the local stack the engine shares the emulator's (possibly accelerated) clock, as
      // the functions do; otherwise the system clock.
      const clock = options.now ? { nowMs: options.now } : await invocationClock(systemClock, options.env['BYOK_LOCAL_TIME_URL']);
      const deps = await buildEngineDeps({
        config,
        credentials: () => credentials,
        actor,
        progress: hooks.progress,
        // stdout carries only the command's result: the `stdout` audit sink goes to stderr here.
        auditWriter: (line) => options.log(line.endsWith('\n') ? line.slice(0, -1) : line),
        clock,
      });
      try {
        // doctor also checks the configuration itself and compares the shipped role policy.
        return await executeRequest(deps, request, { config, identity: `access key ${credentials.accessKeyId}`, ramPolicy: functionRolePolicy });
      } finally {
        await deps.audit.close();
      }
    },
  };
}


// ---------------------------------------------------------------------------------------------
// Rendering

const iso = (ms: number | undefined): string => (ms === undefined ? 'never' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'));

/** Left-aligned columns, two spaces apart. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

function stateOf(r: StatusRow): string {
  const notes = [r.hold ? `held: ${r.hold}` : undefined, r.phase && r.phase !== 'ready' ? r.phase : undefined].filter(Boolean);
  return notes.length ? `${r.state} (${notes.join(', ')})` : r.state;
}

function actionLine(a: Action): string[] {
  const key = 'keyId' in a && a.keyId ? a.keyId : a.kind === 'rotate' ? a.fromKeyId : '-';
  const kind = a.kind === 'alert' ? `alert:${a.severity}` : a.kind;
  return [kind, a.lineage ? `alias/${a.lineage}` : '-', key ?? '-', a.reason];
}

function renderPlan(plan: Plan): string {
  if (plan.actions.length === 0) return `Plan ${plan.planId} at ${iso(plan.createdAtMs)}: nothing to do.\n`;
  return `Plan ${plan.planId} at ${iso(plan.createdAtMs)}: ${plan.actions.length} action(s)\n${table(['ACTION', 'ALIAS', 'KEY', 'REASON'], plan.actions.map(actionLine))}`;
}

function renderResult(r: OpsResult): string {
  switch (r.command) {
    case 'status': {
      const rows = r.rows.map((x) => [
        // An older generation has no alias of its own: show its lineage's alias in parentheses.
        x.alias === '-' && x.lineage ? `(alias/${x.lineage})` : x.alias,
        x.keyId,
        x.generation === undefined ? '-' : String(x.generation),
        stateOf(x),
        iso(x.materialExpireAtMs),
        x.daysLeft === undefined ? '-' : String(x.daysLeft),
        x.managed ? (x.escrowOk ? 'ok' : 'NO') : '-',
        x.managed ? x.next : 'report only (not managed)',
      ]);
      const head = `Status at ${iso(r.nowMs)}: ${r.rows.filter((x) => x.managed).length} managed key(s), ${r.rows.filter((x) => !x.managed).length} unmanaged EXTERNAL key(s)\n`;
      const body = rows.length ? table(['ALIAS', 'KEY', 'GEN', 'STATE', 'MATERIAL EXPIRES', 'DAYS LEFT', 'ESCROW', 'NEXT'], rows) : 'No EXTERNAL keys.\n';
      const alerts = r.plan.actions.filter((a) => a.kind === 'alert');
      return head + body + (alerts.length ? `\nAlerts:\n${alerts.map((a) => `  ${a.kind === 'alert' ? a.severity : ''}: ${a.lineage ? `alias/${a.lineage} ` : ''}${a.keyId ?? ''} ${a.reason}`).join('\n')}\n` : '');
    }
    case 'plan':
      return renderPlan(r.plan);
    case 'sweep': {
      const c = r.counts;
      const summary = `Sweep ${r.planId}: ${c.ok} ok, ${c.failed} failed, ${c.skipped} skipped, ${c.deferred} deferred, ${c.alerted} alert(s)${r.alertWorthy ? ' - ALERT-WORTHY' : ''}\n`;
      if (r.results.length === 0) return `Sweep ${r.planId}: nothing to do.\n`;
      return table(['ACTION', 'ALIAS', 'KEY', 'OUTCOME', 'DETAIL'], r.results.map((x) => { const [kind, alias, key] = actionLine(x.action); return [kind!, alias!, key!, x.outcome + (x.errorCode ? ` (${x.errorCode})` : ''), x.detail]; })) + summary;
    }
    case 'onboard':
      return r.created ? `Onboarded alias/${r.lineage}: generation 1 is ${r.keyId}\n` : `alias/${r.lineage} is already onboarded (${r.keyId}); nothing changed\n`;
    case 'renew':
      return `Renewed ${r.keyId}: material valid until ${iso(r.expireAtMs)}\n`;
    case 'rotate':
      return `Rotated alias/${r.lineage} to generation ${r.generation}: ${r.keyId}${r.previousKeyId ? ` (previous ${r.previousKeyId} stays decryptable for the retention period)` : ''}\n`;
    case 'reimport':
      return `Re-imported ${r.keyId}: material valid until ${iso(r.expireAtMs)}\n`;
    case 'revoke':
      return `Revoked ${r.keyId}: material deleted, key held (escrow kept; bring it back with: npm run ops -- restore ${r.keyId})\n`;
    case 'restore':
      return `Restored ${r.keyId}: material valid until ${iso(r.expireAtMs)}\n`;
    case 'verify-escrow': {
      const bad = r.checks.filter((c) => !c.ok).length;
      return `${r.checks.length ? table(['KEY', 'ALIAS', 'ESCROW', 'DETAIL'], r.checks.map((c) => [c.keyId, c.lineage ? `alias/${c.lineage}` : '-', c.ok ? 'ok' : 'FAILED', c.detail])) : 'No managed keys.\n'}${r.checks.length - bad} ok, ${bad} failed\n`;
    }
    case 'doctor':
      return renderDoctor(r.checks);
    default: {
      const exhaustive: never = r;
      return `${JSON.stringify(exhaustive)}\n`;
    }
  }
}

/** Exit code of a successful run: alert-worthy or failed outcomes still map to 1/3/4. */
function exitCodeOfResult(r: OpsResult): ExitCode {
  const critical = (actions: Action[]) => actions.some((a) => a.kind === 'alert' && a.severity === 'critical');
  switch (r.command) {
    case 'status':
    case 'plan':
      return critical(r.plan.actions) ? ExitCode.Alert : ExitCode.Ok;
    case 'sweep':
      if (r.counts.failed > 0) return ExitCode.Failure;
      if (r.alertWorthy) return ExitCode.Alert;
      if (r.results.some((x) => x.errorCode === ErrorCode.LeaseHeld)) return ExitCode.Refused;
      return ExitCode.Ok;
    case 'verify-escrow':
      return r.checks.every((c) => c.ok) ? ExitCode.Ok : ExitCode.Failure;
    case 'doctor': {
      const worst = worstStatus(r.checks);
      return worst === CheckStatus.Fail ? ExitCode.Failure : worst === CheckStatus.Warn ? ExitCode.Alert : ExitCode.Ok;
    }
    default:
      return ExitCode.Ok;
  }
}

// ---------------------------------------------------------------------------------------------
// Audit file commands (local files: direct mode only)

function auditFileOf(parsed: Parsed, env: Record<string, string | undefined>): string {
  const f = (parsed.flags['file'] as string | undefined) ?? env['BYOK_AUDIT_FILE']?.trim();
  if (!f) throw usageError(`${parsed.spec.name}: no audit file: pass --file <path> or set BYOK_AUDIT_FILE`);
  return f;
}

async function readAuditFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new OrchestratorError(ErrorCode.InvalidInput, `cannot read audit file ${file}: ${typeof code === 'string' ? code : 'read failed'}`, { details: { field: 'file' } });
  }
}

/** One event as a short human line (stable keys; unknown shapes fall back to JSON). */
function auditLine(e: Record<string, unknown>): string {
  const s = (k: string) => (e[k] === undefined || e[k] === null ? undefined : String(e[k]));
  const actor = e['actor'] && typeof e['actor'] === 'object' ? `${String((e['actor'] as Actor).kind)}:${String((e['actor'] as Actor).id)}` : s('actor');
  const at = typeof e['timeMs'] === 'number' ? iso(e['timeMs']) : typeof e['atMs'] === 'number' ? iso(e['atMs']) : s('time');
  return [s('seq') ? `#${s('seq')}` : undefined, at, actor, `${s('action') ?? '?'}/${s('phase') ?? '?'}`, s('outcome'), s('lineage') ? `alias/${s('lineage')}` : undefined, s('keyId'), s('errorCode'), s('reason')]
    .filter((x) => x !== undefined && x !== '')
    .join('  ');
}

// ---------------------------------------------------------------------------------------------
// Entry

/** Runs the CLI with `argv` (without node and script); returns the exit code. Never throws. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const debug = io.env['BYOK_DEBUG'] === '1';
  const jsonWanted = argv.includes('--json');
  let commandName = 'ops';
  const emitJson = (doc: Record<string, unknown>) => io.stdout(`${JSON.stringify(doc, null, 2)}\n`);
  // Global mode flags, valid anywhere on the line: --remote, --fc2 (with --remote), --local.
  const mode = { remote: argv.includes('--remote'), fc2: argv.includes('--fc2'), local: argv.includes('--local') };
  argv = argv.filter((a) => a !== '--remote' && a !== '--fc2' && a !== '--local');
  let env = io.env;
  try {
    if (mode.fc2 && !mode.remote) throw new OrchestratorError(ErrorCode.InvalidInput, '--fc2: only meaningful with --remote', { details: { field: 'argv' } });
    // --local: the settings `npm start` wrote for this machine's local stack; variables already set win.
    if (mode.local) env = { ...readEnvFile(join(process.cwd(), '.local', 'cli.env')), ...Object.fromEntries(Object.entries(io.env).filter(([, v]) => v !== undefined)) };
    const parsed = parseArgv(argv);
    if (parsed.spec === undefined) {
      // `ops --help` and `ops help` ask for help; `ops` alone is a usage error (help on stderr).
      if (argv.includes('--help') || argv.includes('-h') || argv[0] === 'help') {
        io.stdout(globalHelp());
        return ExitCode.Ok;
      }
      io.stderr(globalHelp());
      return ExitCode.Usage;
    }
    const p = parsed as Parsed;
    commandName = p.spec.name;
    if (p.help) {
      io.stdout(commandHelp(p.spec));
      return ExitCode.Ok;
    }

    // Local commands.
    if (p.spec.name === 'config') {
      const config = parseConfig(env);
      const code = ExitCode.Ok;
      if (p.json) emitJson({ command: 'config', ok: true, exitCode: code, config: redactConfig(config), warnings: config.warnings });
      else io.stdout(`${JSON.stringify(redactConfig(config), null, 2)}\n${config.warnings.map((w) => `warning: ${w}\n`).join('')}`);
      return code;
    }
    if (p.spec.name === 'audit verify') {
      const file = auditFileOf(p, env);
      const text = await readAuditFile(file);
      const v = verifyAuditChain(text);
      const code = v.ok ? ExitCode.Ok : ExitCode.Failure;
      if (p.json) emitJson({ command: 'audit verify', exitCode: code, file, ...v });
      else if (v.ok) io.stdout(`audit chain ok: ${file}, ${v.events} event(s) in ${v.chains} chain(s)\n`);
      else io.stdout(`audit chain BROKEN: ${file}, line ${v.line}: ${v.reason}\n`);
      return code;
    }
    if (p.spec.name === 'audit tail') {
      const file = auditFileOf(p, env);
      const n = (p.flags['lines'] as number | undefined) ?? 20;
      const lines = (await readAuditFile(file)).split('\n').filter((l) => l.trim() !== '');
      const last = lines.slice(Math.max(0, lines.length - n));
      const events = last.map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return { unparsable: l.slice(0, 200) };
        }
      });
      if (p.json) emitJson({ command: 'audit tail', ok: true, exitCode: ExitCode.Ok, file, events });
      else io.stdout(events.map((e) => ('unparsable' in e ? `(not JSON) ${String(e['unparsable'])}` : auditLine(e))).join('\n') + (events.length ? '\n' : `no events in ${file}\n`));
      return ExitCode.Ok;
    }

    // Engine commands: in-process (direct) or through the deployed ops function (--remote).
    const request = toRequest(p);
    const runner =
      io.runner ??
      (mode.remote
        ? createRemoteRunner({ env, fc2: mode.fc2, operator: operatorActor(env).id })
        : createDirectRunner({ env, ...(io.now ? { now: io.now } : {}), log: (line) => io.stderr(`${line}\n`) }));
    const result = await runner.run(request, { progress: (line) => io.stderr(`${line}\n`) });
    const code = exitCodeOfResult(result);
    if (p.json) emitJson({ ...result, ok: code === ExitCode.Ok, exitCode: code });
    else io.stdout(renderResult(result));
    return code;
  } catch (err) {
    const e = isOrchestratorError(err) ? err : undefined;
    const code = e ? e.code : ErrorCode.Internal;
    const message = e ? e.message : internalMessage(err);
    io.stderr(`error ${code}: ${message}\n`);
    if (err instanceof ConfigError && err.problems.length > 1) io.stderr(err.problems.map((p) => `  - ${p.message}\n`).join(''));
    if (e && exitCodeFor(code) === ExitCode.Usage && e.details.field === 'argv') io.stderr(`run "npm run ops -- ${commandName === 'ops' ? '' : `${commandName} `}--help" for usage\n`);
    if (debug && err instanceof Error && err.stack) io.stderr(`${err.stack}\n`);
    const exit = exitCodeFor(code);
    if (jsonWanted) emitJson({ command: commandName, ok: false, exitCode: exit, error: e ? e.toJSON() : { code, message } });
    return exit;
  }
}

/** A fixed message for errors that are not ours: nothing raw (it might carry a request's parameters). */
function internalMessage(err: unknown): string {
  const sys = err as { code?: unknown; syscall?: unknown };
  if (typeof sys?.code === 'string' && /^E[A-Z]+$/.test(sys.code)) return `unexpected system error ${sys.code}${typeof sys.syscall === 'string' ? ` (${sys.syscall})` : ''}; BYOK_DEBUG=1 shows details`;
  return `unexpected ${err instanceof Error ? err.name : 'error'}; BYOK_DEBUG=1 shows details`;
}

function toRequest(p: Parsed): OpsRequest {
  const [a] = p.args;
  switch (p.spec.name) {
    case 'status':
    case 'plan':
    case 'sweep':
    case 'verify-escrow':
    case 'doctor':
      return { command: p.spec.name };
    case 'onboard': {
      const keySpec = p.flags['key-spec'] as string | undefined;
      if (keySpec !== undefined && !isKeySpec(keySpec)) throw usageError(`onboard: --key-spec must be Aliyun_AES_256, Aliyun_AES_192, Aliyun_AES_128 or Aliyun_SM4, got ${JSON.stringify(keySpec.slice(0, 40))}`);
      const validityDays = p.flags['validity-days'] as number | undefined;
      return { command: 'onboard', alias: a!, ...(validityDays !== undefined ? { validityDays } : {}), ...(keySpec ? { keySpec } : {}) };
    }
    case 'renew':
      return { command: 'renew', target: a! };
    case 'rotate':
      return { command: 'rotate', alias: a! };
    case 'reimport':
      return { command: 'reimport', keyId: a! };
    case 'revoke': {
      const confirm = p.flags['confirm'] as string | undefined;
      return { command: 'revoke', keyId: a!, ...(confirm !== undefined ? { confirm } : {}) };
    }
    case 'restore':
      return { command: 'restore', keyId: a! };
    default:
      throw usageError(`unknown command "${p.spec.name}"`);
  }
}
