/**
 * The on-call commands as plain JSON requests and results, shared by the CLI (direct mode runs
 * them in-process; remote mode sends them to the `ops` function) and the `ops` function itself.
 */
import { ErrorCode, OrchestratorError } from '../errors.js';
import {
  adopt,
  onboard,
  planNow,
  reimportNow,
  renewNow,
  restore,
  retire,
  revoke,
  rotateNow,
  status,
  sweep,
  verifyEscrow,
  type ActionResult,
  type EscrowCheck,
  type Outcome,
  type StatusRow,
} from '../lifecycle/engine.js';
import type { Plan } from '../lifecycle/plan.js';
import type { EngineDeps } from '../lifecycle/ports.js';
import type { Config } from '../config/index.js';
import { runDoctor, type DoctorCheck } from './doctor.js';
import { isKeySpec, type KeySpec } from '../wrap/index.js';
import { readAdoptMaterial } from './adopt-material.js';
import { gatherReport, type ReportSource } from './report-source.js';

/** A request to the engine, the same in direct and remote mode (plain JSON). */
export type OpsRequest =
  | { command: 'status' }
  | { command: 'plan' }
  | { command: 'sweep' }
  | { command: 'onboard'; alias: string; validityDays?: number; keySpec?: KeySpec }
  /** Direct mode only: the file is read on this machine and the material never travels. */
  | { command: 'adopt'; keyId: string; alias: string; materialFile: string }
  | { command: 'renew'; target: string }
  | { command: 'rotate'; alias: string }
  | { command: 'reimport'; keyId: string }
  | { command: 'revoke'; keyId: string; confirm?: string }
  | { command: 'retire'; keyId: string; confirm?: string }
  | { command: 'restore'; keyId: string }
  | { command: 'verify-escrow' }
  | { command: 'doctor' }
  /** Read-only: the account's side of the HTML report (snapshot, alerts); the CLI renders the page. */
  | { command: 'report' };

/** Command names. */
export type OpsCommand = OpsRequest['command'];

/** A sweep result as callers show it. */
export interface SweepOutcome {
  planId: string;
  counts: Record<Outcome, number>;
  alertWorthy: boolean;
  results: ActionResult[];
}

/** What a command answers (plain JSON, secret-free). */
export type OpsResult =
  | { command: 'status'; nowMs: number; rows: StatusRow[]; plan: Plan }
  | { command: 'plan'; plan: Plan }
  | ({ command: 'sweep' } & SweepOutcome)
  | { command: 'onboard'; lineage: string; keyId: string; created: boolean }
  | {
      command: 'adopt';
      keyId: string;
      lineage: string;
      generation: number;
      previousKeyId?: string;
      materialFile: string;
    }
  | { command: 'renew'; keyId: string; expireAtMs?: number }
  | { command: 'rotate'; lineage: string; keyId: string; previousKeyId?: string; generation: number }
  | { command: 'reimport'; keyId: string; expireAtMs?: number; unchanged?: boolean }
  | { command: 'revoke'; keyId: string }
  | { command: 'retire'; keyId: string }
  | { command: 'restore'; keyId: string; expireAtMs?: number; keyState?: string }
  | { command: 'verify-escrow'; checks: EscrowCheck[] }
  | { command: 'doctor'; checks: DoctorCheck[] }
  | ({ command: 'report' } & ReportSource);

/**
 * What some commands need beyond the engine deps: `doctor` checks the configuration itself, the
 * identity its probes run as, and the shipped RAM policy (compared statically).
 */
export interface OpsContext {
  config?: Config;
  /** `access key <id>` (direct mode) or `the function role` (the ops function). */
  identity?: string;
  /** scripts/deploy/ram-policy-function.json as shipped with this build. */
  ramPolicy?: unknown;
}

/** Commands that write; the ops function audits them under the caller's identity. */
export const WRITE_COMMANDS: ReadonlySet<OpsCommand> = new Set([
  'sweep',
  'onboard',
  'adopt',
  'renew',
  'rotate',
  'reimport',
  'revoke',
  'retire',
  'restore',
]);

const bad = (field: string, rule: string) =>
  new OrchestratorError(ErrorCode.InvalidInput, `${field}: ${rule}`, { details: { field } });

function str(v: Record<string, unknown>, field: string): string {
  const x = v[field];
  if (typeof x !== 'string' || x.trim() === '' || x.length > 300)
    throw bad(field, 'required, a non-empty string of at most 300 characters');
  return x;
}

/** Validates a JSON command (the ops function's payload); errors name the field and the rule. */
export function parseOpsRequest(value: unknown): OpsRequest {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw bad('request', 'must be a JSON object like {"command":"status"}');
  const v = value as Record<string, unknown>;
  const command = v.command;
  switch (command) {
    case 'status':
    case 'plan':
    case 'sweep':
    case 'verify-escrow':
    case 'doctor':
    case 'report':
      return { command };
    case 'onboard': {
      const r: OpsRequest = { command, alias: str(v, 'alias') };
      if (v.validityDays !== undefined) {
        if (typeof v.validityDays !== 'number' || !Number.isInteger(v.validityDays))
          throw bad('validityDays', 'must be a whole number of days');
        r.validityDays = v.validityDays;
      }
      if (v.keySpec !== undefined) {
        if (!isKeySpec(v.keySpec)) throw bad('keySpec', 'must be Aliyun_AES_256 or Aliyun_SM4');
        r.keySpec = v.keySpec;
      }
      return r;
    }
    case 'adopt':
      // The ops function never takes material: it would travel in an invocation payload.
      throw bad('command', 'adopt runs in direct mode only (the material file is read on your machine)');
    case 'renew':
      return { command, target: str(v, 'target') };
    case 'rotate':
      return { command, alias: str(v, 'alias') };
    case 'reimport':
    case 'restore':
      return { command, keyId: str(v, 'keyId') };
    case 'revoke':
    case 'retire':
      return { command, keyId: str(v, 'keyId'), ...(v.confirm !== undefined ? { confirm: str(v, 'confirm') } : {}) };
    default:
      throw bad(
        'command',
        'must be one of status, plan, sweep, onboard, renew, rotate, reimport, revoke, retire, restore, ' +
          'verify-escrow, doctor, report',
      );
  }
}

/** Executes one request against the engine (`doctor` also needs `context.config`). */
export async function executeRequest(
  deps: EngineDeps,
  request: OpsRequest,
  context: OpsContext = {},
): Promise<OpsResult> {
  switch (request.command) {
    case 'status':
      return { command: 'status', ...(await status(deps)) };
    case 'plan':
      return { command: 'plan', plan: (await planNow(deps)).plan };
    case 'sweep': {
      const r = await sweep(deps);
      return { command: 'sweep', planId: r.planId, counts: r.counts, alertWorthy: r.alertWorthy, results: r.results };
    }
    case 'onboard':
      return {
        command: 'onboard',
        ...(await onboard(deps, {
          alias: request.alias,
          ...(request.validityDays !== undefined ? { validityDays: request.validityDays } : {}),
          ...(request.keySpec ? { keySpec: request.keySpec } : {}),
        })),
      };
    case 'adopt': {
      const material = await readAdoptMaterial(request.materialFile);
      try {
        const r = await adopt(deps, { keyId: request.keyId, alias: request.alias, material });
        return { command: 'adopt', ...r, materialFile: request.materialFile };
      } finally {
        material.fill(0);
      }
    }
    case 'renew': {
      const r = await renewNow(deps, request.target);
      return { command: 'renew', keyId: r.keyId, ...(r.expireAtMs !== undefined ? { expireAtMs: r.expireAtMs } : {}) };
    }
    case 'rotate':
      return { command: 'rotate', ...(await rotateNow(deps, request.alias)) };
    case 'reimport':
      return { command: 'reimport', ...(await reimportNow(deps, request.keyId)) };
    case 'revoke':
      return { command: 'revoke', ...(await revoke(deps, request.keyId, request.confirm)) };
    case 'retire':
      return { command: 'retire', ...(await retire(deps, request.keyId, request.confirm)) };
    case 'restore':
      return { command: 'restore', ...(await restore(deps, request.keyId)) };
    case 'verify-escrow':
      return { command: 'verify-escrow', checks: await verifyEscrow(deps) };
    case 'doctor': {
      if (context.config === undefined)
        throw new OrchestratorError(ErrorCode.Internal, 'doctor: the caller passed no configuration');
      const checks = await runDoctor({
        kms: deps.kms,
        config: context.config,
        nowMs: deps.clock.nowMs(),
        random: deps.random,
        identity: context.identity ?? deps.actor.id,
        ...(context.ramPolicy !== undefined ? { ramPolicy: context.ramPolicy } : {}),
      });
      return { command: 'doctor', checks };
    }
    case 'report':
      return { command: 'report', ...(await gatherReport(deps)) };
    default: {
      const exhaustive: never = request;
      throw new OrchestratorError(
        ErrorCode.InvalidInput,
        `unknown command ${JSON.stringify((exhaustive as { command: unknown }).command)}`,
      );
    }
  }
}
