/**
 * `doctor`: checks a deployment before it is trusted, one line per check
 * (`ok|warn|fail  <check>  <what it found>  [-> what to do]`).
 *
 * Kept apart, in seven files:
 * - the run (`runDoctor`, this file) and its probes (doctor-probes.ts): harmless KMS calls
 *   through the KmsPort (reads, and Encrypt/Decrypt of a random probe, which change no state).
 *   Nothing is ever written: no key, tag, alias, secret or material. Every call is recorded, so the
 *   RAM check can say exactly what was probed.
 * - pure builders: observations in, checks out; unit-tested with values. doctor-checks.ts holds
 *   the check model and the credentials and instance verdicts; doctor-gateway.ts the shared gateway
 *   verdict; doctor-secrets.ts the escrow and lease keys, placement and webhook secrets;
 *   doctor-ram.ts the RAM verdicts.
 * - rendering (doctor-render.ts: `renderDoctor`, `worstStatus`).
 * This file re-exports the others, so callers import doctor from here.
 *
 * Never printed: webhook secret values (nor their length), escrow secret data, key material.
 * A secret read as a probe is dropped unread.
 */
import { ConfigVariable } from '../config/index.js';
import type { KmsInstanceInfo } from '../kms/port.js';
import {
  CheckName,
  CheckStatus,
  credentialsCheck,
  instanceCheck,
  isRefused,
  unsetEscrowInstanceCheck,
  unsetKeysInstanceCheck,
  type DoctorCheck,
  type ProbeError,
} from './doctor-checks.js';
import { sharedGatewayCheck } from './doctor-gateway.js';
import { ProbeLog, probeGateway, probeSecretReads, valueOr, type DoctorInput } from './doctor-probes.js';
import { KMS_ACTIONS, ramReadCheck, ramWriteCheck } from './doctor-ram.js';
import { escrowPlacementCheck, protectorKeyCheck, webhookSecretCheck } from './doctor-secrets.js';

export * from './doctor-checks.js';
export * from './doctor-gateway.js';
export type { DoctorInput } from './doctor-probes.js';
export * from './doctor-ram.js';
export * from './doctor-render.js';
export * from './doctor-secrets.js';

/** Runs every check; never writes, never throws for a KMS answer (each becomes a check). */
export async function runDoctor(input: DoctorInput): Promise<DoctorCheck[]> {
  const { kms, config, nowMs } = input;
  const probes = new ProbeLog();
  const endpoint = `${config.kms.protocol}://${config.kms.endpoint}`;
  const { keys: keysInstance, escrow: escrowInstance } = config.instances;
  const escrowKeyRef = config.escrow.backend === 'kms-secrets' ? config.escrow.keyId : undefined;
  const separateLeaseKey = config.leaseKeyId !== escrowKeyRef;

  // 1. Credentials and region: one harmless read. If it fails, every other KMS check would only
  // repeat its error, so they are reported as not checked.
  const listed = await probes.run('ListKeys', () => kms.listKeys());
  const checks: DoctorCheck[] = [credentialsCheck(config, listed.ok ? { keys: listed.value.length } : listed.error)];
  if (!listed.ok) {
    const notChecked = (name: string): DoctorCheck => ({
      name,
      status: CheckStatus.Warn,
      detail: `not checked: ${CheckName.Credentials} failed`,
    });
    const webhook = (which: 'secret' | 'urlToken', name: string) =>
      config.webhook[which]?.source === 'kms-secret'
        ? notChecked(name)
        : webhookSecretCheck(which, config.webhook[which]);
    return [
      ...checks,
      notChecked(CheckName.KeysInstance),
      ...(escrowInstance !== undefined || escrowKeyRef !== undefined ? [notChecked(CheckName.EscrowInstance)] : []),
      notChecked(CheckName.SharedGateway),
      ...(escrowKeyRef !== undefined ? [notChecked(CheckName.EscrowKey)] : []),
      ...(separateLeaseKey ? [notChecked(CheckName.LeaseKey)] : []),
      escrowPlacementCheck(config, undefined),
      notChecked(CheckName.RamReads),
      ramWriteCheck(input.ramPolicy),
      webhook('secret', CheckName.WebhookSecret),
      webhook('urlToken', CheckName.WebhookUrlToken),
    ];
  }

  // 2. Instances (one GetKmsInstance per distinct id).
  const instanceInfo = new Map<string, KmsInstanceInfo | ProbeError>();
  for (const id of new Set([keysInstance, escrowInstance].filter((x): x is string => x !== undefined))) {
    instanceInfo.set(id, valueOr(await probes.run('GetKmsInstance', () => kms.getKmsInstance(id))));
  }
  if (instanceInfo.size === 0) probes.skip(['GetKmsInstance'], 'no instance configured');
  if (keysInstance !== undefined)
    checks.push(
      instanceCheck(
        CheckName.KeysInstance,
        ConfigVariable.KmsInstanceId,
        keysInstance,
        instanceInfo.get(keysInstance)!,
        nowMs,
        config.region,
      ),
    );
  else
    checks.push(
      unsetKeysInstanceCheck(valueOr(await probes.run('GetDefaultKmsInstance', () => kms.getDefaultKmsInstance()))),
    );

  // 4, observed here because 2 and 5 use the escrow key's instance: escrow and lease keys.
  const describeProtector = async (keyRef: string) => {
    const meta = await probes.run('DescribeKey', () => kms.describeKey(keyRef));
    if (!meta.ok) return meta.error;
    const tags = await probes.run('ListResourceTags', () => kms.listResourceTags(meta.value.keyId));
    return { meta: meta.value, ...(tags.ok ? { tags: tags.value } : {}) };
  };
  const escrowKey = escrowKeyRef === undefined ? undefined : await describeProtector(escrowKeyRef);
  const leaseKey = separateLeaseKey ? await describeProtector(config.leaseKeyId) : undefined;
  const escrowKeyInstance = escrowKey !== undefined && 'meta' in escrowKey ? escrowKey.meta.dkmsInstanceId : undefined;

  if (escrowInstance !== undefined)
    checks.push(
      instanceCheck(
        CheckName.EscrowInstance,
        ConfigVariable.EscrowInstanceId,
        escrowInstance,
        instanceInfo.get(escrowInstance)!,
        nowMs,
        config.region,
      ),
    );
  else if (escrowKeyRef !== undefined) checks.push(unsetEscrowInstanceCheck(escrowKeyInstance));

  // 3. Shared gateway: Encrypt (then Decrypt) a random probe under a managed key of the keys' instance.
  const gateway = await probeGateway(input, probes, listed.value);
  checks.push(sharedGatewayCheck(gateway, endpoint));

  const placement = {
    ...(keysInstance !== undefined ? { keys: keysInstance } : {}),
    ...(escrowInstance !== undefined ? { escrow: escrowInstance } : {}),
  };
  if (escrowKeyRef === undefined)
    checks.push({
      name: CheckName.EscrowKey,
      status: CheckStatus.Ok,
      detail: 'skipped: escrow backend file (sealed files, no escrow CMK)',
    });
  else
    checks.push(
      protectorKeyCheck(CheckName.EscrowKey, ConfigVariable.EscrowKeyId, escrowKeyRef, escrowKey!, placement),
    );
  if (leaseKey !== undefined)
    checks.push(
      protectorKeyCheck(CheckName.LeaseKey, ConfigVariable.LeaseKeyId, config.leaseKeyId, leaseKey, placement),
    );

  // 5. Placement.
  checks.push(escrowPlacementCheck(config, escrowKeyInstance));

  // 7 (probed before the RAM verdict, which counts its GetSecretValue calls): webhook secrets,
  // read and dropped; neither value nor length is looked at.
  const webhookChecks: DoctorCheck[] = [];
  for (const which of ['secret', 'urlToken'] as const) {
    const setting = config.webhook[which];
    if (setting?.source !== 'kms-secret') {
      webhookChecks.push(webhookSecretCheck(which, setting));
      continue;
    }
    const read = await probes.run('GetSecretValue', async () => {
      await kms.getSecretValue({ secretName: setting.secretName });
    });
    webhookChecks.push(webhookSecretCheck(which, setting, read.ok ? 'readable' : read.error));
  }

  // 6. RAM: the remaining reads (secrets), then the verdicts.
  await probeSecretReads(input, probes);
  const expected = KMS_ACTIONS.read.filter((a) => a !== 'GetDefaultKmsInstance' || keysInstance === undefined);
  const attributed: Record<string, string> = {};
  if (gateway.kind === 'probed' && gateway.error && isRefused(gateway.error)) {
    attributed['Encrypt'] = CheckName.SharedGateway;
    attributed['Decrypt'] = CheckName.SharedGateway;
  }
  checks.push(
    ramReadCheck({ identity: input.identity, expected, records: probes.records, skipped: probes.skipped, attributed }),
  );
  checks.push(ramWriteCheck(input.ramPolicy));
  checks.push(...webhookChecks);
  return checks;
}
