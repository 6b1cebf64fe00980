/**
 * `ops report --html <file>`: the account's side comes from the engine (the `report` request, run
 * in-process or by the ops function), the audit events from local JSONL files, and the page from
 * shared/ops/report-html.ts. Which audit files: `--audit-file`, else BYOK_AUDIT_FILE (with
 * `--local`, every `audit-*.jsonl` beside it: the local stack's functions write theirs there); in
 * remote mode only `--audit-file` (the deployed functions' events are in Log Service).
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ErrorCode, OrchestratorError } from '../../shared/errors.js';
import type { OpsResult } from '../../shared/ops/commands.js';
import { parseAuditJsonl, reportData, type ReportAuditEvent } from '../../shared/ops/report-data.js';
import { renderReportHtml } from '../../shared/ops/report-html.js';
import type { ParsedCommand } from './args.js';
import { ExitCode } from './render.js';

type ReportResult = Extract<OpsResult, { command: 'report' }>;

/** Where `report` reads its audit events from, and how it was run. */
export interface ReportIo {
  env: Record<string, string | undefined>;
  stdout: (s: string) => void;
  mode: { remote: boolean; local: boolean };
}

/** The audit files to read: explicit ones must exist; a default one may not exist yet. */
async function auditFilesOf(p: ParsedCommand, io: ReportIo): Promise<{ files: string[]; explicit: boolean }> {
  const flag = p.flags['audit-file'] as string | undefined;
  if (flag !== undefined) return { files: [flag], explicit: true };
  if (io.mode.remote) return { files: [], explicit: false };
  const file = io.env['BYOK_AUDIT_FILE']?.trim();
  if (!file) return { files: [], explicit: false };
  if (!io.mode.local) return { files: [file], explicit: false };
  // The local stack: the CLI's audit file and the functions' (audit-<function>.jsonl) in its state dir.
  const dir = dirname(file);
  const names = await readdir(dir).catch(() => [] as string[]);
  const siblings = names.filter((n) => /^audit-.*\.jsonl$/.test(n)).map((n) => join(dir, n));
  return { files: [...new Set([file, ...siblings])].sort(), explicit: false };
}

/** Reads audit events from the files; a default file that does not exist yet holds no events. */
export async function readAuditEvents(
  files: readonly string[],
  explicit: boolean,
): Promise<{ events: ReportAuditEvent[]; read: string[]; skipped: number }> {
  const events: ReportAuditEvent[] = [];
  const read: string[] = [];
  let skipped = 0;
  for (const f of files) {
    let text: string;
    try {
      text = await readFile(f, 'utf8');
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (!explicit && code === 'ENOENT') continue;
      const why = typeof code === 'string' ? code : 'read failed';
      throw new OrchestratorError(ErrorCode.InvalidInput, `audit-file: cannot read ${f}: ${why}`, {
        details: { field: 'audit-file' },
      });
    }
    const parsed = parseAuditJsonl(text);
    events.push(...parsed.events);
    skipped += parsed.skipped;
    read.push(f);
  }
  return { events, read, skipped };
}

/** Writes the page of a `report` result; returns the exit code (0 once written). */
export async function writeHtmlReport(result: ReportResult, p: ParsedCommand, io: ReportIo): Promise<ExitCode> {
  const file = p.flags['html'] as string;
  const { files, explicit } = await auditFilesOf(p, io);
  const audit = await readAuditEvents(files, explicit);
  const notes: string[] = [];
  const source = io.mode.remote ? 'the deployed ops function (--remote)' : 'your credentials (direct mode)';
  notes.push(`Keys and alerts read through ${source}${io.mode.local ? ', against the local stack' : ''}.`);
  if (audit.read.length) {
    const names = audit.read.map((f) => basename(f)).join(', ');
    const skipped = audit.skipped ? ` (${audit.skipped} line(s) that are not audit events skipped)` : '';
    notes.push(`Audit events: ${audit.events.length} from ${names}${skipped}.`);
  } else if (io.mode.remote) {
    notes.push(
      'Audit events: none read: the deployed functions write theirs to Log Service (logstore byok-functions); ' +
        'pass --audit-file <export.jsonl> to draw them.',
    );
  } else {
    notes.push('Audit events: none read (no audit file yet; --audit-file or BYOK_AUDIT_FILE names one).');
  }
  if (result.alertStateError) notes.push(`The alert state could not be read (${result.alertStateError}).`);
  const data = reportData(result.snapshot, audit.events, result.alerts, result.nowMs, { notes });
  await writeFile(file, renderReportHtml(data));
  const summary = {
    file,
    lineages: data.lineages.map((l) => l.lineage),
    alerts: data.alerts.length,
    unmanaged: data.unmanaged.length,
    instances: data.instances.length,
    auditEvents: audit.events.length,
    auditFiles: audit.read,
  };
  if (p.json) {
    const doc = { command: 'report', ok: true, exitCode: ExitCode.Ok, nowMs: result.nowMs, ...summary };
    io.stdout(`${JSON.stringify(doc, null, 2)}\n`);
  } else {
    io.stdout(
      `Wrote ${file}: ${data.lineages.length} lineage(s), ${data.alerts.length} open alert(s), ` +
        `${data.unmanaged.length} unmanaged EXTERNAL key(s), ${audit.events.length} audit event(s)\n`,
    );
  }
  return ExitCode.Ok;
}
