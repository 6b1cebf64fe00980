/**
 * `npm start` with a taken port (issue 9 §6): it says which flag moves it, before building
 * anything, and the default ports are not the usual development ones (8080, 9000, 3000...). The
 * stack itself turns "address in use" into a coded error naming the option.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { startLocalStack } from '../../../scripts/local/stack.js';
import { isOrchestratorError } from '../../../shared/errors.js';
import { tsxCommand } from '../../support/tsx.js';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** Holds 127.0.0.1:`port` (0 = any); if something else already holds it, that does as well. */
async function occupy(port: number): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer();
  const taken = await new Promise<boolean>((done, fail) => {
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? done(false) : fail(err)));
    server.listen(port, '127.0.0.1', () => done(true));
  });
  const actual = taken ? (server.address() as { port: number }).port : port;
  return { port: actual, close: () => (taken ? new Promise((r) => server.close(() => r())) : Promise.resolve()) };
}

const start = async (argv: string[]) => {
  const dir = await mkdtemp(join(tmpdir(), 'byok-ports-'));
  dirs.push(dir);
  return promisify(execFile)(...tsxCommand('scripts/start.ts', ['--state-dir', join(dir, 'state'), ...argv]), {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '' },
    timeout: 60_000,
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
};

describe('npm start with a taken port', () => {
  it('names --kms-port when the default KMS emulator port is taken, and builds nothing', async () => {
    const held = await occupy(4765);
    try {
      const r = await start([]);
      expect([r.code, r.stderr, r.stdout]).toEqual([
        2,
        'start: port 4765 (the KMS emulator) is in use on 127.0.0.1: pass --kms-port <n> to use another ' +
          '(or --kms-port 0 for any free port)\n',
        '',
      ]);
    } finally {
      await held.close();
    }
  }, 60_000);

  it('names --fc-port when the default FC host port is taken', async () => {
    const held = await occupy(4766);
    try {
      const r = await start(['--kms-port', '0']);
      expect([r.code, r.stderr]).toEqual([
        2,
        'start: port 4766 (the local FC host) is in use on 127.0.0.1: pass --fc-port <n> to use another ' +
          '(or --fc-port 0 for any free port)\n',
      ]);
    } finally {
      await held.close();
    }
  }, 60_000);

  it('documents rarely used default ports in its help', async () => {
    const r = await start(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--kms-port <n>     KMS emulator port on 127.0.0.1 (default 4765; 0 = any free port)');
    expect(r.stdout).toContain('--fc-port <n>      local FC host port on 127.0.0.1 (default 4766; 0 = any free port)');
  }, 60_000);
});

describe('the local stack with a taken port', () => {
  it.each([
    ['kmsPort', { kmsPort: -1, fcPort: 0 }],
    ['fcPort', { kmsPort: 0, fcPort: -1 }],
  ] as const)(
    'refuses with a coded error naming %s',
    async (field, ports) => {
      const held = await occupy(0);
      const dir = await mkdtemp(join(tmpdir(), 'byok-ports-'));
      dirs.push(dir);
      const options = {
        stateDir: join(dir, 'state'),
        distDir: join(dir, 'dist'),
        sYamlPath: join(ROOT, 's.yaml'),
        kmsPort: ports.kmsPort === -1 ? held.port : 0,
        fcPort: ports.fcPort === -1 ? held.port : 0,
        fireTimers: false,
        log: () => {},
      };
      try {
        const err = await startLocalStack(options).then(
          async (s) => {
            await s.close();
            return undefined;
          },
          (e: unknown) => e,
        );
        expect(isOrchestratorError(err)).toBe(true);
        expect(err).toMatchObject({
          code: 'ERR_INVALID_CONFIG',
          message: `port ${held.port} on 127.0.0.1 is in use`,
          details: { field },
        });
      } finally {
        await held.close();
      }
    },
    30_000,
  );
});
