/**
 * End to end: `ops --remote report --html` through the built `ops` bundle under the local FC host
 * (both invoke APIs): the function reads the keys and alerts and the CLI writes the page; without
 * `--audit-file` the page says where the deployed functions' audit events are.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedLineage } from '../../scripts/local/stack.js';
import { runCli } from '../../scripts/ops/cli.js';
import { startE2eStack } from '../support/local-stack.js';

let env: Awaited<ReturnType<typeof startE2eStack>>;
let keyId: string;

beforeAll(async () => {
  env = await startE2eStack();
  keyId = (await seedLineage(env.stack, 'alias/pictured', 'e2e-test')).keyId;
}, 120_000);
afterAll(async () => {
  await env?.close();
});

describe('ops --remote report --html', () => {
  it.each([
    ['FC 3.0 invoke', ['--remote']],
    ['FC 2.0 invoke', ['--remote', '--fc2']],
  ])('writes the page from what the ops function read, through %s', async (_name, flags) => {
    const file = join(env.dir, `report-${flags.length}.html`);
    let out = '';
    let err = '';
    const argv = [...flags, 'report', '--html', file, '--json'];
    const code = await runCli(argv, { env: env.stack.cliEnv, stdout: (s) => (out += s), stderr: (s) => (err += s) });
    expect([code, err]).toEqual([0, expect.stringContaining('invoking byok-ops')]);
    expect(JSON.parse(out)).toMatchObject({ command: 'report', lineages: ['pictured'], auditEvents: 0 });
    const html = await readFile(file, 'utf8');
    expect(html).toContain('alias/pictured');
    expect(html).toContain(keyId);
    expect(html).toContain('read through the deployed ops function (--remote)');
    expect(html).toContain('the deployed functions write theirs to Log Service');
  });
});
