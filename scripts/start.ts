/**
 * `npm start`: build the bundles, start the local stack (KMS emulator + local FC host), seed a demo
 * lineage on first start, print what is running and what to try next. Ctrl-C stops everything.
 *
 *   npm start -- [--speed <n>] [--kms-port <n>] [--fc-port <n>] [--state-dir <dir>] [--no-timers]
 *
 * stdout is for people (and the functions' own JSON log lines, as the local FC host relays them);
 * this script's diagnostics (the engine's while seeding, a failed seed, an unexpected failure with
 * its stack) are structured log lines on stderr (shared/log.ts).
 */
import { parseArgs } from 'node:util';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { buildFunctions } from './build.js';
import { LOCAL_INSTANCES, seedLineage, startLocalStack } from './local/stack.js';
import { isOrchestratorError } from '../shared/errors.js';
import { createLogger } from '../shared/log.js';

/** Diagnostics: JSON lines on stderr (`script: start`). */
const log = createLogger({
  write: (line) => process.stderr.write(`${line}\n`),
  nowMs: Date.now,
  context: { script: 'start' },
});

const USAGE = `Usage: npm start -- [options]

  --speed <n>        clock speed for demos (3600 = one hour per second; timers and KMS expiry follow). Default 1
  --kms-port <n>     KMS emulator port on 127.0.0.1 (default 8765; 0 = any free port)
  --fc-port <n>      local FC host port on 127.0.0.1 (default 9000; 0 = any free port)
  --state-dir <dir>  where keys, escrow and audit files live (default .local)
  --no-timers        do not fire timer triggers on their schedule
  -h, --help         this help
`;

function num(flag: string, v: string | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
    throw new Error(`${flag}: must be a whole number from ${min} to ${max}, got "${v}"`);
  return Number(v);
}

async function main(): Promise<number> {
  const options = {
    speed: { type: 'string' },
    'kms-port': { type: 'string' },
    'fc-port': { type: 'string' },
    'state-dir': { type: 'string' },
    'no-timers': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  } as const;
  let args: ReturnType<typeof parseArgs<{ options: typeof options }>>['values'];
  try {
    args = parseArgs({ args: process.argv.slice(2), options }).values;
  } catch (err) {
    process.stderr.write(`start: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  let speed: number, kmsPort: number, fcPort: number;
  try {
    speed = num('--speed', args.speed, 1, 1, 1_000_000);
    kmsPort = num('--kms-port', args['kms-port'], 8765, 0, 65535);
    fcPort = num('--fc-port', args['fc-port'], 9000, 0, 65535);
  } catch (err) {
    process.stderr.write(`start: ${(err as Error).message}\n`);
    return 2;
  }
  const root = resolve(import.meta.dirname, '..');
  const stateDir = resolve(args['state-dir'] ?? join(root, '.local'));

  process.stdout.write('Building function bundles...\n');
  const report = await buildFunctions({ absWorkingDir: root, outDir: 'dist', functionsDir: 'functions' });
  if (!report.ok) {
    process.stderr.write(
      `start: build failed:\n${report.violations.map((v) => `  ${JSON.stringify(v)}`).join('\n')}\n`,
    );
    return 1;
  }
  // Successful emulator requests are routine; show failures and everything from the FC host.
  const quiet = (line: string) => {
    if (!/^\[kms\] kms-emulator (GET|POST|DELETE) \S+ \S+ 200 /.test(line)) process.stdout.write(`${line}\n`);
  };
  const stack = await startLocalStack({
    stateDir,
    distDir: join(root, 'dist'),
    sYamlPath: join(root, 's.yaml'),
    kmsPort,
    fcPort,
    speed,
    fireTimers: !args['no-timers'],
    log: quiet,
  });

  // Seed the demo lineage on first start (idempotent: onboarding an onboarded alias is a no-op).
  try {
    const r = await seedLineage(stack, 'alias/demo', 'npm-start', log);
    process.stdout.write(
      r.created
        ? `Seeded demo lineage alias/demo -> ${r.keyId}\n`
        : `Demo lineage alias/demo -> ${r.keyId} (already there)\n`,
    );
  } catch (err) {
    // The stack stays up without the demo lineage; the log line carries the code (or the stack of a bug).
    log.error('could not seed the demo lineage alias/demo', err);
  }

  // The CLI's --local flag reads these (ids, endpoints and the documented local-only credentials).
  const cliEnvFile = join(stateDir, 'cli.env');
  await writeFile(
    cliEnvFile,
    `${Object.entries(stack.cliEnv)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n')}\n`,
    { mode: 0o600 },
  );
  const emuNote = `(KMS 3.0; admin API: ${stack.emu.url}/__emulator/state; credentials local-ak / local-secret)`;
  const fcNote =
    '(FC 3.0: /2023-03-30/functions/<fn>/invocations, ' +
    `FC 2.0: /2016-08-15/services/${stack.projectName}/functions/<fn>/invocations)`;
  process.stdout.write(`
The local stack is up${speed > 1 ? ` (clock x${speed})` : ''}.
  KMS emulator      ${stack.emu.url}   ${emuNote}
  KMS instances     ${LOCAL_INSTANCES.keys} (software, shared gateway on): managed keys
                    ${LOCAL_INSTANCES.escrow} (software): escrow/lease CMK, lease and webhook secrets
  FC host (invoke)  ${stack.host.url}   ${fcNote}
  webhook trigger   ${stack.host.httpTriggerUrl(stack.functionNames.webhook)}
  alert receiver    ${stack.alerts.url}   (BYOK_ALERT_WEBHOOK_URL, signed; arrivals print as [alert] lines)
  functions         ${Object.values(stack.functionNames).join(', ')}
  state             ${stateDir}  (emulator state and escrow hold plaintext material: keep private)

Try next (in another terminal):
  npm run ops -- --local status                    # direct mode: the engine in-process
  npm run ops -- --local --remote status           # the ops function, through the FC 3.0 invoke API
  npm run ops -- --local --remote --fc2 status     # the same through @alicloud/fc2
  npm run ops -- --local onboard alias/payments    # a second lineage
  npm run ops -- --local doctor                    # check the deployment: instances, escrow placement, permissions
  npm run local:webhook -- '{"action":"check","alias":"alias/demo","reason":"try me"}'   # a signed webhook call
  npm run ops -- --local sweep                     # a sweep: its alerts arrive at the receiver above
  curl -s ${stack.emu.url}/__emulator/state        # what the emulator holds (no material)
  (settings for --local: ${cliEnvFile})

Ctrl-C stops everything.
`);

  await new Promise<void>((resolveStop) => {
    process.once('SIGINT', () => resolveStop());
    process.once('SIGTERM', () => resolveStop());
  });
  process.stdout.write('Stopping...\n');
  await stack.close();
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const shown = isOrchestratorError(err)
      ? `${err.code} ${err.message}`
      : err instanceof Error
        ? err.message
        : String(err);
    process.stderr.write(`start: ${shown}\n`);
    if (!isOrchestratorError(err)) log.error('start failed', err); // a bug: its stack is the only trace
    process.exitCode = 1;
  },
);
