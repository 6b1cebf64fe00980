/**
 * `doctor`'s verdicts on what protects the secrets: the escrow and lease CMKs, the escrow's
 * placement apart from the keys, and the webhook secrets. Pure: observations in, checks out. A
 * secret's value (or length) is never looked at.
 */
import type { Config, SecretSetting } from '../config/index.js';
import { ConfigVariable } from '../config/index.js';
import type { KeyMetadata } from '../kms/port.js';
import {
  CheckName,
  CheckStatus,
  isNotFound,
  isRefused,
  shownCode,
  type DoctorCheck,
  type ProbeError,
} from './doctor-checks.js';

// ---------------------------------------------------------------------------------------------
// 4. Escrow and lease keys

/** The escrow tag the function role's policy requires before Secrets Manager may use a key. */
export const ESCROW_TAG = { key: 'byok:escrow', value: 'true' } as const;

/** Verdict on the escrow (or lease) CMK from DescribeKey and its tags. */
export function protectorKeyCheck(
  name: string,
  variable: string,
  keyRef: string,
  outcome:
    | { meta: Pick<KeyMetadata, 'keyId' | 'keyState' | 'origin' | 'dkmsInstanceId'>; tags?: Record<string, string> }
    | ProbeError,
  instances: { keys?: string; escrow?: string },
): DoctorCheck {
  if ('code' in outcome) {
    if (isNotFound(outcome))
      return {
        name,
        status: CheckStatus.Fail,
        detail: `${keyRef} not found (${shownCode(outcome)})`,
        fix: `check ${variable} and ${ConfigVariable.Region}`,
      };
    return {
      name,
      status: CheckStatus.Fail,
      detail: `DescribeKey ${keyRef} failed (${shownCode(outcome)})`,
      ...(isRefused(outcome) ? { fix: 'grant kms:DescribeKey to this identity' } : {}),
    };
  }
  const { meta, tags } = outcome;
  const problems: string[] = [];
  const fixes: string[] = [];
  if (meta.keyState !== 'Enabled') {
    problems.push(`is ${meta.keyState}, not Enabled`);
    fixes.push('enable it (the orchestrator never enables keys)');
  }
  if (meta.origin !== 'Aliyun_KMS') {
    problems.push(`has Origin ${meta.origin}, not Aliyun_KMS`);
    fixes.push(
      `point ${variable} at an Aliyun_KMS key: protecting escrow ` +
        `with imported material makes recovery depend on what it recovers`,
    );
  }
  const where = meta.dkmsInstanceId ?? 'no KMS instance';
  if (instances.escrow !== undefined && meta.dkmsInstanceId !== instances.escrow) {
    const shared =
      instances.keys !== undefined && meta.dkmsInstanceId === instances.keys ? " (the keys' instance)" : '';
    problems.push(`is in ${where}${shared}, not in ${instances.escrow} (${ConfigVariable.EscrowInstanceId})`);
    fixes.push(
      `point ${variable} at an Aliyun_KMS key in ${instances.escrow}: ` +
        `its secrets must be encrypted by a key of their own instance`,
    );
  }
  const tagged = tags?.[ESCROW_TAG.key] === ESCROW_TAG.value;
  if (problems.length > 0)
    return { name, status: CheckStatus.Fail, detail: `${meta.keyId} ${problems.join('; ')}`, fix: fixes.join('; ') };
  const found = `${meta.keyId} Enabled, Aliyun_KMS, in ${where}`;
  if (!tagged) {
    return {
      name,
      status: CheckStatus.Warn,
      detail:
        `${found}, not tagged ${ESCROW_TAG.key}=${ESCROW_TAG.value}: ` +
        `the function role's policy lets Secrets Manager use only keys with that tag`,
      fix: `tag ${meta.keyId} ${ESCROW_TAG.key}=${ESCROW_TAG.value}`,
    };
  }
  return { name, status: CheckStatus.Ok, detail: `${found}, tagged ${ESCROW_TAG.key}=${ESCROW_TAG.value}` };
}

// ---------------------------------------------------------------------------------------------
// 5. Escrow placement

/**
 * Escrow must not share fate with the keys: the config refuses a shared instance at start unless
 * break-glass or BYOK_ALLOW_ESCROW_IN_KEY_INSTANCE accepts it (recomputed here from the config),
 * and the escrow key's observed instance must not be the keys' one either.
 */
export function escrowPlacementCheck(
  config: Pick<Config, 'escrow' | 'instances'>,
  escrowKeyInstance: string | undefined,
): DoctorCheck {
  const name = CheckName.EscrowPlacement;
  if (config.escrow.backend === 'file')
    return { name, status: CheckStatus.Ok, detail: 'escrow backend file: sealed files, in no KMS instance' };
  const { keys, escrow } = config.instances;
  const breakGlass = config.escrow.recoveryPublicKeyFile !== undefined;
  if (keys === escrow) {
    const where = keys ?? 'the default instance (both unset)';
    return {
      name,
      status: CheckStatus.Warn,
      detail:
        `escrow and keys share ${where}: one lapsed or released instance loses both; ` +
        (breakGlass
          ? `accepted because the offline break-glass copy (${ConfigVariable.RecoveryPublicKeyFile}) is configured`
          : `accepted by ${ConfigVariable.AllowEscrowInKeyInstance}=true`),
      fix: `put the escrow key and secrets in another instance (${ConfigVariable.EscrowInstanceId})`,
    };
  }
  if (keys !== undefined && escrowKeyInstance === keys) {
    return {
      name,
      status: CheckStatus.Fail,
      detail:
        `the escrow key is in the keys' instance ${keys}: ` +
        `one lapsed or released instance would lose keys and escrow together`,
      fix: `use an escrow key in ${escrow ?? 'another instance'}`,
    };
  }
  return {
    name,
    status: CheckStatus.Ok,
    detail:
      `escrow in ${escrow ?? 'the default instance'}, keys ` +
      `in ${keys ?? 'the default key / instance'}${breakGlass ? '; offline break-glass copy configured' : ''}`,
  };
}

// ---------------------------------------------------------------------------------------------
// 7. Webhook secrets

/** Verdict on one webhook secret setting; a secret's value (and length) is never looked at. */
export function webhookSecretCheck(
  which: 'secret' | 'urlToken',
  setting: SecretSetting | undefined,
  outcome?: 'readable' | ProbeError,
): DoctorCheck {
  const name = which === 'secret' ? CheckName.WebhookSecret : CheckName.WebhookUrlToken;
  const [valueVar, nameVar] =
    which === 'secret'
      ? [ConfigVariable.WebhookSecret, ConfigVariable.WebhookSecretName]
      : [ConfigVariable.WebhookUrlToken, ConfigVariable.WebhookUrlTokenName];
  if (setting === undefined) {
    return {
      name,
      status: CheckStatus.Warn,
      detail:
        `${nameVar} and ${valueVar} unset: the webhook rejects ` +
        `every ${which === 'secret' ? 'signed call (x-byok-signature)' : 'CloudMonitor callback (?token=)'}`,
      fix:
        `create the secret ${which === 'secret' ? 'byok-webhook-hmac' : 'byok-webhook-url-token'} ` +
        `and set ${nameVar}`,
    };
  }
  if (setting.source === 'value')
    return { name, status: CheckStatus.Ok, detail: `set in ${valueVar} (value not shown)` };
  const secret = setting.secretName;
  if (outcome === undefined)
    return { name, status: CheckStatus.Warn, detail: `not checked: secret ${secret} (${nameVar})` };
  if (outcome === 'readable')
    return { name, status: CheckStatus.Ok, detail: `secret ${secret} readable (value not shown)` };
  if (isNotFound(outcome)) {
    return {
      name,
      status: CheckStatus.Fail,
      detail: `secret ${secret} (${nameVar}) does not exist (${shownCode(outcome)})`,
      fix: `create it (scripts/deploy/README.md) or correct ${nameVar}`,
    };
  }
  if (isRefused(outcome)) {
    return {
      name,
      status: CheckStatus.Fail,
      detail: `reading secret ${secret} (${nameVar}) refused (${shownCode(outcome)})`,
      fix: 'grant kms:GetSecretValue on it (the function role reads only byok-* secrets)',
    };
  }
  return {
    name,
    status: CheckStatus.Fail,
    detail: `reading secret ${secret} (${nameVar}) failed (${shownCode(outcome)})`,
  };
}
