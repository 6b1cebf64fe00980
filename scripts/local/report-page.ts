/**
 * The report page of the local stack (`npm start` serves it at /report on the alert receiver): the
 * same page as `npm run ops -- --local report --html <file>`, built on each request from the
 * emulator (operator credentials, the emulator's clock) and every audit file of the state dir.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { buildEngineDeps } from '../../shared/bootstrap.js';
import { parseConfig } from '../../shared/config/index.js';
import { reportData } from '../../shared/ops/report-data.js';
import { renderReportHtml } from '../../shared/ops/report-html.js';
import { gatherReport } from '../../shared/ops/report-source.js';
import { readAuditEvents } from '../ops/report.js';

/** What the page is built from. */
export interface LocalReportInput {
  /** The CLI's environment for this stack (LocalStack.cliEnv). */
  cliEnv: Record<string, string>;
  operator: { accessKeyId: string; accessKeySecret: string };
  /** Folder holding the stack's `audit-*.jsonl` files. */
  stateDir: string;
  /** The emulator's clock (ms). */
  nowMs: () => number;
}

/** Builds the page now (read-only: no KMS write, no audit event, no alert sent). */
export async function localReportPage(input: LocalReportInput): Promise<string> {
  // Nothing is audited by a read-only report: the stdout sink with a writer that drops lines keeps
  // the stack's audit files untouched.
  const config = parseConfig({ ...input.cliEnv, BYOK_AUDIT_SINK: 'stdout' });
  const deps = await buildEngineDeps({
    config,
    credentials: () => input.operator,
    actor: { kind: 'operator', id: 'local-report-page' },
    clock: { nowMs: input.nowMs },
    auditWriter: () => {},
    alerts: false,
  });
  try {
    const source = await gatherReport(deps);
    const names = await readdir(input.stateDir).catch(() => [] as string[]);
    const files = names.filter((n) => /^audit-.*\.jsonl$/.test(n)).map((n) => join(input.stateDir, n));
    const audit = await readAuditEvents(files.sort(), false);
    const notes = [
      'The local stack (npm start): keys and alerts read from the KMS emulator with the local operator credentials.',
      `Audit events: ${audit.events.length} from ${audit.read.length} audit file(s) in ${input.stateDir}.`,
      ...(source.alertStateError ? [`The alert state could not be read (${source.alertStateError}).`] : []),
    ];
    return renderReportHtml(reportData(source.snapshot, audit.events, source.alerts, source.nowMs, { notes }));
  } finally {
    await deps.close();
  }
}
