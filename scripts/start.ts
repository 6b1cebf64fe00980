/**
 * `npm start`: build the bundles, start the local stack (KMS emulator + local FC host), seed a demo
 * lineage on first start, print what is running and what to try next. Ctrl-C stops everything.
 *
 *   npm start -- [--speed <n>] [--kms-port <n>] [--fc-port <n>] [--state-dir <dir>] [--no-timers] [--verbose]
 *
 * stdout is for people: one line per sweep, webhook call, alert and lifecycle action, in words, with
 * the (emulated) time in front (scripts/local/terminal.ts); the audit events stay in the audit
 * files the banner names. --verbose shows everything the emulator, the FC host and the functions
 * log. This script's own diagnostics (a failed seed, an unexpected failure with its stack) are
 * structured log lines on stderr (shared/log.ts).
 */
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { buildFunctions } from './build.js';
import { demoPolicyBanner, demoPolicyEnv } from './local/demo-policy.js';
import { LOCAL_INSTANCES, seedLineage, startLocalStack, writeCliEnvFile } from './local/stack.js';
import { STATE_DIR_ENV, resolveStateDir } from './local/state-dir.js';
import { clockPrefix, formatStackLine } from './local/terminal.js';
import { isOrchestratorError } from '../shared/errors.js';
import { LogLevel, createLogger, type Logger } from '../shared/log.js';

/** Diagnostics: JSON lines on stderr (`script: start`); the engine's info lines only with --verbose. */
const diagnostics = (verbose: boolean): Logger =>
  createLogger({
    write: (line) => process.stderr.write(`${line}\n`),
    nowMs: Date.now,
    level: verbose ? LogLevel.Info : LogLevel.Warn,
    context: { script: 'start' },
  });
let log = diagnostics(false);

/** Default ports: rarely used ones, so a usual development machine has them free. */
export const DEFAULT_PORTS = { kms: 4765, fc: 4766 } as const;

const USAGE = `Usage: npm start -- [options]

  --speed <n>        clock speed for demos (3600 = one hour per second; timers and KMS expiry follow). Default 1
  --kms-port <n>     KMS emulator port on 127.0.0.1 (default ${DEFAULT_PORTS.kms}; 0 = any free port)
  --fc-port <n>      local FC host port on 127.0.0.1 (default ${DEFAULT_PORTS.fc}; 0 = any free port)
  --state-dir <dir>  where keys, escrow and audit files live (default .local, or ${STATE_DIR_ENV});
                     pass the same --state-dir to \`npm run ops -- --local\` and \`npm run local:webhook\`
  --no-timers        do not fire timer triggers on their schedule
  --verbose          show every emulator call, FC host line and function log line
  -h, --help         this help

Under --speed the stack runs a demo policy (material valid 3 days, renewed 1 day before, rotated
every 3 days) so a renewal and a rotation happen within two minutes at --speed 3600.
`;

/** The flag that sets each port, for the "in use" message. */
const PORT_FLAGS: Record<string, string> = { kmsPort: '--kms-port', fcPort: '--fc-port' };

/** "port 4765 is in use: pass --kms-port <n> (or 0 for any free port)". */
export function portInUseMessage(port: number, flag: string, what: string): string {
  return (
    `port ${port} (${what}) is in use on 127.0.0.1: ` +
    `pass ${flag} <n> to use another (or ${flag} 0 for any free port)`
  );
}

/** Whether something already listens on 127.0.0.1:`port` (0 is never taken). */
function portTaken(port: number): Promise<boolean> {
  if (port === 0) return Promise.resolve(false);
  return new Promise((done) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'EADDRINUSE'));
    probe.listen(port, '127.0.0.1', () => probe.close(() => done(false)));
  });
}

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
    verbose: { type: 'boolean' },
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
    kmsPort = num('--kms-port', args['kms-port'], DEFAULT_PORTS.kms, 0, 65535);
    fcPort = num('--fc-port', args['fc-port'], DEFAULT_PORTS.fc, 0, 65535);
  } catch (err) {
    process.stderr.write(`start: ${(err as Error).message}\n`);
    return 2;
  }
  if (kmsPort !== 0 && kmsPort === fcPort) {
    process.stderr.write(`start: --kms-port and --fc-port are both ${kmsPort}: give them different ports\n`);
    return 2;
  }
  // Before the build: a taken port is said at once, with the flag that moves it.
  for (const [port, flag, what] of [
    [kmsPort, '--kms-port', 'the KMS emulator'],
    [fcPort, '--fc-port', 'the local FC host'],
  ] as const) {
    if (await portTaken(port)) {
      process.stderr.write(`start: ${portInUseMessage(port, flag, what)}\n`);
      return 2;
    }
  }
  const verbose = args.verbose === true;
  log = diagnostics(verbose);
  const root = resolve(import.meta.dirname, '..');
  const state = resolveStateDir(args['state-dir'], process.env, process.cwd());
  const stateDir = state.source === 'default' ? join(root, state.given) : state.dir;
  // What the user passes to the other tools to reach this stack (nothing for the default).
  const stateFlag = state.source === 'default' ? '' : ` --state-dir ${state.given}`;

  process.stdout.write('Building function bundles...\n');
  const report = await buildFunctions({ absWorkingDir: root, outDir: 'dist', functionsDir: 'functions' });
  if (!report.ok) {
    process.stderr.write(
      `start: build failed:\n${report.violations.map((v) => `  ${JSON.stringify(v)}`).join('\n')}\n`,
    );
    return 1;
  }
  // Lines in words with the emulated time (terminal.ts); until the emulator's clock is known, held.
  let nowMs: (() => number) | undefined;
  const held: string[] = [];
  const show = (line: string) => {
    if (nowMs === undefined) {
      held.push(line);
      return;
    }
    const shown = formatStackLine(line, { nowMs: nowMs(), speed, verbose });
    if (shown !== undefined) process.stdout.write(`${shown}\n`);
  };
  let stack: Awaited<ReturnType<typeof startLocalStack>>;
  try {
    stack = await startLocalStack({
      stateDir,
      distDir: join(root, 'dist'),
      sYamlPath: join(root, 's.yaml'),
      kmsPort,
      fcPort,
      speed,
      fireTimers: !args['no-timers'],
      log: show,
      env: demoPolicyEnv(speed),
    });
  } catch (err) {
    const field = isOrchestratorError(err) ? err.details.field : undefined;
    const flag = field === undefined ? undefined : PORT_FLAGS[field];
    if (flag === undefined) throw err;
    // Taken between the check above and now.
    const port = field === 'kmsPort' ? kmsPort : fcPort;
    const what = field === 'kmsPort' ? 'the KMS emulator' : 'the local FC host';
    process.stderr.write(`start: ${portInUseMessage(port, flag, what)}\n`);
    return 2;
  }
  const emu = stack.emu;
  nowMs = () => emu.clock.nowMs?.() ?? emu.clock.nowUnix() * 1000;
  for (const line of held.splice(0)) show(line);
  const at = () => `${clockPrefix(nowMs?.() ?? Date.now(), speed)}  `;

  // Seed the demo lineage on first start (idempotent: onboarding an onboarded alias is a no-op).
  try {
    const r = await seedLineage(stack, 'alias/demo', 'npm-start', log);
    process.stdout.write(
      r.created
        ? `${at()}seeded the demo lineage alias/demo -> ${r.keyId}\n`
        : `${at()}demo lineage alias/demo -> ${r.keyId} (already there)\n`,
    );
  } catch (err) {
    // The stack stays up without the demo lineage; the log line carries the code (or the stack of a bug).
    log.error('could not seed the demo lineage alias/demo', err);
  }

  // The CLI's --local flag reads these (ids, endpoints and the documented local-only credentials).
  const cliEnvFile = await writeCliEnvFile(stateDir, stack.cliEnv);
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
  alert receiver    ${stack.alerts.url}   (BYOK_ALERT_WEBHOOK_URL, signed; arrivals print as "alert ..." lines)
  report page       ${stack.reportUrl}   (open in a browser: timelines, alerts; = ops -- --local report --html <file>)
  functions         ${Object.values(stack.functionNames).join(', ')}
  state             ${stateDir}  (emulator state and escrow hold plaintext material: keep private)
  audit files       ${join(stateDir, 'audit-<function>.jsonl')} and audit-cli.jsonl (every event, as JSON)
${demoPolicyBanner(speed)
  .map((l) => `  ${l}\n`)
  .join('')}
Try next (in another terminal):
  npm run ops -- --local${stateFlag} status                    # direct mode: the engine in-process
  npm run ops -- --local${stateFlag} --remote status           # the ops function, through the FC 3.0 invoke API
  npm run ops -- --local${stateFlag} --remote --fc2 status     # the same through @alicloud/fc2
  npm run ops -- --local${stateFlag} onboard alias/payments    # a second lineage
  npm run ops -- --local${stateFlag} doctor                    # check the deployment: instances, permissions
  npm run local:webhook --${stateFlag} '{"action":"check","alias":"alias/demo","reason":"try me"}'   # signed call
  npm run ops -- --local${stateFlag} sweep                     # a sweep: its alerts arrive at the receiver above
  curl -s ${stack.emu.url}/__emulator/state        # what the emulator holds (no material)
  (settings for --local: ${cliEnvFile})

Below: the ${speed > 1 ? 'emulated ' : ''}time (UTC), then one line per sweep, webhook call, alert and change.
${verbose ? '' : 'Run with --verbose to see every emulator call and function log line.\n'}Ctrl-C stops everything.
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
