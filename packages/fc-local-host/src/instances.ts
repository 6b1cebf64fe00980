/**
 * Instances of one function: each is a worker_thread running instance-worker.cjs, serving one
 * request at a time (FC 3.0 built-in runtimes have no instance concurrency, docs/fc-runtime.md §1.1),
 * so concurrent calls get concurrent instances, as in FC. A worker gives each instance its own
 * module registry and its own process.env (the function's environmentVariables never leak into the
 * host or another function), and lets the host really stop a handler that runs past its timeout.
 */
import { Worker } from 'node:worker_threads';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { FcErrorType, FunctionSpec, StsCredentials } from './types.js';
import { FcErrorType as FcErrorTypes } from './types.js';

const WORKER_FILE = fileURLToPath(new URL('./instance-worker.cjs', import.meta.url));

/** Plain-data part of the FC context (§2.3); the worker adds `logger` and tracing helpers. */
export interface ContextData {
  requestId: string;
  credentials: StsCredentials;
  function: { name: string; handler: string; memory: number; timeout: number };
  service: { logProject: string; logStore: string; qualifier: string; versionId: string };
  region: string;
  accountId: string;
  tracing: { spanContext: string; jaegerEndpoint: string; spanBaggages: Record<string, string> };
}

/** What an instance returned. */
export type RawOutcome =
  | { kind: 'ok'; body: Buffer }
  | { kind: 'error'; fcErrorType: FcErrorType; errorType: string; errorMessage: string };

/** Settings shared by every instance of the host. */
export interface InstanceSettings {
  accountId: string;
  region: string;
  /** Read when an instance starts: FC exposes the role's STS credentials as env vars too (§5.3). */
  credentials: () => StsCredentials;
  output: (line: string) => void;
  /** Added last to every instance's environment (read when the instance starts). */
  hostEnv?: () => Record<string, string>;
}

interface WorkerResult {
  type: 'result';
  id: string;
  kind: 'ok' | 'error';
  body?: Uint8Array;
  fcErrorType?: FcErrorType;
  errorType?: string;
  errorMessage?: string;
}

class Instance {
  readonly worker: Worker;
  private pending: { id: string; settle: (o: RawOutcome) => void } | undefined;
  dead = false;

  constructor(spec: FunctionSpec, settings: InstanceSettings) {
    const creds = settings.credentials();
    const instanceId = randomUUID();
    // The env of an FC nodejs20 instance (§5.3), then the function's environmentVariables.
    // Deliberately not the host's env: a developer's own ALIBABA_CLOUD_* keys must not leak in.
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
      FC_RUNTIME: 'nodejs20',
      FC_FUNCTION_NAME: spec.name,
      FC_FUNCTION_HANDLER: spec.handler,
      FC_FUNCTION_MEMORY_SIZE: String(spec.memoryMB),
      FC_TIMEOUT: String(spec.timeoutSeconds),
      FC_FUNC_CODE_PATH: spec.bundleDir,
      FC_REGION: settings.region,
      FC_ACCOUNT_ID: settings.accountId,
      FC_INSTANCE_ID: instanceId,
      ALIBABA_CLOUD_ACCESS_KEY_ID: creds.accessKeyId,
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: creds.accessKeySecret,
      ALIBABA_CLOUD_SECURITY_TOKEN: creds.securityToken,
      ...spec.env,
      ...settings.hostEnv?.(),
    };
    this.worker = new Worker(WORKER_FILE, {
      workerData: { bundleDir: spec.bundleDir, handler: spec.handler },
      env,
      // Bundles are plain CommonJS: keep the host's loaders (tsx, vitest) out of the instance.
      execArgv: [],
      stdout: true,
      stderr: true,
      // memorySize as the instance's heap limit: a leak ends in an OOM error, not a host crash.
      resourceLimits: { maxOldGenerationSizeMb: Math.max(64, spec.memoryMB) },
    });
    pipeLines(this.worker.stdout, settings.output);
    pipeLines(this.worker.stderr, settings.output);
    this.worker.on('message', (msg: WorkerResult) => {
      if (msg?.type !== 'result' || this.pending?.id !== msg.id) return;
      const { settle } = this.pending;
      this.pending = undefined;
      if (msg.kind === 'ok') settle({ kind: 'ok', body: Buffer.from(msg.body ?? new Uint8Array(0)) });
      else
        settle({
          kind: 'error',
          fcErrorType: msg.fcErrorType ?? FcErrorTypes.Unhandled,
          errorType: msg.errorType ?? 'Error',
          errorMessage: msg.errorMessage ?? '',
        });
    });
    // An exception escaping the handler (e.g. thrown in a timer callback) kills the instance.
    this.worker.on('error', (err: Error & { code?: string }) => {
      const oom = err.code === 'ERR_WORKER_OUT_OF_MEMORY';
      this.fail(
        oom ? 'FunctionOOMError' : err.name || 'Error',
        oom ? `Function ran out of memory (${spec.memoryMB} MB)` : err.message,
      );
    });
    this.worker.on('exit', () => this.fail('InstanceExitedError', 'the function instance exited'));
  }

  run(event: Buffer, context: ContextData): Promise<RawOutcome> {
    return new Promise<RawOutcome>((resolve) => {
      const id = randomUUID();
      this.pending = { id, settle: resolve };
      this.worker.postMessage({ type: 'invoke', id, event: new Uint8Array(event), context });
    });
  }

  /** Ends the pending invocation with an error and marks the instance unusable. */
  fail(errorType: string, errorMessage: string): void {
    this.dead = true;
    const pending = this.pending;
    this.pending = undefined;
    pending?.settle({ kind: 'error', fcErrorType: FcErrorTypes.Unhandled, errorType, errorMessage });
  }

  async terminate(): Promise<void> {
    this.dead = true;
    await this.worker.terminate();
  }
}

function pipeLines(stream: Readable | null, sink: (line: string) => void): void {
  if (stream === null) return;
  createInterface({ input: stream, crlfDelay: Infinity }).on('line', sink);
}

/** The instance pool of one function. */
export class FunctionInstances {
  private readonly idle: Instance[] = [];
  private readonly all = new Set<Instance>();
  private closed = false;

  constructor(
    readonly spec: FunctionSpec,
    private readonly settings: InstanceSettings,
  ) {}

  /** Runs one invocation on an idle (or new) instance, enforcing the function timeout. */
  async run(event: Buffer, context: ContextData): Promise<RawOutcome> {
    if (this.closed) return hostClosed();
    const instance = this.takeIdle() ?? this.spawn();
    const timeoutMs = this.spec.timeoutSeconds * 1000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<RawOutcome>((resolve) => {
      timer = setTimeout(() => {
        // FC stops the instance on timeout; the next call cold-starts a new one. The errorType
        // mirrors the SLS field value FunctionTimeoutError (§8.1); the message wording is inferred.
        instance.fail('FunctionTimeoutError', `Function timed out after ${this.spec.timeoutSeconds} seconds`);
        resolve({
          kind: 'error',
          fcErrorType: FcErrorTypes.Unhandled,
          errorType: 'FunctionTimeoutError',
          errorMessage: `Function timed out after ${this.spec.timeoutSeconds} seconds`,
        });
      }, timeoutMs);
    });
    try {
      const outcome = await Promise.race([instance.run(event, context), timedOut]);
      const dropInstance = outcome.kind === 'error' && outcome.fcErrorType === FcErrorTypes.Initialization;
      if (instance.dead || dropInstance || this.closed) void this.discard(instance);
      else this.idle.push(instance);
      return outcome;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Terminates every instance; in-flight invocations end with an error. */
  async drain(): Promise<void> {
    const instances = [...this.all];
    this.idle.length = 0;
    for (const i of instances) i.fail('HostClosedError', 'the local FC host is shutting down');
    await Promise.all(instances.map((i) => this.discard(i)));
  }

  /** Stops accepting work and terminates every instance. */
  async close(): Promise<void> {
    this.closed = true;
    await this.drain();
  }

  /** An idle instance that is still alive (one may have died while idle, e.g. a stray throw). */
  private takeIdle(): Instance | undefined {
    for (let i = this.idle.pop(); i !== undefined; i = this.idle.pop()) {
      if (!i.dead) return i;
      void this.discard(i);
    }
    return undefined;
  }

  private spawn(): Instance {
    const instance = new Instance(this.spec, this.settings);
    this.all.add(instance);
    return instance;
  }

  private async discard(instance: Instance): Promise<void> {
    this.all.delete(instance);
    const at = this.idle.indexOf(instance);
    if (at >= 0) this.idle.splice(at, 1);
    await instance.terminate().catch(() => undefined);
  }
}

function hostClosed(): RawOutcome {
  return {
    kind: 'error',
    fcErrorType: FcErrorTypes.Unhandled,
    errorType: 'HostClosedError',
    errorMessage: 'the local FC host is shutting down',
  };
}
