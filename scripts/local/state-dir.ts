/**
 * Where the local stack keeps its state (`npm start -- --state-dir <dir>`, default `.local`), and
 * how the tools that talk to a running stack find it: `npm run ops -- --local` and
 * `npm run local:webhook` take the same `--state-dir <dir>`, or read BYOK_LOCAL_STATE_DIR, and
 * otherwise use `.local` (relative to the current directory, as `npm start` does from the root).
 * A state dir without the settings `npm start` writes (`cli.env`) is refused with the command that
 * creates it, instead of silently falling back to another stack's settings.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ErrorCode, OrchestratorError } from '../../shared/errors.js';

/** The state dir when neither the flag nor the variable names one. */
export const DEFAULT_STATE_DIR = '.local';
/** The variable naming the state dir (the flag wins over it). */
export const STATE_DIR_ENV = 'BYOK_LOCAL_STATE_DIR';
/** The settings file `npm start` writes into the state dir for `--local`. */
export const CLI_ENV_FILE = 'cli.env';

/** A state dir as the user gave it (`given`, for messages) and as a path (`dir`). */
export interface StateDir {
  dir: string;
  given: string;
  /** Where it came from. */
  source: 'flag' | 'env' | 'default';
}

/** Splits `--state-dir <dir>` / `--state-dir=<dir>` out of argv (the last one wins). Throws on a missing value. */
export function takeStateDirFlag(argv: readonly string[]): { stateDir?: string; rest: string[] } {
  const rest: string[] = [];
  let stateDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === '--state-dir' || a.startsWith('--state-dir=')) {
      const value = a === '--state-dir' ? argv[++i] : a.slice('--state-dir='.length);
      if (value === undefined || value === '' || value.startsWith('--')) {
        throw new OrchestratorError(ErrorCode.InvalidInput, '--state-dir: needs a folder, e.g. --state-dir .local', {
          details: { field: 'argv' },
        });
      }
      stateDir = value;
      continue;
    }
    rest.push(a);
  }
  return stateDir === undefined ? { rest } : { stateDir, rest };
}

/** The state dir: the flag, else BYOK_LOCAL_STATE_DIR, else `.local`, resolved against `cwd`. */
export function resolveStateDir(flag: string | undefined, env: Record<string, string | undefined>, cwd: string) {
  const fromEnv = env[STATE_DIR_ENV];
  const [given, source]: [string, StateDir['source']] =
    flag !== undefined
      ? [flag, 'flag']
      : fromEnv !== undefined && fromEnv !== ''
        ? [fromEnv, 'env']
        : [DEFAULT_STATE_DIR, 'default'];
  return { dir: resolve(cwd, given), given, source } satisfies StateDir;
}

/** The command that starts a stack on this state dir (for messages). */
export function startCommandFor(state: StateDir): string {
  return state.source === 'default' ? 'npm start' : `npm start -- --state-dir ${state.given}`;
}

/**
 * Checks the state dir holds the settings of a stack (`cli.env`); throws InvalidConfig naming the
 * folder and the command that creates them otherwise. `who` prefixes the message (`--local`).
 */
export function requireStackSettings(state: StateDir, who: string): string {
  const file = join(state.dir, CLI_ENV_FILE);
  if (existsSync(file)) return file;
  const what = existsSync(state.dir) ? `${file} is missing` : `${state.dir} does not exist`;
  const other =
    state.source === 'default'
      ? `, or pass --state-dir <dir> (or set ${STATE_DIR_ENV}) for a stack started with another state dir`
      : '';
  throw new OrchestratorError(
    ErrorCode.InvalidConfig,
    `${who}: no local stack settings in ${state.given} (${what}): run \`${startCommandFor(state)}\` first${other}`,
    { details: { field: state.source === 'env' ? STATE_DIR_ENV : '--state-dir' } },
  );
}
