/**
 * Something expensive made once per test run and shared by every worker: the first caller (in any
 * worker) produces it under a lock directory in the run dir of test/support/global-setup.ts and
 * writes it as JSON; the others wait for that file. Outside a run dir (a file run by other means)
 * each process produces its own. Values are only read by the files that share them.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RUN_DIR_ENV } from './global-setup.js';

const started = new Map<string, Promise<unknown>>();

/**
 * `produce()`'s value, made once per run under `name` (a file name in the run dir). A waiter gives
 * up after `waitMs` (allow a loaded machine); a failed producer's error reaches every waiter.
 */
export function sharedInRun<T>(name: string, produce: () => Promise<T>, waitMs = 120_000): Promise<T> {
  const running = started.get(name) as Promise<T> | undefined;
  if (running !== undefined) return running;
  const made = (async (): Promise<T> => {
    const runDir = process.env[RUN_DIR_ENV];
    if (!runDir) return produce();
    const done = join(runDir, `${name}.json`);
    const failed = join(runDir, `${name}.failed`);
    try {
      await mkdir(join(runDir, `${name}.lock`));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Another worker produces it: wait for its result.
      for (const end = Date.now() + waitMs; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
        if (existsSync(done)) return JSON.parse(await readFile(done, 'utf8')) as T;
        if (existsSync(failed)) throw new Error(await readFile(failed, 'utf8'));
      }
      throw new Error(`timed out waiting for ${name} in ${runDir}`);
    }
    try {
      const value = await produce();
      // Written whole (mode 0600: it may hold a private key), then renamed: a waiter never reads half a file.
      await writeFile(`${done}.tmp`, JSON.stringify(value), { mode: 0o600 });
      await rename(`${done}.tmp`, done);
      return value;
    } catch (err) {
      await writeFile(`${failed}.tmp`, err instanceof Error ? err.message : String(err));
      await rename(`${failed}.tmp`, failed);
      throw err;
    }
  })();
  started.set(name, made);
  return made;
}
