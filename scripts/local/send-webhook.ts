/**
 * `npm run local:webhook -- [--state-dir <dir>] ['<json body>']`: posts a signed webhook call to the
 * local stack's webhook function (HMAC headers x-byok-timestamp / x-byok-signature), reading the
 * local secret from `<state dir>/secrets.json` and the endpoint from `<state dir>/cli.env` (both
 * written by `npm start`). The state dir is --state-dir, else BYOK_LOCAL_STATE_DIR, else `.local`,
 * as for `npm run ops -- --local`. Prints the HTTP status and the JSON answer; never the secret.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isOrchestratorError } from '../../shared/errors.js';
import { signWebhook } from '../../shared/webhook/index.js';
import { readEnvFile } from '../ops/remote.js';
import { requireStackSettings, resolveStateDir, startCommandFor, takeStateDirFlag } from './state-dir.js';

async function main(): Promise<number> {
  let args: ReturnType<typeof takeStateDirFlag>;
  try {
    args = takeStateDirFlag(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`local:webhook: ${(err as Error).message}\n`);
    return 2;
  }
  const body =
    args.rest[0] ??
    JSON.stringify({ action: 'check', alias: 'alias/demo', reason: 'manual test from npm run local:webhook' });
  const state = resolveStateDir(args.stateDir, process.env, process.cwd());
  let secret: string;
  let env: Record<string, string>;
  try {
    env = readEnvFile(requireStackSettings(state, 'local:webhook'));
    secret = (JSON.parse(readFileSync(join(state.dir, 'secrets.json'), 'utf8')) as { webhookHmac: string }).webhookHmac;
  } catch (err) {
    const why = isOrchestratorError(err)
      ? err.message
      : `local:webhook: cannot read the webhook secret in ${join(state.given, 'secrets.json')}`;
    process.stderr.write(`${why}\n`);
    return 2;
  }
  const url = `${env.BYOK_FC_ENDPOINT}/http/${(env.BYOK_OPS_FUNCTION ?? 'byok-ops').replace(/ops$/, 'webhook')}`;
  const ts = Math.floor(Date.now() / 1000);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-byok-timestamp': String(ts),
        'x-byok-signature': signWebhook(secret, ts, body),
      },
      body,
    });
  } catch {
    // The settings outlive the stack: they stay in the state dir after Ctrl-C.
    process.stderr.write(`local:webhook: cannot reach ${url}: is \`${startCommandFor(state)}\` running?\n`);
    return 1;
  }
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
