/**
 * What `npm start` prints for each line the local stack logs (pure: the line, the emulated time and
 * the options in, the terminal line or nothing out). People read this terminal, so:
 * - every line starts with the time: the emulated date and time under `--speed`, else the time of day;
 * - one line per sweep (the sweep's summary), per webhook call, per alert line, and per lifecycle
 *   action that changed or failed something (renewed, rotated, re-imported...), in words: the raw
 *   audit JSON stays in the audit files the banner names;
 * - routine emulator and FC host chatter (each KMS call, the DescribeKey 404 of a normal onboarding,
 *   each successful invocation, the functions' info lines) is hidden unless `verbose`; failed
 *   invocations, KMS 5xx and authentication failures, and every warning or error are shown.
 */

/** How lines are shown. */
export interface TerminalOptions {
  /** Emulated now (epoch ms): the time printed on the line. */
  nowMs: number;
  /** Clock speed (>1: the date is printed too, as the days go by fast). */
  speed: number;
  /** Show everything, raw lines included. */
  verbose: boolean;
}

/** `2026-12-01 10:21Z` under speed (emulated days fly by), `10:21:06` otherwise (UTC both). */
export function clockPrefix(nowMs: number, speed: number): string {
  const iso = new Date(nowMs).toISOString();
  return speed > 1 ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z` : iso.slice(11, 19);
}

/** Past tense of lifecycle actions (audit `action` = the plan's action kind). */
const DONE: Record<string, string> = {
  onboard: 'onboarded',
  renew: 'renewed',
  rotate: 'rotated',
  reimport: 're-imported',
  resume: 'resumed',
  retire: 'retired',
  supersede: 'superseded',
  hold: 'held',
  'release-hold': 'released the hold of',
  restore: 'restored',
  revoke: 'revoked',
  adopt: 'adopted',
};

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const int = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** The sweep's summary line (`alerts: sweep summary`, byokEvent sweep-summary) in words. */
export function sweepLine(f: Record<string, unknown>): string {
  const done = int(f.ok);
  const parts: string[] = [];
  const acts = [
    done > 0 ? `${plural(done, 'action')} done` : '',
    int(f.failed) > 0 ? `${int(f.failed)} failed` : '',
    int(f.deferred) > 0 ? `${int(f.deferred)} deferred to the next run` : '',
    int(f.skipped) > 0 ? `${int(f.skipped)} skipped (another run holds the lineage)` : '',
  ].filter(Boolean);
  parts.push(acts.length ? acts.join(', ') : 'nothing to do');
  const critical = int(f.critical);
  const warning = int(f.warning);
  parts.push(
    critical + warning === 0
      ? 'no alerts'
      : [critical ? plural(critical, 'critical alert') : '', warning ? plural(warning, 'warning') : '']
          .filter(Boolean)
          .join(', '),
  );
  const unusable = str(f.unusableKeys);
  if (unusable) parts.push(`UNUSABLE: ${unusable}`);
  if (typeof f.minDaysLeft === 'number') parts.push(`nearest expiry in ${f.minDaysLeft} days`);
  return `sweep: ${parts.join('; ')}`;
}

/** An audit event's line: lifecycle actions that did or failed something; undefined for the rest. */
function auditLine(e: Record<string, unknown>, verbose: boolean): string | undefined {
  if (e.phase !== 'outcome') return undefined;
  const action = str(e.action) ?? '?';
  const who = [str(e.lineage), str(e.keyId)].filter(Boolean).join(' ');
  const reason = str(e.reason);
  if (e.outcome === 'failed') {
    const code = e.errorCode ? ` (${e.errorCode})` : '';
    return `${action} FAILED for ${who || 'the account'}${code}${reason ? `: ${reason}` : ''}`;
  }
  const past = DONE[action];
  if (e.outcome === 'ok' && past) {
    // The engine's detail often says it already ("renewed until ...", "rotated to generation 2").
    if (reason?.toLowerCase().startsWith(past)) return `${who}: ${reason}`;
    return `${past} ${who}${reason ? `: ${reason}` : ''}`;
  }
  if (e.outcome === 'skipped' && past && verbose) return `${action} skipped for ${who}${reason ? `: ${reason}` : ''}`;
  return undefined;
}

/** A function's JSON log line: sweep, webhook and ops results, and every warning or error. */
function logLine(fn: string, l: Record<string, unknown>, verbose: boolean): string | undefined {
  const msg = str(l.msg) ?? '';
  if (l.byokEvent === 'sweep-summary') return sweepLine(l);
  // The receiver's [alert] lines show alerts and recoveries; the sweep line replaces `sweep done`.
  if (l.byokEvent === 'alert' || l.byokEvent === 'alert-recovered' || msg === 'sweep done') return undefined;
  if (msg === 'webhook processed') {
    const targets = str(l.targets) ?? (Array.isArray(l.targets) ? l.targets.join(', ') : undefined);
    return (
      `webhook: ${plural(int(l.accepted), 'request')} accepted` +
      `${int(l.duplicates) ? `, ${plural(int(l.duplicates), 'duplicate')}` : ''}${targets ? ` (${targets})` : ''}`
    );
  }
  if (msg === 'ops command done') {
    const command = str(l.command) ?? 'command';
    const code = typeof l.exitCode === 'number' ? ` (exit ${l.exitCode})` : '';
    return `ops function: ${command} done${code}`;
  }
  const level = str(l.level) ?? 'info';
  if (level === 'warn' || level === 'error' || level === 'fatal') {
    const err = [str(l.errorCode), str(l.errorMessage)].filter(Boolean).join(': ');
    return `${fn} ${level === 'warn' ? 'warning' : 'ERROR'}: ${msg}${err ? ` (${err})` : ''}`;
  }
  return verbose ? `${fn}: ${msg}` : undefined;
}

/** A KMS emulator request line: `kms-emulator <METHOD> <path> <Action> <status> <code> <n>ms <requestId>`. */
const KMS_REQUEST = /^kms-emulator (?:GET|POST|PUT|DELETE|HEAD) \S+ (\S+) (\d{3}) (\S+) \d+ms \S+$/;
/** Codes shown without --verbose: the caller's credentials or signature are wrong, or a permission is missing. */
const KMS_NOTABLE = /Signature|AccessKey|SecurityToken|NoPermission|Unauthori[sz]ed|InvalidApi/i;

function kmsLine(rest: string, verbose: boolean): string | undefined {
  const m = KMS_REQUEST.exec(rest);
  if (m) {
    const [, action, status, code] = m;
    if (Number(status) >= 500 || (Number(status) >= 400 && KMS_NOTABLE.test(code!)))
      return `KMS emulator: ${action} answered ${status} ${code}`;
    return verbose ? `KMS emulator: ${action} ${status} ${code}` : undefined;
  }
  if (/^kms-emulator (listening|stopped)/.test(rest)) return verbose ? rest : undefined;
  return `KMS emulator: ${rest.replace(/^kms-emulator /, '')}`;
}

/** An FC host line (`fc-host ...`). */
function fcHostLine(rest: string, verbose: boolean): string | undefined {
  const timer = /^fc-host (\S+): timer '([^']+)' '([^']+)' (.+)$/.exec(rest);
  if (timer) return `${timer[1]}: timer ${timer[2]} (${timer[3]}): ${timer[4]}`;
  if (/ refused: | internal error: /.test(rest)) return `FC host: ${rest.replace(/^fc-host /, '')}`;
  // `fc-host <source> <function> <requestId> <ok | what failed> (<n> ms)`; sources as InvocationSource.
  const run = /^fc-host (invoke-fc2|invoke-fc3|http|timer|direct) (\S+) \S+ (.+?)(?: \(\d+ ms\))?$/.exec(rest);
  if (run) {
    if (run[3] === 'ok') return verbose ? `${run[2]} (${run[1]}): ok` : undefined;
    return `${run[2]} (${run[1]}) failed: ${run[3]!.replace(/^failed: /, '')}`;
  }
  return verbose ? rest : undefined;
}

/**
 * The terminal line for one stack log line (`[kms] ...`, `[fc] fc-host ...`, `[fc] [<fn>] <output>`,
 * `[alert] ...`), with the time in front; undefined when it is hidden.
 */
export function formatStackLine(line: string, options: TerminalOptions): string | undefined {
  const text = bodyOf(line, options.verbose);
  return text === undefined ? undefined : `${clockPrefix(options.nowMs, options.speed)}  ${text}`;
}

function bodyOf(line: string, verbose: boolean): string | undefined {
  if (line.startsWith('[alert] ')) return `alert ${line.slice('[alert] '.length)}`;
  if (line.startsWith('[kms] ')) return kmsLine(line.slice('[kms] '.length), verbose);
  if (!line.startsWith('[fc] ')) return line;
  const rest = line.slice('[fc] '.length);
  const fnOut = /^\[([^\]]+)\] (.*)$/.exec(rest);
  if (!fnOut) return fcHostLine(rest, verbose);
  const [, fn, out] = fnOut as unknown as [string, string, string];
  let parsed: unknown;
  try {
    parsed = out.startsWith('{') ? JSON.parse(out) : undefined;
  } catch {
    parsed = undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return `${fn}: ${out}`;
  const fields = parsed as Record<string, unknown>;
  // Audit events carry the chain (`hash`, `phase`); log lines carry `level` and `msg`.
  if (typeof fields.hash === 'string' && typeof fields.phase === 'string') {
    const l = auditLine(fields, verbose);
    return l === undefined ? undefined : `${fn}: ${l}`;
  }
  return logLine(fn, fields, verbose);
}
