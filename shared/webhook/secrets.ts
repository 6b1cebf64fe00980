/**
 * The webhook's secrets (HMAC secret, URL token): from configuration, or read by name from KMS
 * Secrets Manager, and cached per KMS client, so an instance reads them once and again only after
 * FC rotated its credentials (a new client). A failed read is not cached: the next call retries.
 * Secret values stay in memory here; they are never logged, audited or answered.
 */
import type { Config, SecretSetting } from '../config/index.js';
import type { KmsPort } from '../kms/port.js';

/** Every accepted value of each secret (a list, so a rotation can accept old and new). */
export interface WebhookSecrets {
  hmac: string[];
  tokens: string[];
}

/** The KMS call the secrets need. */
export type SecretReader = Pick<KmsPort, 'getSecretValue'>;

async function resolveSecret(kms: SecretReader, setting: SecretSetting | undefined): Promise<string[]> {
  if (!setting) return [];
  if (setting.source === 'value') return [setting.value.reveal()];
  return [(await kms.getSecretValue({ secretName: setting.secretName })).secretData];
}

/** Resolves the configured webhook secrets (no caching). */
export async function resolveWebhookSecrets(kms: SecretReader, settings: Config['webhook']): Promise<WebhookSecrets> {
  return { hmac: await resolveSecret(kms, settings.secret), tokens: await resolveSecret(kms, settings.urlToken) };
}

/** Webhook secrets cached per KMS client (one per function instance). */
export class WebhookSecretCache {
  private cached: { kms: SecretReader; value: Promise<WebhookSecrets> } | undefined;

  /** The secrets for `kms`: cached when `kms` is the client they were read with, read again otherwise. */
  get(kms: SecretReader, settings: Config['webhook']): Promise<WebhookSecrets> {
    if (this.cached?.kms !== kms) {
      const entry = { kms, value: resolveWebhookSecrets(kms, settings) };
      entry.value.catch(() => {
        if (this.cached === entry) this.cached = undefined; // do not cache a failed read
      });
      this.cached = entry;
    }
    return this.cached.value;
  }
}
