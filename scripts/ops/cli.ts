/**
 * The on-call CLI (`npm run ops -- <command>`): the entry. It parses the command line (args.ts,
 * against the command table and help texts in usage.ts), runs local commands
 * (local-commands.ts) and engine commands through an `OpsRunner` (runner.ts): direct
 * mode runs the engine in-process (direct.ts), remote mode sends the same `OpsRequest` to the
 * deployed `ops` function and gets the same `OpsResult` back (remote.ts). Exit codes and rendering
 * (render.ts) are therefore the same in both modes.
 *
 * Output: `--json` prints exactly one JSON document on stdout (`{command, ok, exitCode, ...}`),
 * also on errors; otherwise tables for people. Progress, warnings, audit lines (the `stdout` audit
 * sink: stdout carries only the result), the engine's log lines (JSON, `warn` and up, an engine
 * bug's with its stack; everything with BYOK_DEBUG=1) and errors go to stderr. Errors print
 * `error <CODE>: <message>`; a stack trace only with BYOK_DEBUG=1. No secret (access key secret,
 * security token, webhook secret) is ever printed. Credentials come from the official provider
 * chain (credentials.ts; global `--profile <name>`); the audit actor is the principal STS
 * GetCallerIdentity names (identity.ts), else the access key id marked `unverified:`.
 */
import { ConfigError } from '../../shared/config/index.js';
import { ErrorCode, OrchestratorError, isOrchestratorError } from '../../shared/errors.js';
import { LogLevel, createLogger } from '../../shared/log.js';
import { systemClock } from '../../shared/system.js';
import { parseCommandLine, toRequest } from './args.js';
import { commandHelp, globalHelp } from './usage.js';
import { createDirectRunner } from './direct.js';
import { LOCAL_COMMANDS, runLocalCommand } from './local-commands.js';
import { createRemoteRunner, readEnvFile } from './remote.js';
import { takeProfileFlag } from './credentials.js';
import { writeHtmlReport } from './report.js';
import { requireStackSettings, resolveStateDir, takeStateDirFlag } from '../local/state-dir.js';
import { ExitCode, exitCodeFor, exitCodeOfResult, renderResult } from './render.js';
import type { OpsRunner } from './runner.js';

export { executeRequest, type OpsRequest, type OpsResult, type SweepOutcome } from '../../shared/ops/commands.js';
export { createDirectRunner, operatorActor } from './direct.js';
export { ExitCode, exitCodeFor } from './render.js';
export type { OpsRunner, RunHooks } from './runner.js';

/** What the CLI is given by its entry point (everything, so tests run it in-process). */
export interface CliIo {
  env: Record<string, string | undefined>;
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** Engine clock in epoch ms (tests follow the emulator clock); default the system clock. */
  now?: () => number;
  /** Replaces the direct runner (the remote mode, or a test double). */
  runner?: OpsRunner;
}

/** Global mode flags, valid anywhere on the line. */
const MODE_FLAGS = ['--remote', '--fc2', '--local'];

/** Runs the CLI with `argv` (without node and script); returns the exit code. Never throws. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const debug = io.env['BYOK_DEBUG'] === '1';
  const jsonWanted = argv.includes('--json');
  let commandName = 'ops';
  const emitJson = (doc: Record<string, unknown>) => io.stdout(`${JSON.stringify(doc, null, 2)}\n`);
  const mode = { remote: argv.includes('--remote'), fc2: argv.includes('--fc2'), local: argv.includes('--local') };
  let line = argv.filter((a) => !MODE_FLAGS.includes(a));
  // Suggested follow-up commands carry the mode flags this run used (`--local`, `--remote`, `--fc2`).
  let flags = MODE_FLAGS.filter((f) => argv.includes(f)).join(' ');
  const withMode = (text: string) => (flags ? text.replaceAll('npm run ops -- ', `npm run ops -- ${flags} `) : text);
  let env = io.env;
  try {
    if (mode.fc2 && !mode.remote) {
      throw new OrchestratorError(ErrorCode.InvalidInput, '--fc2: only meaningful with --remote', {
        details: { field: 'argv' },
      });
    }
    // --profile <name>: the aliyun CLI profile to take credentials from (credentials.ts).
    const profileFlag = takeProfileFlag(line);
    line = profileFlag.rest;
    const profile = profileFlag.profile;
    if (profile !== undefined) {
      if (mode.local) {
        const rule = '--profile: not with --local (the local stack uses its own test credentials from its cli.env)';
        throw new OrchestratorError(ErrorCode.InvalidInput, rule, { details: { field: 'argv' } });
      }
      flags = `${flags} --profile ${profile}`.trim();
    }
    // --local: the settings `npm start` wrote for this machine's local stack (in its state dir:
    // --state-dir, else BYOK_LOCAL_STATE_DIR, else .local); variables already set win.
    const stateFlag = takeStateDirFlag(line);
    line = stateFlag.rest;
    if (stateFlag.stateDir !== undefined && !mode.local) {
      throw new OrchestratorError(ErrorCode.InvalidInput, '--state-dir: only meaningful with --local', {
        details: { field: 'argv' },
      });
    }
    if (mode.local) {
      const state = resolveStateDir(stateFlag.stateDir, io.env, process.cwd());
      if (state.source === 'flag') flags = `${flags} --state-dir ${state.given}`;
      const set = Object.fromEntries(Object.entries(io.env).filter(([, v]) => v !== undefined));
      env = { ...readEnvFile(requireStackSettings(state, '--local')), ...set };
    }
    const parsed = parseCommandLine(line);
    if (parsed.spec === undefined) {
      // `ops --help` and `ops help` ask for help; `ops` alone is a usage error (help on stderr).
      if (line.includes('--help') || line.includes('-h') || line[0] === 'help') {
        io.stdout(globalHelp());
        return ExitCode.Ok;
      }
      io.stderr(globalHelp());
      return ExitCode.Usage;
    }
    commandName = parsed.spec.name;
    if (parsed.help) {
      io.stdout(commandHelp(parsed.spec));
      return ExitCode.Ok;
    }
    if (LOCAL_COMMANDS.has(parsed.spec.name)) {
      // These read this machine only: with --remote they would show local data as the deployment's.
      if (mode.remote)
        throw new OrchestratorError(ErrorCode.InvalidInput, remoteRefusal(parsed.spec.name), {
          details: { field: 'remote' },
        });
      return await runLocalCommand(parsed, { env, stdout: io.stdout });
    }

    // Engine commands: in-process (direct) or through the deployed ops function (--remote).
    const request = toRequest(parsed);
    if (request.command === 'adopt' && mode.remote) {
      const text =
        'adopt --remote: not available: the material file is read on this machine and never travels to the ' +
        'ops function; run adopt in direct mode (with your own credentials)';
      throw new OrchestratorError(ErrorCode.InvalidInput, text, { details: { field: 'remote' } });
    }
    const writeLine = (l: string) => io.stderr(`${l}\n`);
    const level = debug ? LogLevel.Debug : LogLevel.Warn;
    const log = createLogger({ write: writeLine, nowMs: systemClock.nowMs, level, context: { cli: 'ops' } });
    const runner =
      io.runner ??
      (mode.remote
        ? createRemoteRunner({ env, fc2: mode.fc2, warn: writeLine, ...(profile ? { profile } : {}) })
        : createDirectRunner({
            env,
            ...(io.now ? { now: io.now } : {}),
            writeLine,
            log,
            ...(profile ? { profile } : {}),
          }));
    const result = await runner.run(request, { progress: writeLine });
    if (result.command === 'report') return await writeHtmlReport(result, parsed, { env, stdout: io.stdout, mode });
    const code = exitCodeOfResult(result);
    if (parsed.json) emitJson({ ...result, ok: code === ExitCode.Ok, exitCode: code });
    else io.stdout(withMode(renderResult(result)));
    return code;
  } catch (err) {
    const e = isOrchestratorError(err) ? err : undefined;
    const code = e ? e.code : ErrorCode.Internal;
    const message = withMode(e ? e.message : internalMessage(err));
    io.stderr(`error ${code}: ${message}\n`);
    if (err instanceof ConfigError && err.problems.length > 1)
      io.stderr(err.problems.map((p) => `  - ${p.message}\n`).join(''));
    if (e && exitCodeFor(code) === ExitCode.Usage && e.details.field === 'argv') {
      io.stderr(`run "npm run ops -- ${commandName === 'ops' ? '' : `${commandName} `}--help" for usage\n`);
    }
    if (debug && err instanceof Error && err.stack) io.stderr(`${err.stack}\n`);
    const exit = exitCodeFor(code);
    if (jsonWanted)
      emitJson({ command: commandName, ok: false, exitCode: exit, error: e ? e.toJSON() : { code, message } });
    return exit;
  }
}

/** Why a local command refuses --remote, and where the deployment's data lives instead. */
function remoteRefusal(command: string): string {
  if (command === 'config')
    return (
      "config --remote: not available: config shows only this machine's settings; the deployed " +
      "functions' settings are their environment variables in s.yaml (see them with `s byok_ops info`); " +
      'run config without --remote for this machine'
    );
  return (
    `${command} --remote: not available: the deployed functions write their audit events to Log Service ` +
    '(project byok-orchestrator, logstore byok-functions in s.yaml): read them with `s byok_ops logs` ' +
    '(or `s byok_sweep logs`, `s byok_webhook logs`) or an SLS query on that logstore; without --remote ' +
    `${command} reads a local audit file (--file or BYOK_AUDIT_FILE)`
  );
}

/** A fixed message for errors that are not ours: nothing raw (it might carry a request's parameters). */
function internalMessage(err: unknown): string {
  const sys = err as { code?: unknown; syscall?: unknown };
  if (typeof sys?.code === 'string' && /^E[A-Z]+$/.test(sys.code)) {
    const syscall = typeof sys.syscall === 'string' ? ` (${sys.syscall})` : '';
    return `unexpected system error ${sys.code}${syscall}; BYOK_DEBUG=1 shows details`;
  }
  return `unexpected ${err instanceof Error ? err.name : 'error'}; BYOK_DEBUG=1 shows details`;
}
