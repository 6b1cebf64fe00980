/** The seam between the CLI and where a command runs: in-process (direct.ts) or in the ops function (remote.ts). */
import type { OpsRequest, OpsResult } from '../../shared/ops/commands.js';

/** What a runner may report while it runs. */
export interface RunHooks {
  /** Progress lines for people (stderr); never secrets. */
  progress: (line: string) => void;
}

/** Runs requests somewhere: in-process (direct) or in the deployed ops function (remote). */
export interface OpsRunner {
  /** Which mode, for messages. */
  readonly mode: 'direct' | 'remote';
  run(request: OpsRequest, hooks: RunHooks): Promise<OpsResult>;
}
