/**
 * `npm run kms-emulator -- --port <n> --access-key-id <id> --access-key-secret <secret>
 *   [--security-token <token>] [--state-file <path>] [--admin] [--region <id>] [--account-id <uid>]
 *   [--no-verify-timestamp] [--no-verify-nonce] [--kms-version 3|1]
 *   [--instance <id>:<software|hardware>[:no-shared-gateway][:keys=<n>][:secrets=<n>]]...
 *   [--default-instance <id>]`
 *
 * Starts the local KMS emulator on 127.0.0.1 and prints `listening on http://127.0.0.1:<port>`
 * when ready. SIGINT/SIGTERM close it cleanly (state flushed). Exit codes: 0 clean stop,
 * 2 bad command line, 1 failed to start.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_ACCOUNT_ID, DEFAULT_CREDENTIAL, DEFAULT_REGION, startKmsEmulator } from './index.js';
import type { EmulatorCredential, InstanceSpec, KmsEmulator } from './index.js';
import { parseInstanceFlag, validateInstanceId } from './instances.js';

const USAGE = `Local Alibaba Cloud KMS emulator (API 2016-01-20, signature v1)

Usage: npm run kms-emulator -- [options]

Options:
  --port <n>                 TCP port on 127.0.0.1 (0 = pick a free port; default 0)
  --access-key-id <id>       accepted AccessKey ID (default: ${DEFAULT_CREDENTIAL.accessKeyId})
  --access-key-secret <s>    its secret (default: see packages/kms-emulator/README.md)
  --security-token <token>   make the credential an STS credential requiring this SecurityToken
  --state-file <path>        persist state here (mode 0600; holds PLAINTEXT key material: keep private)
  --admin                    serve the /__emulator/ admin API (clock, faults, qps, state)
  --region <id>              region used in ARNs (default: ${DEFAULT_REGION})
  --account-id <uid>         account UID used in ARNs and Creator (default: ${DEFAULT_ACCOUNT_ID})
  --no-verify-timestamp      accept any request Timestamp (default: ±15 min of the real clock)
  --no-verify-nonce          accept reused SignatureNonce values
  --kms-version <3|1>        3 (default): KMS 3.0 with instances; 1: the shared KMS 1.0 model
  --instance <id>:<type>[:no-shared-gateway][:keys=<n>][:secrets=<n>]
                             declare a KMS 3.0 instance (repeatable); <id> like kst-hzz65f176a0ogplgqabcd,
                             <type> software or hardware; no-shared-gateway refuses crypto on its keys
                             through this (shared) endpoint; keys/secrets: the quantities bought
                             (KeyNum/SecretNum, default 1000 each)
  --default-instance <id>    KMS 3.0: CreateKey/CreateSecret without DKMSInstanceId go to this instance
  -h, --help                 show this help

Point the official SDK at it with: endpoint '127.0.0.1:<port>', protocol 'http'.
`;

/** Parsed command line. */
export interface CliOptions {
  port: number;
  credential: EmulatorCredential;
  defaultSecret: boolean;
  stateFile?: string;
  admin: boolean;
  region: string;
  accountId: string;
  verifyTimestamp: boolean;
  verifyNonce: boolean;
  kmsVersion: 1 | 3;
  instances: InstanceSpec[];
  defaultInstanceId?: string;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const OPTIONS = {
  port: { type: 'string' },
  'access-key-id': { type: 'string' },
  'access-key-secret': { type: 'string' },
  'security-token': { type: 'string' },
  'state-file': { type: 'string' },
  admin: { type: 'boolean' },
  region: { type: 'string' },
  'account-id': { type: 'string' },
  'no-verify-timestamp': { type: 'boolean' },
  'no-verify-nonce': { type: 'boolean' },
  'kms-version': { type: 'string' },
  instance: { type: 'string', multiple: true },
  'default-instance': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parseFlags(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
  } catch (err) {
    // parseArgs names the offending flag in its message (e.g. "Unknown option '--prot'")
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** Parses the flags (without starting anything); throws UsageError naming the flag at fault (exit 2). */
export function parseCommandLine(argv: string[]): CliOptions | 'help' {
  const v = parseFlags(argv).values;
  if (v.help === true) return 'help';
  const portText = v.port ?? '0';
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65_535) {
    throw new UsageError(`--port must be an integer from 0 to 65535 (got "${portText}")`);
  }
  const nonEmpty = (flag: string, value: string | undefined): string | undefined => {
    if (value !== undefined && value.trim() === '') throw new UsageError(`${flag} must not be empty`);
    return value;
  };
  const accessKeyId = nonEmpty('--access-key-id', v['access-key-id']) ?? DEFAULT_CREDENTIAL.accessKeyId;
  const secret = nonEmpty('--access-key-secret', v['access-key-secret']);
  const token = nonEmpty('--security-token', v['security-token']);
  const stateFile = nonEmpty('--state-file', v['state-file']);
  const region = nonEmpty('--region', v.region) ?? DEFAULT_REGION;
  const accountId = nonEmpty('--account-id', v['account-id']) ?? DEFAULT_ACCOUNT_ID;
  const versionText = v['kms-version'] ?? '3';
  if (versionText !== '3' && versionText !== '1')
    throw new UsageError(`--kms-version must be 3 or 1 (got "${versionText}")`);
  const kmsVersion = versionText === '3' ? 3 : 1;
  const instances: InstanceSpec[] = [];
  for (const text of v.instance ?? []) {
    try {
      instances.push(parseInstanceFlag(text));
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
  }
  const defaultInstance = nonEmpty('--default-instance', v['default-instance']);
  if (kmsVersion === 1 && (instances.length > 0 || defaultInstance !== undefined)) {
    throw new UsageError('--instance and --default-instance need --kms-version 3 (KMS 1.0 has no instances)');
  }
  if (defaultInstance !== undefined) {
    try {
      validateInstanceId(defaultInstance, '--default-instance');
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
  }
  const credential: EmulatorCredential = { accessKeyId, accessKeySecret: secret ?? DEFAULT_CREDENTIAL.accessKeySecret };
  if (token !== undefined) credential.securityToken = token;
  const options: CliOptions = {
    port: Number(portText),
    credential,
    defaultSecret: secret === undefined,
    admin: v.admin === true,
    region,
    accountId,
    verifyTimestamp: v['no-verify-timestamp'] !== true,
    verifyNonce: v['no-verify-nonce'] !== true,
    kmsVersion,
    instances,
  };
  if (stateFile !== undefined) options.stateFile = stateFile;
  if (defaultInstance !== undefined) options.defaultInstanceId = defaultInstance;
  return options;
}

function formatInstances(options: CliOptions): string {
  if (options.instances.length === 0) return 'none declared';
  return options.instances
    .map(
      (i) =>
        `${i.id} (${i.type}${i.sharedGateway === false ? ', no shared gateway' : ''}` +
        `${i.keyQuota === undefined ? '' : `, key quota ${i.keyQuota}`}` +
        `${i.secretQuota === undefined ? '' : `, secret quota ${i.secretQuota}`}` +
        `${i.id === options.defaultInstanceId ? ', default' : ''})`,
    )
    .join(', ');
}

async function main(): Promise<number> {
  let options: CliOptions | 'help';
  try {
    options = parseCommandLine(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`kms-emulator: ${err.message}\nRun with --help for usage.\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  let emulator: KmsEmulator;
  try {
    emulator = await startKmsEmulator({
      port: options.port,
      credentials: [options.credential],
      admin: options.admin,
      region: options.region,
      accountId: options.accountId,
      verifyTimestamp: options.verifyTimestamp,
      verifyNonce: options.verifyNonce,
      kmsVersion: options.kmsVersion,
      instances: options.instances,
      ...(options.defaultInstanceId === undefined ? {} : { defaultInstanceId: options.defaultInstanceId }),
      log: (line) => process.stdout.write(`${line}\n`),
      ...(options.stateFile === undefined ? {} : { stateFile: options.stateFile }),
    });
  } catch (err) {
    const what = err instanceof Error ? err.message : String(err);
    process.stderr.write(`kms-emulator: failed to start: ${what}\n`);
    return 1;
  }
  const secretNote = options.defaultSecret ? 'secret: see README' : 'secret: as given with --access-key-secret';
  const sts = options.credential.securityToken === undefined ? '' : ', STS token required';
  process.stdout.write(
    `access key id: ${options.credential.accessKeyId} (${secretNote}${sts}); region ${options.region}; ` +
      `state: ${options.stateFile ?? 'memory only'}; admin API: ${options.admin ? 'on' : 'off'}; ` +
      `KMS ${options.kmsVersion === 3 ? '3.0' : '1.0'}` +
      `${options.kmsVersion === 3 ? `; instances: ${formatInstances(options)}` : ''}\n`,
  );
  await new Promise<void>((resolve) => {
    let stopping = false;
    // `on`, not `once`: a process-group signal plus a runner's relay (npx/tsx) can deliver the
    // same signal twice, and the second must not kill the process before the state is flushed.
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      process.stdout.write(`kms-emulator: ${signal} received, closing\n`);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await emulator.close();
  return 0;
}

// Started as a program (`tsx src/cli.ts`; Node makes argv[1] absolute), not imported by a test
// that checks parseCommandLine in-process.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`kms-emulator: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
