/**
 * The engine's public API, in one place for its callers (shared/ops, functions/*, scripts/*,
 * tests). Nothing is implemented here. How it is laid out:
 *
 * - observe.ts   read-only: the snapshot of the account (key-view.ts reads our tags, once)
 * - plan.ts      pure: the Action union, the plan of a sweep (plan-lineage.ts, plan-keys.ts,
 *                plan-alerts.ts); model.ts: tags, KeyView, Snapshot, policies
 * - execute.ts   the one path that changes KMS state: lease, audit and deadline per lineage
 *                (apply.ts: one action's fresh checks and writes; steps.ts, provision.ts: the writes)
 * - commands.ts  operator commands, each a single-lineage plan run by the executor
 * - sweep.ts     observe -> plan -> execute; report.ts: status and verify-escrow (read-only)
 */
export { adopt, onboard, reimportNow, renewNow, restore, retire, revoke, rotateNow } from './commands.js';
export { executePlan } from './execute.js';
export type { ActionResult, Outcome, SweepResult } from './execute.js';
export { status, verifyEscrow } from './report.js';
export type { EscrowCheck, StatusRow } from './report.js';
export { checkTarget, planNow, snapshotOf, sweep } from './sweep.js';
/** The one lineage-name parser (shared/lineage.ts), re-exported where the commands live. */
export { parseLineage } from '../lineage.js';
