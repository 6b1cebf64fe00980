/**
 * What the ops CLI shows: the exit-code table, the exit code of each result, and results as text
 * for people (tables, one-line summaries). `--json` output is the result itself (cli.ts).
 */
import { ErrorCode } from '../../shared/errors.js';
import type { StatusRow } from '../../shared/lifecycle/engine.js';
import type { Action, Plan } from '../../shared/lifecycle/plan.js';
import type { OpsResult } from '../../shared/ops/commands.js';
import { CheckStatus, renderDoctor, worstStatus } from '../../shared/ops/doctor.js';

/**
 * Exit codes (the one table; the README copies it):
 *
 * | code | meaning |
 * |---|---|
 * | 0 | ok (for `status`/`plan`: nothing critical pending) |
 * | 1 | failure: an action failed, a KMS/escrow error, escrow or audit verification failed |
 * | 2 | usage or configuration error: unknown command or flag, bad argument, bad BYOK_* variable, missing credentials |
 * | 3 | alert-worthy: a critical alert (plan, sweep), or `status` shows an UNUSABLE managed key (nothing failed) |
 * | 4 | refused, nothing changed: confirmation required, or another run holds the lineage lease (retry later) |
 * | 5 | partial: some actions were done, others skipped because another run holds their lease (rerun later) |
 * | 6 | done, but the key is not usable yet: a step needs a person (e.g. enable a Disabled key by hand) |
 */
export const ExitCode = { Ok: 0, Failure: 1, Usage: 2, Alert: 3, Refused: 4, Partial: 5, ActionNeeded: 6 } as const;
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

/** Exit code of a successful run: alert-worthy or failed outcomes still map to 1/3/4. */
export function exitCodeOfResult(r: OpsResult): ExitCode {
  const critical = (actions: Action[]) => actions.some((a) => a.kind === 'alert' && a.severity === 'critical');
  switch (r.command) {
    case 'status':
      return critical(r.plan.actions) || unusableRows(r.rows).length > 0 ? ExitCode.Alert : ExitCode.Ok;
    case 'plan':
      return critical(r.plan.actions) ? ExitCode.Alert : ExitCode.Ok;
    case 'sweep':
      if (r.counts.failed > 0) return ExitCode.Failure;
      if (r.alertWorthy) return ExitCode.Alert;
      if (r.results.some((x) => x.errorCode === ErrorCode.LeaseHeld)) {
        // Nothing written is "refused"; some actions done while others waited for a lease is "partial".
        return r.counts.ok > 0 ? ExitCode.Partial : ExitCode.Refused;
      }
      return ExitCode.Ok;
    case 'verify-escrow':
      return r.checks.every((c) => c.ok) ? ExitCode.Ok : ExitCode.Failure;
    case 'restore':
      return r.keyState !== undefined && r.keyState !== 'Enabled' ? ExitCode.ActionNeeded : ExitCode.Ok;
    case 'doctor': {
      const worst = worstStatus(r.checks);
      return worst === CheckStatus.Fail ? ExitCode.Failure : worst === CheckStatus.Warn ? ExitCode.Alert : ExitCode.Ok;
    }
    default:
      return ExitCode.Ok;
  }
}

/**
 * Managed keys that cannot decrypt now and are not held on purpose: no key material (PendingImport),
 * so every decrypt with them fails.
 */
export function unusableRows(rows: StatusRow[]): StatusRow[] {
  return rows.filter((x) => x.managed && x.state === 'PendingImport' && !x.hold);
}

/** An instant as `2026-01-01T00:00:00Z` (`never` when unset). */
export const iso = (ms: number | undefined): string =>
  ms === undefined ? 'never' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Left-aligned columns, two spaces apart. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

function stateOf(r: StatusRow): string {
  const notes = [r.hold ? `held: ${r.hold}` : undefined, r.phase && r.phase !== 'ready' ? r.phase : undefined].filter(
    Boolean,
  );
  return notes.length ? `${r.state} (${notes.join(', ')})` : r.state;
}

function actionLine(a: Action): string[] {
  const key = 'keyId' in a && a.keyId ? a.keyId : a.kind === 'rotate' ? a.fromKeyId : '-';
  const kind = a.kind === 'alert' ? `alert:${a.severity}` : a.kind;
  return [kind, a.lineage ? `alias/${a.lineage}` : '-', key ?? '-', a.reason];
}

function renderPlan(plan: Plan): string {
  const head = `Plan ${plan.planId} at ${iso(plan.createdAtMs)}`;
  if (plan.actions.length === 0) return `${head}: nothing to do.\n`;
  const rows = table(['ACTION', 'ALIAS', 'KEY', 'REASON'], plan.actions.map(actionLine));
  return `${head}: ${plan.actions.length} action(s)\n${rows}`;
}

function renderStatus(r: OpsResult & { command: 'status' }): string {
  const rows = r.rows.map((x) => [
    // An older generation has no alias of its own: show its lineage's alias in parentheses.
    x.alias === '-' && x.lineage ? `(alias/${x.lineage})` : x.alias,
    x.keyId,
    x.generation === undefined ? '-' : String(x.generation),
    stateOf(x),
    // No material at all is `none`; material that does not expire is `never`.
    x.materialExpireAtMs === undefined && x.state === 'PendingImport' ? 'none' : iso(x.materialExpireAtMs),
    x.daysLeft === undefined ? '-' : String(x.daysLeft),
    x.managed ? (x.escrowOk ? 'ok' : 'NO') : '-',
    x.managed ? x.next : 'report only (not managed)',
  ]);
  const managed = r.rows.filter((x) => x.managed).length;
  const unmanaged = r.rows.length - managed;
  const head = `Status at ${iso(r.nowMs)}: ${managed} managed key(s), ${unmanaged} unmanaged EXTERNAL key(s)\n`;
  const columns = ['ALIAS', 'KEY', 'GEN', 'STATE', 'MATERIAL EXPIRES', 'DAYS LEFT', 'ESCROW', 'NEXT'];
  const body = rows.length ? table(columns, rows) : 'No EXTERNAL keys.\n';
  const alerts = r.plan.actions.filter((a) => a.kind === 'alert');
  const alertLine = (a: Action & { kind: 'alert' }) =>
    `  ${a.severity}: ${a.lineage ? `alias/${a.lineage} ` : ''}${a.keyId ?? ''} ${a.reason}`;
  const unusable = unusableRows(r.rows).map(
    (x) =>
      `  ${x.alias === '-' && x.lineage ? `(alias/${x.lineage})` : x.alias} ${x.keyId}: PendingImport, no key ` +
      `material: every decrypt fails (fix: npm run ops -- reimport ${x.keyId})`,
  );
  const opening = unusable.length
    ? `UNUSABLE: ${unusable.length} managed key(s) cannot decrypt now\n${unusable.join('\n')}\n\n`
    : '';
  return opening + head + body + (alerts.length ? `\nAlerts:\n${alerts.map(alertLine).join('\n')}\n` : '');
}

function renderSweep(r: OpsResult & { command: 'sweep' }): string {
  const c = r.counts;
  const worthy = r.alertWorthy ? ' - ALERT-WORTHY' : '';
  const tally = `${c.ok} ok, ${c.failed} failed, ${c.skipped} skipped, ${c.deferred} deferred, ${c.alerted} alert(s)`;
  const summary = `Sweep ${r.planId}: ${tally}${worthy}\n`;
  if (r.results.length === 0) return `Sweep ${r.planId}: nothing to do.\n`;
  const rows = r.results.map((x) => {
    const [kind, alias, key] = actionLine(x.action);
    return [kind!, alias!, key!, x.outcome + (x.errorCode ? ` (${x.errorCode})` : ''), x.detail];
  });
  return table(['ACTION', 'ALIAS', 'KEY', 'OUTCOME', 'DETAIL'], rows) + summary;
}

const restoreHint = (keyId: string) => `escrow kept; bring it back with: npm run ops -- restore ${keyId}`;

/** A result as text for people. */
export function renderResult(r: OpsResult): string {
  switch (r.command) {
    case 'status':
      return renderStatus(r);
    case 'plan':
      return renderPlan(r.plan);
    case 'sweep':
      return renderSweep(r);
    case 'onboard':
      return r.created
        ? `Onboarded alias/${r.lineage}: generation 1 is ${r.keyId}\n`
        : `alias/${r.lineage} is already onboarded (${r.keyId}); nothing changed\n`;
    case 'adopt': {
      const previous = r.previousKeyId ? ` (previous generation ${r.previousKeyId} stays decryptable)` : '';
      const file = /^[\w./-]+$/.test(r.materialFile) ? r.materialFile : `'${r.materialFile.replaceAll("'", "'\\''")}'`;
      return (
        `Adopted ${r.keyId} as generation ${r.generation} of alias/${r.lineage}${previous}: material proven ` +
        `(re-imported with its Valid Until), escrowed and read back, key tagged, alias set.\n` +
        `The material is now in escrow: destroy your copy of it with: shred -u ${file}\n`
      );
    }
    case 'renew':
      return `Renewed ${r.keyId}: material valid until ${iso(r.expireAtMs)}\n`;
    case 'rotate': {
      const previous = r.previousKeyId
        ? ` (previous ${r.previousKeyId} stays decryptable for the retention period)`
        : '';
      return `Rotated alias/${r.lineage} to generation ${r.generation}: ${r.keyId}${previous}\n`;
    }
    case 'reimport':
      if (r.unchanged)
        return (
          `Nothing to re-import: ${r.keyId} is Enabled with material valid until ${iso(r.expireAtMs)} ` +
          `(to extend it: npm run ops -- renew ${r.keyId}); nothing changed\n`
        );
      return `Re-imported ${r.keyId}: material valid until ${iso(r.expireAtMs)}\n`;
    case 'revoke':
      return `Revoked ${r.keyId}: material deleted, key held (${restoreHint(r.keyId)})\n`;
    case 'retire':
      return (
        `Retired ${r.keyId}: no longer renewed; its material lapses at its Valid Until and data under it is ` +
        `unreadable until revived (npm run ops -- reimport ${r.keyId}); escrow is kept\n`
      );
    case 'restore':
      if (r.keyState !== undefined && r.keyState !== 'Enabled' && r.keyState !== 'Disabled')
        return `NOT restored: ${r.keyId} is ${r.keyState}; see the key in the KMS console\n`;
      if (r.keyState === 'Disabled')
        return (
          `NOT restored: ${r.keyId} has its material (valid until ${iso(r.expireAtMs)}) and no hold, but is ` +
          `still ${r.keyState}; this tool's role cannot enable keys (by design). Enable it by hand: the KMS ` +
          `console, or aliyun kms EnableKey --KeyId ${r.keyId}\n`
        );
      return `Restored ${r.keyId}: material valid until ${iso(r.expireAtMs)}\n`;
    case 'verify-escrow': {
      const bad = r.checks.filter((c) => !c.ok).length;
      const rows = r.checks.map((c) => [
        c.keyId,
        c.lineage ? `alias/${c.lineage}` : '-',
        c.ok ? 'ok' : 'FAILED',
        c.detail,
      ]);
      const body = r.checks.length ? table(['KEY', 'ALIAS', 'ESCROW', 'DETAIL'], rows) : 'No managed keys.\n';
      return `${body}${r.checks.length - bad} ok, ${bad} failed\n`;
    }
    case 'doctor':
      return renderDoctor(r.checks);
    case 'report':
      return (
        `Report data as of ${iso(r.nowMs)}: ${r.snapshot.keys.length} key(s), ${r.alerts.length} alert(s); ` +
        'the page: npm run ops -- report --html <file>\n'
      );
    default: {
      const exhaustive: never = r;
      return `${JSON.stringify(exhaustive)}\n`;
    }
  }
}

/** One audit event as a short human line (stable keys; unknown shapes fall back to JSON). */
export function auditLine(e: Record<string, unknown>): string {
  const s = (k: string) => (e[k] === undefined || e[k] === null ? undefined : String(e[k]));
  const who =
    e['actor'] && typeof e['actor'] === 'object' ? (e['actor'] as { kind?: unknown; id?: unknown }) : undefined;
  const actor = who ? `${String(who.kind)}:${String(who.id)}` : s('actor');
  const at =
    typeof e['timeMs'] === 'number' ? iso(e['timeMs']) : typeof e['atMs'] === 'number' ? iso(e['atMs']) : s('time');
  const parts = [
    s('seq') ? `#${s('seq')}` : undefined,
    at,
    actor,
    `${s('action') ?? '?'}/${s('phase') ?? '?'}`,
    s('outcome'),
    s('lineage') ? `alias/${s('lineage')}` : undefined,
    s('keyId'),
    s('errorCode'),
    s('reason'),
  ];
  return parts.filter((x) => x !== undefined && x !== '').join('  ');
}
