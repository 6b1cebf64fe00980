/**
 * `doctor`'s shared-gateway verdict: can crypto reach the keys' instance through the configured
 * (shared) endpoint? Pure: the Encrypt probe that makes the observation is in doctor-probes.ts.
 */
import { ConfigVariable } from '../config/index.js';
import {
  CheckName,
  CheckStatus,
  RENEW_FIX,
  isRefused,
  shownCode,
  type DoctorCheck,
  type ProbeError,
} from './doctor-checks.js';

/** What the Encrypt probe on a managed key of the keys' instance found. */
export type GatewayObservation =
  | { kind: 'no-instance' }
  | { kind: 'no-key'; instanceId: string }
  | { kind: 'lookup-failed'; instanceId: string; action: string; error: ProbeError }
  | { kind: 'probed'; instanceId: string; keyId: string; alias?: string; error?: ProbeError };

/** Verdict on crypto through the configured (shared) endpoint on the keys' instance. */
export function sharedGatewayCheck(o: GatewayObservation, endpoint: string): DoctorCheck {
  const name = CheckName.SharedGateway;
  switch (o.kind) {
    case 'no-instance':
      return { name, status: CheckStatus.Warn, detail: `not checked: ${ConfigVariable.KmsInstanceId} unset` };
    case 'no-key':
      return {
        name,
        status: CheckStatus.Warn,
        detail: `not checked: no key yet (no Enabled managed key in ${o.instanceId})`,
        fix: 'run doctor again after the first onboard',
      };
    case 'lookup-failed':
      return {
        name,
        status: CheckStatus.Warn,
        detail: `not checked: looking for a managed key in ${o.instanceId} failed (${o.action}: ${shownCode(o.error)})`,
      };
    case 'probed': {
      const key = `${o.keyId}${o.alias ? ` (${o.alias})` : ''}`;
      if (!o.error)
        return {
          name,
          status: CheckStatus.Ok,
          detail: `Encrypt through ${endpoint} on ${key} in ${o.instanceId} answered`,
        };
      // Real KMS publishes no code for "Internet access is off"; Forbidden.NoPermission is inferred
      // (docs/kms-3-instances.md §6), and a RAM deny of kms:Encrypt looks the same: any refusal
      // (Forbidden.* other than not-found) is read as this, and the detail says it could be RAM.
      if (isRefused(o.error)) {
        return {
          name,
          status: CheckStatus.Fail,
          detail:
            `Encrypt through ${endpoint} on ${key} in ${o.instanceId} ` +
            `refused (${shownCode(o.error)}; or RAM denies kms:Encrypt)`,
          fix:
            `turn on Internet access (shared gateway) for ${o.instanceId} ` +
            `in the KMS console (Instances > ${o.instanceId} > Share Resources)`,
        };
      }
      if (o.error.kmsCode === 'Rejected.Unavailable') {
        return {
          name,
          status: CheckStatus.Fail,
          detail: `Encrypt on ${key} in ${o.instanceId} answered Rejected.Unavailable: the instance has lapsed`,
          fix: RENEW_FIX(o.instanceId),
        };
      }
      return {
        name,
        status: CheckStatus.Fail,
        detail: `Encrypt through ${endpoint} on ${key} in ${o.instanceId} failed (${shownCode(o.error)})`,
      };
    }
  }
}
