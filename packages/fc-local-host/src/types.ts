/**
 * Public types of the local Function Compute 3.0 host (docs/fc-runtime.md §2-§6).
 */

/** A timer trigger as s.yaml declares it (§3.3): 6-field cron with seconds, `CRON_TZ=`, or `@every`. */
export interface TimerTriggerSpec {
  triggerName: string;
  cronExpression: string;
  /** Delivered verbatim as the event's `payload` string (§3.1). */
  payload?: string;
  /** `false` keeps the trigger but never fires it on schedule (fireTimer still works). Default true. */
  enable?: boolean;
}

/** An HTTP trigger (§4.1). The local host always behaves as `authType: anonymous`. */
export interface HttpTriggerSpec {
  triggerName: string;
  /** Allowed methods, e.g. ['POST']; any other method gets 405. */
  methods: string[];
}

/** One function the host runs. */
export interface FunctionSpec {
  /** FC 3.0 function name (may be a legacy `svc$fn`). */
  name: string;
  /** Directory holding the bundle (`index.js` for handler `index.handler`). */
  bundleDir: string;
  /** `file.export`, e.g. `index.handler`. */
  handler: string;
  timeoutSeconds: number;
  memoryMB: number;
  /** environmentVariables of the function (process.env of its instances). */
  env: Record<string, string>;
  timers?: TimerTriggerSpec[];
  http?: HttpTriggerSpec;
  /** logConfig, echoed in `context.service.logProject/logStore`. */
  logConfig?: { project: string; logstore: string };
}

/** STS-like credentials handed to functions in `context.credentials` (§2.3). */
export interface StsCredentials {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken: string;
}

/** A principal allowed to call the invoke API; with a securityToken the request must carry it. */
export interface InvokeCredential {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
}

/** Options of startFcHost. */
export interface FcHostOptions {
  functions: FunctionSpec[];
  /** TCP port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  accountId: string;
  region: string;
  /** Re-read for every invocation, so a rotation is visible to the next one. */
  credentials: () => StsCredentials;
  /** Who may call the invoke API (FC and ACS3 signatures are verified against these). */
  invokeCredentials: InvokeCredential[];
  /**
   * Also accept the functions' own credentials (`credentials()`, with their security token) on the
   * invoke API: as a function role granted `fc:InvokeFunction` can in FC, so a function can invoke
   * functions (the sweep's coordinator invokes its shards asynchronously). Default false.
   */
  acceptFunctionCredentials?: boolean;
  /**
   * Name of an environment variable every instance gets, set to this host's invoke endpoint
   * (`http://127.0.0.1:<port>`): where a function's FC client must send its calls (e.g.
   * `BYOK_FC_ENDPOINT`). It overrides the function's own value. Unset = none.
   */
  endpointEnv?: string;
  /** Host clock speed: 60 makes an hour pass in a minute (timers follow it). Default 1. */
  timeScale?: number;
  /** Host time at start, epoch ms (default real now): the local stack passes the emulator's time. */
  startAtMs?: number;
  /** Fire timer triggers on their schedule. Default true. */
  fireTimers?: boolean;
  /** Service names accepted on the FC 2.0 route; unset = any service name. */
  fc2ServiceNames?: string[];
  /** Host log sink (one line per call, never secrets). Default: stdout. */
  log?: (line: string) => void;
  /** Where the functions' own stdout/stderr lines go. Default: `log` prefixed with the function name. */
  functionOutput?: (functionName: string, line: string) => void;
}

/** Error types of the `x-fc-error-type` header (§2.2, §2.4). */
export const FcErrorType = {
  Unhandled: 'UnhandledInvocationError',
  Handled: 'HandledInvocationError',
  Initialization: 'InitializationError',
} as const;
/** One of FcErrorType. */
export type FcErrorType = (typeof FcErrorType)[keyof typeof FcErrorType];

/** What started an invocation. */
export type InvocationSource = 'invoke-fc2' | 'invoke-fc3' | 'http' | 'timer' | 'direct';

/** Outcome of one invocation, as the host saw it. */
export type InvocationResult =
  | { kind: 'ok'; requestId: string; functionName: string; body: Buffer }
  | {
      kind: 'error';
      requestId: string;
      functionName: string;
      fcErrorType: FcErrorType;
      /** The function's error name (`Error`, `TypeError`, `FunctionTimeoutError`...). */
      errorType: string;
      errorMessage: string;
    };

/** A record of an invocation, kept for tests and demos (no payloads, no credentials). */
export interface InvocationRecord {
  requestId: string;
  functionName: string;
  source: InvocationSource;
  /** Host-clock time the invocation started. */
  startedAtMs: number;
  /** For timer invocations: the trigger and the event's triggerTime. */
  timer?: { triggerName: string; triggerTime: string };
  /** Set when it finished. */
  outcome?: 'ok' | FcErrorType;
  durationMs?: number;
}

/** A running host. */
export interface FcHost {
  readonly port: number;
  /** `http://127.0.0.1:<port>`, the endpoint for both FC client SDKs. */
  readonly url: string;
  /** `http://127.0.0.1:<port>/http/<functionName>`: POST here to hit the function's HTTP trigger. */
  httpTriggerUrl(functionName: string): string;
  /** Host clock (scaled by timeScale), ms since the epoch. */
  nowMs(): number;
  /** Invokes a function in-process (no signature), waiting for the result. */
  invoke(functionName: string, event: Buffer | string): Promise<InvocationResult>;
  /** Fires a timer trigger now, with the §3.1 event, and waits for the result. */
  fireTimer(functionName: string, triggerName: string, triggerTime?: Date): Promise<InvocationResult>;
  /** Invocations so far, oldest first. */
  invocations(): readonly InvocationRecord[];
  /** Drops the instances of one function (or all): the next call loads the bundle afresh. */
  reload(functionName?: string): Promise<void>;
  /** Stops timers, the server and every instance (in-flight invocations end with an error). */
  close(): Promise<void>;
}
