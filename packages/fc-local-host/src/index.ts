/**
 * The local Function Compute 3.0 host (docs/design.md §6): run esbuild bundles with FC-shaped events and
 * context, fire s.yaml timers, serve HTTP triggers and the FC invoke API for both client SDKs.
 * URL shapes are documented in host.ts.
 */
export { startFcHost } from './host.js';
export { FcHostError, FcHostErrorCode } from './errors.js';
export { loadFunctionsFromSYaml, parseSYaml, readSYaml } from './s-yaml.js';
export type { SYamlOptions, SYamlProject } from './s-yaml.js';
export { FcErrorType } from './types.js';
export type {
  FcHost,
  FcHostOptions,
  FunctionSpec,
  HttpTriggerSpec,
  InvocationRecord,
  InvocationResult,
  InvocationSource,
  InvokeCredential,
  StsCredentials,
  TimerTriggerSpec,
} from './types.js';
export { parseSchedule, formatTriggerTime } from './schedule.js';
export type { HttpTriggerEvent } from './http-trigger.js';
