/**
 * Alert state (fingerprint -> since, lastSentAt) in KMS, not in a database: one Secrets Manager
 * secret, `byok-alerts/state`, in the escrow instance next to the lease secrets `byok-lease/<lineage>`,
 * encrypted with the lease CMK. Each save is a PutSecretValue with VersionId `alerts-<seq>` (the
 * lease's conditional write, shared/lifecycle/lease.ts): of two runs that read the same state, the
 * second write is refused and that run's notices are dropped (the other run sent the same ones).
 * The content is not sensitive: key ids, lineages, problems and times.
 */
import type { KmsPort } from '../kms/port.js';
import { ErrorCode, isOrchestratorError } from '../errors.js';
import type { Alert } from './model.js';

/** Secret name of the alert state. */
export const ALERT_STATE_SECRET = 'byok-alerts/state';

/** One open condition. */
export interface OpenAlert extends Alert {
  sinceMs: number;
  lastSentAtMs: number;
}

/** The state's content. */
export interface AlertState {
  v: 1;
  seq: number;
  open: Record<string, OpenAlert>;
}

/** Where the state lives. */
export interface AlertStateStore {
  load(): Promise<AlertState>;
  /** Writes `state` (its seq one above the loaded one); false when another run wrote first. */
  save(state: AlertState): Promise<boolean>;
}

/** An empty state. */
export const emptyAlertState = (): AlertState => ({ v: 1, seq: 0, open: {} });

function parse(data: string): AlertState {
  const s = JSON.parse(data) as AlertState;
  if (s && s.v === 1 && Number.isInteger(s.seq) && typeof s.open === 'object' && s.open) return s;
  throw new Error('alert state secret has an unexpected format');
}

/** The state in memory (tests, or a caller without KMS). */
export function memoryAlertStateStore(initial: AlertState = emptyAlertState()): AlertStateStore & {
  state: AlertState;
} {
  const store = {
    state: initial,
    load: async () => structuredClone(store.state),
    save: async (s: AlertState) => {
      if (s.seq !== store.state.seq + 1) return false;
      store.state = structuredClone(s);
      return true;
    },
  };
  return store;
}

/** The state in a Secrets Manager secret (see the module comment). */
export function kmsAlertStateStore(deps: {
  kms: Pick<KmsPort, 'createSecret' | 'getSecretValue' | 'putSecretValue'>;
  encryptionKeyId: string;
  dkmsInstanceId?: string;
  secretName?: string;
}): AlertStateStore {
  const secretName = deps.secretName ?? ALERT_STATE_SECRET;
  return {
    async load() {
      try {
        return parse((await deps.kms.getSecretValue({ secretName })).secretData);
      } catch (err) {
        if (isOrchestratorError(err, ErrorCode.KmsNotFound)) return emptyAlertState();
        throw err;
      }
    },
    async save(state) {
      const versionId = `alerts-${state.seq}`;
      const secretData = JSON.stringify(state);
      try {
        if (state.seq === 1) {
          await deps.kms.createSecret({
            secretName,
            versionId,
            secretData,
            encryptionKeyId: deps.encryptionKeyId,
            description: 'BYOK orchestrator alert state (fingerprint -> since, lastSentAt); not sensitive',
            ...(deps.dkmsInstanceId === undefined ? {} : { dkmsInstanceId: deps.dkmsInstanceId }),
          });
        } else {
          await deps.kms.putSecretValue({ secretName, versionId, secretData });
        }
      } catch (err) {
        // Refused: read back; our version current = our write landed (its answer was lost).
        const now = await deps.kms.getSecretValue({ secretName }).catch(() => undefined);
        if (now?.versionId === versionId && now.secretData === secretData) return true;
        const seq = now === undefined ? undefined : parse(now.secretData).seq;
        if (seq !== undefined && seq >= state.seq) return false; // another run wrote first
        throw err;
      }
      return true;
    },
  };
}
