/**
 * End to end (issue 9 §1 acceptance): a key's material is deleted and its repair is made impossible
 * (escrow removed); within one sweep of the built sweep function the local alert receiver gets the
 * alert with the fixing command. After the fix (escrow back), the next sweep repairs the key and
 * the receiver gets the recovery. The CLI's `sweep` and the webhook function's checks alert too.
 */
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { seedLineage, type LocalStack } from '../../scripts/local/stack.js';
import { buildKms } from '../../shared/bootstrap.js';
import { parseConfig } from '../../shared/config/index.js';
import type { KmsPort } from '../../shared/kms/port.js';
import { systemRandom } from '../../shared/system.js';
import { runCli } from '../../scripts/ops/cli.js';
import { signWebhook } from '../../shared/webhook/index.js';
import { kmsConsole } from '../support/engine-harness.js';
import { startE2eStack } from '../support/local-stack.js';

let env: Awaited<ReturnType<typeof startE2eStack>>;
let stack: LocalStack;
let kms: KmsPort;

beforeAll(async () => {
  env = await startE2eStack();
  stack = env.stack;
  kms = buildKms(parseConfig(stack.cliEnv), () => stack.operator, systemRandom);
}, 120_000);
afterAll(async () => {
  await env?.close();
});

it('alerts with the fixing command within one sweep, and announces the recovery after the fix', async () => {
  const { keyId } = await seedLineage(stack, 'alias/alerted', 'e2e-alerts');
  const record = join(stack.cliEnv.BYOK_ESCROW_DIR!, `${keyId}.escrow`);
  await kms.deleteKeyMaterial(keyId);
  await rename(record, `${record}.away`);

  const from = stack.alerts.received.length;
  const first = await stack.host.fireTimer(stack.functionNames.sweep, 'sweep-every-6h');
  expect(first.kind).toBe('ok');
  const alert = await stack.alerts.waitFor(new RegExp(`\\[CRITICAL\\] key ${keyId} `), { from, timeoutMs: 5_000 });
  expect(alert.signatureOk).toBe(true);
  expect(alert.text.split('\n')).toContain(
    `[CRITICAL] key ${keyId} (lineage alerted): material gone and no escrow record: data under this key is ` +
      `unreadable (since ${(alert.body.notices as Array<{ since: string }>)[0]?.since}). ` +
      'Fix: bring the escrow record back (README "On call: from page to fix"), ' +
      `then npm run ops -- reimport ${keyId}`,
  );
  expect(env.lines).toContain(alert.text.split('\n').map((l) => `[alert] ${l}`)[0]);

  // The fix: the escrow record is back; the next sweep re-imports and says so.
  await rename(`${record}.away`, record);
  const mark = stack.alerts.received.length;
  await stack.host.fireTimer(stack.functionNames.sweep, 'sweep-every-6h', new Date(Date.now() + 60_000));
  const recovered = await stack.alerts.waitFor(new RegExp(`^\\[RESOLVED\\] key ${keyId} `, 'm'), {
    from: mark,
    timeoutMs: 5_000,
  });
  expect(recovered.text).toContain(`[RESOLVED] key ${keyId} (lineage alerted): material gone and no escrow record`);
  expect((await kms.describeKey(keyId)).keyState).toBe('Enabled');
}, 60_000);

it("the CLI's sweep sends its alerts to the same receiver", async () => {
  const { keyId } = await seedLineage(stack, 'alias/cli-alerted', 'e2e-alerts');
  await kmsConsole(stack.emu.endpoint, stack.operator).scheduleKeyDeletion(keyId, 7);
  const from = stack.alerts.received.length;
  const out: string[] = [];
  const io = { env: stack.cliEnv, stdout: (s: string) => void out.push(s), stderr: (s: string) => void out.push(s) };
  await runCli(['sweep'], io);
  const alert = await stack.alerts.waitFor(new RegExp(`\\[CRITICAL\\] key ${keyId} `), { from, timeoutMs: 5_000 });
  expect(alert.text).toMatch(
    new RegExp(
      `\\[CRITICAL\\] key ${keyId} \\(lineage cli-alerted\\): scheduled for deletion on .+ Fix: npm run ops -- status`,
    ),
  );
}, 60_000);

it("the webhook function's check of one lineage alerts too", async () => {
  const { keyId } = await seedLineage(stack, 'alias/hook-alerted', 'e2e-alerts');
  const record = join(stack.cliEnv.BYOK_ESCROW_DIR!, `${keyId}.escrow`);
  await kms.deleteKeyMaterial(keyId);
  await rename(record, `${record}.away`);
  const from = stack.alerts.received.length;
  const body = JSON.stringify({ action: 'check', alias: 'alias/hook-alerted', reason: 'e2e' });
  const ts = Math.floor(Date.now() / 1000);
  const res = await fetch(stack.host.httpTriggerUrl(stack.functionNames.webhook), {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-byok-timestamp': String(ts),
      'x-byok-signature': signWebhook(stack.secrets.webhookHmac, ts, body),
    },
    body,
  });
  expect(res.status).toBe(200);
  const alert = await stack.alerts.waitFor(new RegExp(`\\[CRITICAL\\] key ${keyId} `), { from, timeoutMs: 5_000 });
  expect(alert.text).toContain(`material gone and no escrow record`);
  expect(alert.text).toContain(`then npm run ops -- reimport ${keyId}`);
  await rename(`${record}.away`, record);
}, 60_000);
