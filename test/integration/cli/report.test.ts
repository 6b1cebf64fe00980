/**
 * `ops report --html` in-process against the KMS emulator over real HTTP (official SDK): two
 * lineages with a renewal and a rotation in the audit file, an unmanaged EXTERNAL key, an open
 * alert in the alert state (after a sweep), and a KMS instance end date. The page must be
 * self-contained (no script, nothing loaded from elsewhere) and show each of them. Then the page
 * is rendered by a real headless browser (Chromium, found at run time) to its DOM and to a PDF;
 * without a browser on this machine that test is skipped, and says why.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KmsEmulator } from '@byok/kms-emulator';
import { ExitCode, createDirectRunner, runCli, type OpsRunner } from '../../../scripts/ops/cli.js';
import type { KmsPort } from '../../../shared/kms/port.js';
import { DAY_MS } from '../../../shared/lifecycle/model.js';
import { type CliTestEnv, startCliTestEnv } from '../../support/cli-env.js';
import { KEYS_INSTANCE } from '../../support/engine-harness.js';

const AK = { accessKeyId: 'report-ak-0001', accessKeySecret: 'report-SECRET-value-do-not-print-0123456789' };

let world: CliTestEnv | undefined;
let emu: KmsEmulator;
let kms: KmsPort;
let dir: string;
let env: Record<string, string | undefined>;
let engineNowMs: number;
let unmanagedKeyId: string;
let paymentsGen1: string;
let paymentsGen2: string;
let ordersKey: string;
let instanceEndMs: number;

async function ops(argv: string[], runner?: OpsRunner) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    env,
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    now: () => engineNowMs,
    ...(runner ? { runner } : {}),
  });
  return { code, stdout, stderr };
}

function advanceDays(days: number): void {
  emu.clock.advance(days * 86_400);
  engineNowMs += days * DAY_MS;
}

/** Everything a page may not do to stay self-contained and offline. */
function expectSelfContained(html: string): void {
  expect(html).not.toMatch(/<script/i);
  expect(html).not.toMatch(/<link\b/i);
  expect(html).not.toMatch(/<(img|iframe|object|embed)\b/i);
  expect(html).not.toMatch(/@import|url\(/i);
  expect(html).not.toMatch(/\bsrc\s*=/i);
  expect(html).not.toMatch(/https?:\/\//i);
}

beforeAll(async () => {
  world = await startCliTestEnv(AK, 'byok-report-');
  ({ emu, kms, dir, env } = world);
  engineNowMs = emu.clock.nowUnix() * 1000;
  instanceEndMs = (emu.clock.nowUnix() + 200 * 86_400) * 1000;
  emu.instances.upsert({ id: KEYS_INSTANCE, type: 'software', endUnix: instanceEndMs / 1000 });
  const onboard = async (alias: string) => {
    const r = await ops(['onboard', alias, '--json']);
    expect(r.code).toBe(ExitCode.Ok);
    return (JSON.parse(r.stdout) as { keyId: string }).keyId;
  };
  paymentsGen1 = await onboard('alias/payments');
  ordersKey = await onboard('orders');
  advanceDays(5);
  expect((await ops(['renew', 'alias/payments'])).code).toBe(ExitCode.Ok);
  advanceDays(5);
  const rotated = await ops(['rotate', 'alias/payments', '--json']);
  expect(rotated.code).toBe(ExitCode.Ok);
  paymentsGen2 = (JSON.parse(rotated.stdout) as { keyId: string }).keyId;
  unmanagedKeyId = (
    await kms.createKey({ origin: 'EXTERNAL', keySpec: 'Aliyun_AES_256', description: 'imported by hand' })
  ).keyId;
  // A sweep opens the unmanaged key's alert in the alert state (exit 0: a warning only).
  const sweep = await ops(['sweep']);
  expect(sweep.code).toBe(ExitCode.Ok);
  advanceDays(1);
}, 60_000);

afterAll(async () => {
  await world?.close();
});

describe('ops report --html', () => {
  it('writes one self-contained page with every lineage, the unmanaged key, the alert and the instance', async () => {
    const file = join(dir, 'report.html');
    const r = await ops(['report', '--html', file, '--json']);
    expect(r.code).toBe(ExitCode.Ok);
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(doc).toMatchObject({
      command: 'report',
      ok: true,
      exitCode: 0,
      file,
      lineages: ['orders', 'payments'],
      unmanaged: 1,
      alerts: 1,
      instances: 2,
      auditFiles: [env['BYOK_AUDIT_FILE']],
    });
    expect(doc['auditEvents']).toBeGreaterThan(10);
    const html = await readFile(file, 'utf8');
    expectSelfContained(html);
    expect(html.match(/<svg class="timeline"/g)).toHaveLength(2);
    for (const s of ['alias/payments', 'alias/orders', paymentsGen1, paymentsGen2, ordersKey, unmanagedKeyId]) {
      expect(html).toContain(s);
    }
    // The renewal and the rotation from the audit file are marks on the payments timeline.
    const payments = html.slice(html.indexOf('id="lineage-payments"'));
    expect(payments).toContain('data-kind="renewal"');
    expect(payments).toContain('data-kind="rotation"');
    // Days left of the current generation (30 at its creation, a day ago) and the instance end date.
    expect(payments).toMatch(/days left: <span class="warn">29\.0 d<\/span>/);
    expect(html).toContain(new Date(instanceEndMs).toISOString().slice(0, 16).replace('T', ' '));
    expect(html).toContain('drift: unmanaged EXTERNAL key');
    expect(html).not.toContain(AK.accessKeySecret);
  });

  it('human output names the file and what it holds', async () => {
    const file = join(dir, 'human.html');
    const r = await ops(['report', '--html', file]);
    expect([r.code, r.stdout]).toEqual([
      ExitCode.Ok,
      expect.stringMatching(
        new RegExp(`^Wrote ${file.replaceAll('.', '\\.')}: 2 lineage\\(s\\), 1 open alert\\(s\\), 1 unmanaged`),
      ),
    ]);
    expect((await stat(file)).size).toBeGreaterThan(2000);
  });

  it('--html is required; an explicit audit file that does not exist is refused', async () => {
    const none = await ops(['report']);
    expect([none.code, none.stderr]).toEqual([
      ExitCode.Usage,
      expect.stringContaining('report: --html <file> is required'),
    ]);
    const missing = await ops(['report', '--html', join(dir, 'x.html'), '--audit-file', join(dir, 'nope.jsonl')]);
    expect(missing.code).toBe(ExitCode.Usage);
    expect(missing.stderr).toContain('audit-file: cannot read');
    expect(existsSync(join(dir, 'x.html'))).toBe(false);
  });

  it('--remote: keys and alerts from the function; audit events from --audit-file only', async () => {
    // The engine in-process behind --remote, as the ops function runs it.
    const fn = createDirectRunner({ env, now: () => engineNowMs, writeLine: () => {} });
    const file = join(dir, 'remote.html');
    const r = await ops(['--remote', 'report', '--html', file, '--json'], fn);
    expect(r.code).toBe(ExitCode.Ok);
    expect(JSON.parse(r.stdout)).toMatchObject({ lineages: ['orders', 'payments'], auditEvents: 0, auditFiles: [] });
    const html = await readFile(file, 'utf8');
    expect(html).toContain('the deployed functions write theirs to Log Service');
    expect(html).not.toContain('data-kind="renewal"');
    const withAudit = await ops(
      ['--remote', 'report', '--html', file, '--audit-file', env['BYOK_AUDIT_FILE']!, '--json'],
      fn,
    );
    expect(JSON.parse(withAudit.stdout)['auditEvents']).toBeGreaterThan(10);
    expect(await readFile(file, 'utf8')).toContain('data-kind="renewal"');
  });
});

/**
 * A headless Chromium on this machine, found at run time on the PATH (CI may have none);
 * BYOK_REPORT_BROWSER names another binary, or `none` to skip.
 */
function findBrowser(): string | undefined {
  const given = process.env['BYOK_REPORT_BROWSER'];
  if (given) return given === 'none' ? undefined : given;
  const names = ['chromium', 'chromium-headless-shell', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];
  const dirs = (process.env['PATH'] ?? '').split(':').filter(Boolean);
  for (const n of names) for (const d of dirs) if (existsSync(join(d, n))) return join(d, n);
  return undefined;
}

const browser = findBrowser();
const NO_BROWSER = 'SKIPPED: no headless Chromium on this machine (apt-get install chromium)';
if (!browser) console.warn(`report.test.ts: ${NO_BROWSER}`);

describe('the page in a real headless browser', () => {
  it.skipIf(!browser)(
    `Chromium parses it (both timelines as SVG) and prints it to a PDF${browser ? '' : ` (${NO_BROWSER})`}`,
    async () => {
      const file = join(dir, 'browser.html');
      expect((await ops(['report', '--html', file])).code).toBe(ExitCode.Ok);
      const run = promisify(execFile);
      const flags = ['--headless', '--disable-gpu', '--no-sandbox', '--no-first-run', `--user-data-dir=${dir}/chrome`];
      const { stdout: dom } = await run(browser!, [...flags, '--dump-dom', `file://${file}`], { timeout: 20_000 });
      // What the browser built from the page (its DOM), not the file's text.
      expect(dom.match(/<svg class="timeline"[^>]*>/g)).toHaveLength(2);
      expect(dom).toContain('alias/payments');
      expect(dom).toContain('alias/orders');
      expect(dom).toContain(unmanagedKeyId);
      expect(dom).toMatch(/<line class="today"/);
      const pdf = join(dir, 'report.pdf');
      await run(browser!, [...flags, '--no-pdf-header-footer', `--print-to-pdf=${pdf}`, `file://${file}`], {
        timeout: 20_000,
      });
      const bytes = await readFile(pdf);
      expect(bytes.subarray(0, 5).toString('latin1')).toBe('%PDF-');
      expect(bytes.length).toBeGreaterThan(10_000);
      expect(bytes.toString('latin1').match(/\/Type\s*\/Page\b/g)?.length).toBeGreaterThanOrEqual(1);
    },
    30_000,
  );
});
