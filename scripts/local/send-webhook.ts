/**
 * `npm run local:webhook -- '<json body>'`: posts a signed webhook call to the local stack's
 * webhook function (HMAC headers x-byok-timestamp / x-byok-signature), reading the local secret
 * from `.local/secrets.json` and the endpoint from `.local/cli.env` (both written by `npm start`).
 * Prints the HTTP status and the JSON answer; never the secret.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { signWebhook } from '../../shared/webhook/index.js';
import { readEnvFile } from '../ops/remote.js';

async function main(): Promise<number> {
  const body =
    process.argv[2] ??
    JSON.stringify({ action: 'check', alias: 'alias/demo', reason: 'manual test from npm run local:webhook' });
  const dir = join(process.cwd(), '.local');
  let secret: string;
  let env: Record<string, string>;
  try {
    secret = (JSON.parse(readFileSync(join(dir, 'secrets.json'), 'utf8')) as { webhookHmac: string }).webhookHmac;
    env = readEnvFile(join(dir, 'cli.env'));
  } catch {
    process.stderr.write('local:webhook: no local stack settings in .local/ (run npm start first)\n');
    return 2;
  }
  const url = `${env.BYOK_FC_ENDPOINT}/http/${(env.BYOK_OPS_FUNCTION ?? 'byok-ops').replace(/ops$/, 'webhook')}`;
  const ts = Math.floor(Date.now() / 1000);
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-byok-timestamp': String(ts),
      'x-byok-signature': signWebhook(secret, ts, body),
    },
    body,
  });
  process.stdout.write(`POST ${url} -> ${res.status}\n${JSON.stringify(await res.json(), null, 2)}\n`);
  return res.ok ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`local:webhook: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
