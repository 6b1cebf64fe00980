/**
 * Running a TypeScript entry point in a child process the cheap way: `node --import <tsx loader>`
 * loads tsx's hooks into one Node process, where the `tsx` binary starts a second Node process to
 * run the script in (about 0.3 s more CPU per call, which adds up over the suite). Tests that
 * check the documented command itself (`npx tsx ...`, `npm start`) still spawn that command.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/** file: URL of tsx's loader (what `node --import tsx` loads), absolute so any cwd works. */
export const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** `[command, args]` that run `script` (absolute, or relative to the child's cwd) with `args` under tsx. */
export function tsxCommand(script: string, args: readonly string[] = []): [string, string[]] {
  return [process.execPath, ['--import', TSX_LOADER, script, ...args]];
}
