/**
 * The local stack behind `npm start` and the end-to-end tests: the KMS emulator (state in a local
 * folder, so a restart keeps keys), a local FC host running the esbuild bundles from s.yaml with
 * FC-shaped events and STS-like credentials the emulator accepts, and a demo lineage.
 *
 * Local-only wiring (never deployed): the functions get the emulator as their KMS endpoint, the
 * file escrow backend, file+stdout audit, and BYOK_LOCAL_TIME_URL so they share the emulator's
 * (possibly accelerated) clock.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { startKmsEmulator, type KmsEmulator } from '@byok/kms-emulator';
import { readSYaml, startFcHost, type FcHost } from '@byok/fc-local-host';
import { buildEngineDeps, buildKms } from '../../shared/bootstrap.js';
import { onboard } from '../../shared/lifecycle/engine.js';
import { parseConfig } from '../../shared/config/index.js';
import { systemRandom } from '../../shared/system.js';
import { startAlertReceiver, type AlertReceiver } from './alert-receiver.js';
import { localReportPage } from './report-page.js';
import { CLI_ENV_FILE } from './state-dir.js';
import { ErrorCode, OrchestratorError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { KmsPort } from '../../shared/kms/port.js';

/** Options of the local stack. */
export interface LocalStackOptions {
  /** Folder for emulator state, escrow, audit files and local secrets (default `.local`). */
  stateDir: string;
  /** Folder holding the built bundles (`<distDir>/<fn>/index.js`). */
  distDir: string;
  /** The s.yaml to run. */
  sYamlPath: string;
  kmsPort?: number;
  fcPort?: number;
  /** Port of the local alert receiver (default: any free port). */
  alertPort?: number;
  /** Clock speed for demos: 3600 makes an hour pass each second (timers and KMS expiry follow). */
  speed?: number;
  /** Fire timer triggers on their schedule (default true). */
  fireTimers?: boolean;
  log?: (line: string) => void;
  /** More variables for the functions and the CLI (e.g. the demo policy of `npm start --speed`). */
  env?: Record<string, string>;
}

/** A running local stack. */
export interface LocalStack {
  emu: KmsEmulator;
  host: FcHost;
  /** Credentials of the local operator (emulator and FC invoke API). */
  operator: { accessKeyId: string; accessKeySecret: string };
  escrowKeyId: string;
  /** Environment for the CLI (direct mode) against this stack. */
  cliEnv: Record<string, string>;
  /** Webhook secrets (kept in `<stateDir>/secrets.json`, mode 0600). */
  secrets: { webhookHmac: string; webhookToken: string; alertHmac: string };
  /** The local alert receiver every sweep and check sends its alerts to (BYOK_ALERT_WEBHOOK_URL). */
  alerts: AlertReceiver;
  /** The HTML report page (as `ops --local report --html`), served by the alert receiver at /report. */
  reportUrl: string;
  functionNames: { sweep: string; webhook: string; ops: string };
  projectName: string;
  close(): Promise<void>;
}

/**
 * The local stack models KMS 3.0 as a current account has it: managed keys in one software key
 * management instance (shared-gateway access on, so the functions' self-test can Encrypt), and the
 * escrow/lease CMK with the lease and webhook secrets in a second instance, so releasing one never
 * takes the keys and their escrow together.
 */
export const LOCAL_INSTANCES = { keys: 'kst-loc00000000keys0001', escrow: 'kst-loc00000000escrow01' } as const;

/** Local operator credentials (the README documents them; local development only). */
export const LOCAL_OPERATOR = { accessKeyId: 'local-ak', accessKeySecret: 'local-secret' };

async function loadOrCreateSecrets(stateDir: string): Promise<LocalStack['secrets']> {
  const file = join(stateDir, 'secrets.json');
  let stored: Partial<LocalStack['secrets']> = {};
  try {
    stored = JSON.parse(await readFile(file, 'utf8')) as Partial<LocalStack['secrets']>;
  } catch {
    stored = {};
  }
  const fresh = () => randomBytes(24).toString('base64url');
  const secrets = {
    webhookHmac: stored.webhookHmac ?? fresh(),
    webhookToken: stored.webhookToken ?? fresh(),
    // Added with the alert webhook: a state dir from before gets one now.
    alertHmac: stored.alertHmac ?? fresh(),
  };
  if (stored.alertHmac === undefined) await writeFile(file, JSON.stringify(secrets), { mode: 0o600 });
  return secrets;
}

/** The operator's KMS client for the emulator (used to prepare the stack, not by the functions). */
function operatorKms(endpoint: string): KmsPort {
  const config = parseConfig({
    BYOK_REGION: 'cn-hangzhou',
    BYOK_KMS_ENDPOINT: endpoint,
    BYOK_KMS_PROTOCOL: 'http',
    BYOK_KMS_INSTANCE_ID: LOCAL_INSTANCES.keys,
    BYOK_ESCROW_BACKEND: 'file',
    BYOK_ESCROW_DIR: '/unused',
    BYOK_ESCROW_MASTER_KEY_FILE: '/unused',
    BYOK_LEASE_KEY_ID: 'unused',
  });
  return buildKms(config, () => LOCAL_OPERATOR, systemRandom);
}

/** Finds the local escrow CMK (tag byok:escrow=true) or creates it. */
async function ensureEscrowKey(kms: KmsPort): Promise<string> {
  for (const id of await kms.listKeys()) {
    const tags = await kms.listResourceTags(id);
    if (tags['byok:escrow'] === 'true') return id;
  }
  const key = await kms.createKey({
    origin: 'Aliyun_KMS',
    keySpec: 'Aliyun_AES_256',
    description: 'byok-orchestrator escrow and lease CMK (local stack)',
    dkmsInstanceId: LOCAL_INSTANCES.escrow,
  });
  await kms.tagResource(key.keyId, { 'byok:escrow': 'true' });
  return key.keyId;
}

/** Secret names the deployed functions read (s.yaml vars webhookSecretName / webhookUrlTokenName). */
export const WEBHOOK_SECRET_NAMES = { hmac: 'byok-webhook-hmac', token: 'byok-webhook-url-token' } as const;

/** Stores the local webhook secrets in the emulator's Secrets Manager (idempotent). */
async function ensureWebhookSecrets(kms: KmsPort, escrowKeyId: string, secrets: LocalStack['secrets']): Promise<void> {
  const existing = new Set((await kms.listSecrets()).map((x) => x.secretName));
  for (const [name, value] of [
    [WEBHOOK_SECRET_NAMES.hmac, secrets.webhookHmac],
    [WEBHOOK_SECRET_NAMES.token, secrets.webhookToken],
  ] as const) {
    if (!existing.has(name)) {
      await kms.createSecret({
        secretName: name,
        versionId: 'v1',
        secretData: value,
        encryptionKeyId: escrowKeyId,
        description: 'byok-orchestrator webhook secret (local stack)',
        dkmsInstanceId: LOCAL_INSTANCES.escrow,
      });
    }
  }
}

/**
 * Runs `start` (a server's start on `port`), turning "address in use" into a coded error naming the
 * option (`details.field`: kmsPort, fcPort or alertPort) so the caller can say which flag to pass.
 */
async function portCheck<T>(field: string, port: number | undefined, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    throw new OrchestratorError(ErrorCode.InvalidConfig, `port ${port} on 127.0.0.1 is in use`, {
      details: { field },
    });
  }
}

/** Writes `<stateDir>/cli.env`: the settings `npm run ops -- --local` and `npm run local:webhook` read. */
export async function writeCliEnvFile(stateDir: string, cliEnv: Record<string, string>): Promise<string> {
  const file = join(stateDir, CLI_ENV_FILE);
  const text = Object.entries(cliEnv)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
  await writeFile(file, `${text}\n`, { mode: 0o600 });
  return file;
}

/** Starts the emulator, the FC host and wires them; does not build or seed. */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const stateDir = resolve(options.stateDir);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const secrets = await loadOrCreateSecrets(stateDir);
  // STS-like credentials for the functions, as FC hands them out (docs/fc-runtime.md §2.3).
  const sts = {
    accessKeyId: `STS.local${randomBytes(6).toString('hex')}`,
    accessKeySecret: randomBytes(18).toString('base64url'),
    securityToken: randomBytes(32).toString('base64url'),
  };
  const emu = await portCheck('kmsPort', options.kmsPort, () =>
    startKmsEmulator({
      port: options.kmsPort ?? 0,
      credentials: [LOCAL_OPERATOR, sts],
      stateFile: join(stateDir, 'kms-state.json'),
      // Demo speed is the emulator's own: its clock moves continuously (the functions follow it).
      speed: options.speed ?? 1,
      admin: true,
      kmsVersion: 3,
      instances: [
        { id: LOCAL_INSTANCES.keys, type: 'software', sharedGateway: true },
        { id: LOCAL_INSTANCES.escrow, type: 'software', sharedGateway: true },
      ],
      log: (line) => log(`[kms] ${line}`),
    }),
  );
  let host: FcHost | undefined;
  let ticker: NodeJS.Timeout | undefined;
  let alerts: AlertReceiver | undefined;
  // Set once the CLI environment is known (below); the receiver serves it at /report.
  let reportPage: (() => Promise<string>) | undefined;
  try {
    alerts = await portCheck('alertPort', options.alertPort, () =>
      startAlertReceiver({
        ...(options.alertPort === undefined ? {} : { port: options.alertPort }),
        secret: secrets.alertHmac,
        onAlert: (a) => {
          for (const line of a.text.split('\n')) log(`[alert] ${line}`);
        },
        pages: { '/report': () => (reportPage ? reportPage() : Promise.reject(new Error('stack starting'))) },
      }),
    );
    const kms = operatorKms(emu.endpoint);
    const escrowKeyId = await ensureEscrowKey(kms);
    // As in the cloud, the webhook reads its secrets from KMS Secrets Manager by name (s.yaml).
    await ensureWebhookSecrets(kms, escrowKeyId, secrets);
    const common: Record<string, string> = {
      BYOK_KMS_ENDPOINT: emu.endpoint,
      BYOK_KMS_PROTOCOL: 'http',
      BYOK_KMS_INSTANCE_ID: LOCAL_INSTANCES.keys,
      BYOK_ESCROW_INSTANCE_ID: LOCAL_INSTANCES.escrow,
      BYOK_ESCROW_BACKEND: 'file',
      BYOK_ESCROW_DIR: join(stateDir, 'escrow'),
      BYOK_ESCROW_MASTER_KEY_FILE: join(stateDir, 'escrow-master.key'),
      BYOK_LEASE_KEY_ID: escrowKeyId,
      BYOK_AUDIT_SINK: 'stdout',
      BYOK_LOCAL_TIME_URL: `${emu.url}/__emulator/state`,
      // Every sweep and check (functions and CLI) sends its alerts to the local receiver.
      BYOK_ALERT_WEBHOOK_URL: alerts.url,
      BYOK_ALERT_WEBHOOK_FORMAT: 'generic',
      BYOK_ALERT_WEBHOOK_SECRET: secrets.alertHmac,
      ...options.env,
    };
    const env = {
      BYOK_ESCROW_KEY_ID: escrowKeyId,
      BYOK_KMS_INSTANCE_ID: LOCAL_INSTANCES.keys,
      BYOK_ESCROW_INSTANCE_ID: LOCAL_INSTANCES.escrow,
    };
    const project = readSYaml(options.sYamlPath, {
      distDir: options.distDir,
      env,
      config: { AccountID: '1234567890123456' },
      envOverrides: common,
    });
    // Local secrets are given as values, not KMS secret names.
    const functions = project.functions.map((f) => {
      const e: Record<string, string> = {
        ...f.env,
        BYOK_AUDIT_FILE: join(stateDir, `audit-${f.name}.jsonl`),
        BYOK_AUDIT_SINK: 'both',
      };
      delete e.BYOK_ESCROW_KEY_ID;
      return { ...f, env: e };
    });
    const speed = options.speed ?? 1;
    host = await portCheck('fcPort', options.fcPort, () =>
      startFcHost({
        functions,
        port: options.fcPort ?? 0,
        accountId: '1234567890123456',
        region: 'cn-hangzhou',
        credentials: () => sts,
        invokeCredentials: [LOCAL_OPERATOR],
        // The sweep's coordinator invokes its shards through the FC API with the function's own
        // credentials (deployed: the function role's fc:InvokeFunction on itself).
        acceptFunctionCredentials: true,
        endpointEnv: 'BYOK_FC_ENDPOINT',
        timeScale: speed,
        // Timers fire on the emulator's clock (also after a restart, when it is ahead of real time).
        startAtMs: emu.clock.nowMs?.() ?? emu.clock.nowUnix() * 1000,
        fireTimers: options.fireTimers ?? true,
        fc2ServiceNames: [project.projectName],
        log: (line) => log(`[fc] ${line}`),
      }),
    );
    if (speed > 1) {
      // The emulator clock runs at demo speed by itself (continuously); save the time it reached
      // now and then, so a crash does not lose it (a clean close saves it too).
      ticker = setInterval(() => emu.clock.set((emu.clock.nowMs?.() ?? emu.clock.nowUnix() * 1000) / 1000), 5_000);
      ticker.unref();
    }
    const byRole = (needle: string) => functions.find((f) => f.name.endsWith(needle))?.name ?? needle;
    const functionNames = { sweep: byRole('sweep'), webhook: byRole('webhook'), ops: byRole('ops') };
    const cliEnv: Record<string, string> = {
      ALIBABA_CLOUD_ACCESS_KEY_ID: LOCAL_OPERATOR.accessKeyId,
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: LOCAL_OPERATOR.accessKeySecret,
      BYOK_REGION: 'cn-hangzhou',
      ...common,
      BYOK_AUDIT_SINK: 'file',
      BYOK_AUDIT_FILE: join(stateDir, 'audit-cli.jsonl'),
      // As the functions have them, so `doctor` checks the webhook secrets too.
      BYOK_WEBHOOK_SECRET_NAME: WEBHOOK_SECRET_NAMES.hmac,
      BYOK_WEBHOOK_URL_TOKEN_NAME: WEBHOOK_SECRET_NAMES.token,
    };
    // Remote mode against the local FC host.
    Object.assign(cliEnv, {
      BYOK_FC_ENDPOINT: host.url,
      BYOK_FC_ACCOUNT_ID: '1234567890123456',
      BYOK_OPS_FUNCTION: byRole('ops'),
      BYOK_FC2_SERVICE: project.projectName,
    });
    const stackEnv = cliEnv;
    reportPage = () =>
      localReportPage({
        cliEnv: stackEnv,
        operator: LOCAL_OPERATOR,
        stateDir,
        nowMs: () => emu.clock.nowMs?.() ?? emu.clock.nowUnix() * 1000,
      }).catch((err: unknown) => {
        const e = err as { code?: unknown; message?: unknown };
        log(`[report] the page could not be built: ${String(e.code ?? 'error')}: ${String(e.message ?? err)}`);
        throw err;
      });
    const h = host;
    const receiver = alerts;
    return {
      emu,
      host: h,
      operator: LOCAL_OPERATOR,
      escrowKeyId,
      cliEnv,
      secrets,
      alerts: receiver,
      reportUrl: `${receiver.origin}/report`,
      functionNames,
      projectName: project.projectName,
      close: async () => {
        if (ticker) clearInterval(ticker);
        await h.close();
        await emu.close();
        await receiver.close();
      },
    };
  } catch (err) {
    if (ticker) clearInterval(ticker);
    await host?.close();
    await emu.close();
    await alerts?.close();
    throw err;
  }
}

/**
 * Onboards a lineage through the engine in-process (idempotent), on the emulator's clock; the
 * engine's diagnostics go to `log` (default: none).
 */
export async function seedLineage(
  stack: LocalStack,
  alias: string,
  actorId = 'npm-start',
  log?: Logger,
): Promise<{ keyId: string; created: boolean }> {
  const deps = await buildEngineDeps({
    config: parseConfig(stack.cliEnv),
    credentials: () => stack.operator,
    actor: { kind: 'operator', id: actorId },
    clock: { nowMs: () => stack.emu.clock.nowUnix() * 1000 },
    ...(log ? { log } : {}),
  });
  try {
    const r = await onboard(deps, { alias });
    return { keyId: r.keyId, created: r.created };
  } finally {
    await deps.close();
  }
}
