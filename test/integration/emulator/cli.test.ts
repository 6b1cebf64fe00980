import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { $Kms, expectKmsError, sdkClient } from './helpers.js';
import type { KmsEmulator } from '../../../scripts/local/kms/index.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'kms-emu-cli-'));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const child of children) {
    // npx does not forward signals: clean up the whole process group we started, if still alive
    if (child.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

/** Spawns the CLI through npx in its own process group; collects output until all stdio closes. */
function runCli(args: string[], via: 'npx' | 'tsx' = 'npx'): { child: ChildProcess; output: () => string; closed: Promise<void> } {
  // The main test goes through `npx tsx` exactly as documented; the others call the tsx binary
  // directly to save npx's start-up time.
  const [command, prefix] = via === 'npx' ? ['npx', ['tsx']] : [join(ROOT, 'node_modules', '.bin', 'tsx'), []];
  const child = spawn(command, [...prefix, 'scripts/local/kms-emulator-cli.ts', ...args], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let text = '';
  child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return { child, output: () => text, closed };
}

async function waitFor(output: () => string, pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(output());
    if (match !== null) return match;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; output so far:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function portIsClosed(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', () => resolve(true));
  });
}

describe('npm run kms-emulator', () => {
  it('listens on 127.0.0.1, serves the official SDK, and closes cleanly on SIGTERM', async () => {
    const stateFile = join(dir, 'cli-state.json');
    const cli = runCli(['--port', '0', '--access-key-id', 'cli-ak', '--access-key-secret', 'cli-secret-value', '--state-file', stateFile]);
    const [, port] = await waitFor(cli.output, /listening on http:\/\/127\.0\.0\.1:(\d+)/);
    const emu = { endpoint: `127.0.0.1:${port}` } as KmsEmulator;
    const kms = sdkClient(emu, { accessKeyId: 'cli-ak', accessKeySecret: 'cli-secret-value' });
    const created = await kms.createKey(new $Kms.CreateKeyRequest({ origin: 'EXTERNAL' }));
    expect(created.keyMetadata.keyState).toBe('PendingImport');
    await expectKmsError(sdkClient(emu).listKeys(new $Kms.ListKeysRequest({})), 'InvalidAccessKeyId.NotFound', 404);

    process.kill(-cli.child.pid!, 'SIGTERM');
    await cli.closed;
    expect(cli.output()).toContain('kms-emulator stopped');
    expect(cli.output()).toContain('access key id: cli-ak');
    expect(cli.output()).not.toContain('cli-secret-value');
    expect(await portIsClosed(Number(port))).toBe(true);
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
  });

  it('prints the default access key id but not the default secret', async () => {
    const cli = runCli(['--port', '0'], 'tsx');
    await waitFor(cli.output, /listening on http:\/\/127\.0\.0\.1:\d+/);
    await waitFor(cli.output, /access key id: local-ak \(secret: see README\)/);
    expect(cli.output()).not.toContain('local-secret');
    process.kill(-cli.child.pid!, 'SIGINT');
    await cli.closed;
    expect(cli.output()).toContain('kms-emulator stopped');
  });

  it('names a bad flag and exits 2; --help prints usage and exits 0', async () => {
    const exitCode = (run: ReturnType<typeof runCli>) =>
      new Promise<number | null>((resolve) => run.child.on('exit', (code) => resolve(code)));
    const bad = runCli(['--prot', '1'], 'tsx');
    const help = runCli(['--help'], 'tsx');
    const [badCode, helpCode] = await Promise.all([exitCode(bad), exitCode(help)]);
    await Promise.all([bad.closed, help.closed]);
    expect(badCode).toBe(2);
    expect(bad.output()).toContain("'--prot'");
    expect(helpCode).toBe(0);
    expect(help.output()).toContain('--access-key-secret');
  });
});
