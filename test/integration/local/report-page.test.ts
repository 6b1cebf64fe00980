/**
 * The local stack serves the HTML report (`npm start` banner: report page) at /report on the alert
 * receiver, built per request from the emulator and the state dir's audit files; `/` leads there.
 * No function is invoked, so the bundles need not exist.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedLineage, startLocalStack, type LocalStack } from '../../../scripts/local/stack.js';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
let dir: string;
let stack: LocalStack;
let keyId: string;
/** The stack's log lines (a page that fails says why there). */
const lines: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'byok-report-page-'));
  stack = await startLocalStack({
    stateDir: join(dir, 'state'),
    distDir: join(dir, 'dist'),
    sYamlPath: join(ROOT, 's.yaml'),
    kmsPort: 0,
    fcPort: 0,
    fireTimers: false,
    log: (l) => lines.push(l),
  });
  ({ keyId } = await seedLineage(stack, 'alias/demo'));
}, 30_000);

afterAll(async () => {
  await stack?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the local stack report page', () => {
  it('GET /report answers the page: the seeded lineage, its timeline and its onboard event', async () => {
    expect(stack.reportUrl).toBe(`${stack.alerts.url.replace(/\/alerts$/, '')}/report`);
    const res = await fetch(stack.reportUrl);
    expect([res.status, lines.filter((l) => l.startsWith('[report]'))]).toEqual([200, []]);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await res.text();
    expect(html).toContain('alias/demo');
    expect(html).toContain(keyId);
    expect(html.match(/<svg class="timeline"/g)).toHaveLength(1);
    expect(html).toContain('data-kind="onboard"');
    expect(html).toMatch(/Audit events: [1-9]\d* from 1 audit file\(s\)/);
    expect(html).not.toMatch(/<script|https?:\/\//i);
    // Read-only: serving the page wrote no audit event.
    const before = await readFile(stack.cliEnv.BYOK_AUDIT_FILE!, 'utf8');
    await (await fetch(stack.reportUrl)).text();
    expect(await readFile(stack.cliEnv.BYOK_AUDIT_FILE!, 'utf8')).toBe(before);
  });

  it('/ leads to /report; other paths are 404; alerts are still received by POST', async () => {
    const root = await fetch(stack.reportUrl.replace(/report$/, ''), { redirect: 'manual' });
    expect([root.status, root.headers.get('location')]).toEqual([302, '/report']);
    const other = await fetch(stack.reportUrl.replace(/report$/, 'nope'));
    expect(other.status).toBe(404);
    const unsigned = await fetch(stack.alerts.url, { method: 'POST', body: '{"text":"x"}' });
    expect(unsigned.status).toBe(401);
  });
});
