import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { $Kms, expectKmsError, sdkClient, signedCall } from './helpers.js';
import type { KmsEmulator } from '@byok/kms-emulator';
import { parseCommandLine, UsageError } from '../../../packages/kms-emulator/src/cli.js';
import { tsxCommand } from '../../support/tsx.js';

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
function runCli(
  args: string[],
  via: 'npx' | 'tsx' = 'npx',
): { child: ChildProcess; output: () => string; closed: Promise<void> } {
  // The main test goes through `npx tsx` exactly as documented; the others load tsx into one node
  // process (test/support/tsx.ts) to save npx's and the tsx binary's start-up time.
  const script = 'packages/kms-emulator/src/cli.ts';
  const [command, argv] = via === 'npx' ? ['npx', ['tsx', script, ...args]] : tsxCommand(script, args);
  const child = spawn(command, argv, {
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
    const cli = runCli([
      '--port',
      '0',
      '--access-key-id',
      'cli-ak',
      '--access-key-secret',
      'cli-secret-value',
      '--state-file',
      stateFile,
    ]);
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

describe('npm run kms-emulator: KMS 3.0 flags', () => {
  const HARD = 'kst-hzz65f176a0clihard0001';
  const SOFT = 'kst-hzz65f176a0clisoft0001';
  const exitOf = (run: ReturnType<typeof runCli>) =>
    new Promise<number | null>((resolve) => run.child.on('exit', (code) => resolve(code)));

  it('declares instances (--instance, repeatable) and a default instance; KMS 3.0 is the default', async () => {
    const cli = runCli(
      [
        '--port',
        '0',
        '--instance',
        `${HARD}:hardware:no-shared-gateway`,
        '--instance',
        `${SOFT}:software:keys=1:secrets=4000`,
        '--default-instance',
        HARD,
      ],
      'tsx',
    );
    const [, port] = await waitFor(cli.output, /listening on http:\/\/127\.0\.0\.1:(\d+)/);
    await waitFor(cli.output, /KMS 3\.0; instances: /);
    expect(cli.output()).toContain(
      `instances: ${HARD} (hardware, no shared gateway, default), ${SOFT} (software, key quota 1, secret quota 4000)`,
    );
    const emu = { port: Number(port), endpoint: `127.0.0.1:${port}` } as KmsEmulator;
    const kms = sdkClient(emu);
    // lands in the default instance
    const keyId = (await kms.createKey(new $Kms.CreateKeyRequest({}))).keyMetadata.keyId;
    const described = await signedCall(emu, 'DescribeKey', { KeyId: keyId });
    expect(described.body['KeyMetadata']).toMatchObject({ DKMSInstanceId: HARD, ProtectionLevel: 'HSM' });
    await expectKmsError(
      kms.encrypt(new $Kms.EncryptRequest({ keyId, plaintext: 'x' })),
      'Forbidden.NoPermission',
      403,
    );
    const soft = await signedCall(emu, 'CreateKey', { DKMSInstanceId: SOFT });
    expect(soft.body['KeyMetadata']).toMatchObject({ DKMSInstanceId: SOFT, ProtectionLevel: 'SOFTWARE' });
    // keys=1: the instance's key quantity is used up
    const spec = (await signedCall(emu, 'GetKmsInstance', { KmsInstanceId: SOFT })).body['KmsInstance'];
    expect(spec).toMatchObject({ KeyNum: 1, SecretNum: '4000' });
    const full = await signedCall(emu, 'CreateKey', { DKMSInstanceId: SOFT });
    expect([full.status, full.body['Code']]).toEqual([400, 'Rejected.ShareQuotaExceedLimit']);
    const listed = await signedCall(emu, 'ListKmsInstances');
    expect(listed.body['TotalCount']).toBe(2);
    process.kill(-cli.child.pid!, 'SIGTERM');
    await cli.closed;
  });

  it('--kms-version 1 keeps the shared KMS 1.0 model (many keys without an instance)', async () => {
    const cli = runCli(['--port', '0', '--kms-version', '1'], 'tsx');
    const [, port] = await waitFor(cli.output, /listening on http:\/\/127\.0\.0\.1:(\d+)/);
    await waitFor(cli.output, /KMS 1\.0/);
    const kms = sdkClient({ endpoint: `127.0.0.1:${port}` } as KmsEmulator);
    for (let i = 0; i < 3; i += 1) await kms.createKey(new $Kms.CreateKeyRequest({}));
    expect((await kms.listKeys(new $Kms.ListKeysRequest({}))).totalCount).toBe(3);
    process.kill(-cli.child.pid!, 'SIGTERM');
    await cli.closed;
  });

  it('names bad KMS 3.0 flags and exits 2 (an undeclared default instance fails the start: exit 1)', async () => {
    const cases: Array<[string[], number, string]> = [
      [['--kms-version', '2'], 2, '--kms-version must be 3 or 1'],
      [['--instance', 'kst-bad:software'], 2, 'KMS instance id like kst-'],
      [['--instance', `${SOFT}:cloud`], 2, 'the type must be "software" or "hardware"'],
      [['--instance', `${SOFT}:software:private`], 2, 'no-shared-gateway'],
      [['--instance', `${SOFT}:software:keys=0`], 2, 'keys= must be an integer from 1'],
      [['--instance', SOFT], 2, '--instance must be <id>:<software|hardware>'],
      [['--kms-version', '1', '--instance', `${SOFT}:software`], 2, 'need --kms-version 3'],
      [['--default-instance', 'nope'], 2, '--default-instance must be a KMS instance id'],
      [
        ['--instance', `${SOFT}:software`, '--default-instance', HARD],
        1,
        `defaultInstanceId ${HARD} is not a declared`,
      ],
    ];
    // Every exit-2 case is a UsageError of parseCommandLine, which main() turns into exit 2 (shown
    // for the first case and for --prot above): checked in-process, without a process each.
    for (const [args, , message] of cases.filter(([, code]) => code === 2)) {
      let thrown: unknown;
      try {
        parseCommandLine(args);
      } catch (err) {
        thrown = err;
      }
      expect([args, thrown instanceof UsageError, (thrown as Error | undefined)?.message]).toEqual([
        args,
        true,
        expect.stringContaining(message),
      ]);
    }
    const spawned = [cases[0]!, ...cases.filter(([, code]) => code !== 2)];
    const runs = spawned.map(([args]) => runCli(args, 'tsx'));
    const codes = await Promise.all(runs.map(exitOf));
    await Promise.all(runs.map((r) => r.closed));
    for (const [i, [, code, message]] of spawned.entries()) {
      expect([codes[i], runs[i]!.output()]).toEqual([code, expect.stringContaining(message)]);
    }
  });
});
