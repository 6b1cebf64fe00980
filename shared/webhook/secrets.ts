/**
 * The webhook's secrets (HMAC secret, URL token): from configuration, or read by name from KMS
 * Secrets Manager, cached per instance with a maximum age (WebhookSecretCache). Secret values stay
 * in memory here; they are never logged, audited or answered.
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

/** Where the two webhook secrets come from (the configuration's webhook settings). */
export type WebhookSecretSettings = Pick<Config['webhook'], 'secret' | 'urlToken'>;

/** Resolves the configured webhook secrets (no caching). */
export async function resolveWebhookSecrets(
  kms: SecretReader,
  settings: WebhookSecretSettings,
): Promise<WebhookSecrets> {
  return { hmac: await resolveSecret(kms, settings.secret), tokens: await resolveSecret(kms, settings.urlToken) };
}

/** Default maximum age of the cached secrets: a rotated secret is accepted within 5 minutes. */
export const DEFAULT_SECRET_MAX_AGE_MS = 5 * 60 * 1000;
/** After a failed read (misnamed secret, throttling), the next read waits this long. */
export const DEFAULT_SECRET_RETRY_MS = 60 * 1000;

/** Sizing and clock of a WebhookSecretCache. */
export interface WebhookSecretCacheOptions {
  /** Age after which the secrets are read again (default 5 min). */
  maxAgeMs?: number;
  /** Wait after a failed read before the next one (default 60 s). */
  retryMs?: number;
  /** Real time (default Date.now). */
  nowMs?: () => number;
}

function union(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])];
}

/**
 * Webhook secrets of one function instance, read at instance start-up and again when older than
 * `maxAgeMs` (a rotated secret takes effect within that age). Reads are driven by age only, never
 * by a request's content: a stream of unauthenticated requests costs at most one read per
 * `maxAgeMs` (or per `retryMs` while reads fail) per instance. During a rotation the values read
 * before the last refresh stay accepted next to the new ones until the refresh after, so senders
 * switching from old to new are never refused. A failed read keeps the last good values; with
 * none, `accepted()` resolves to no secrets (every request refused the same way) and the error
 * goes to `onError` (the function's log), never into a response.
 */
export class WebhookSecretCache {
  readonly maxAgeMs: number;
  readonly retryMs: number;
  private readonly nowMs: () => number;
  private current: { value: WebhookSecrets; loadedAtMs: number } | undefined;
  private previous: WebhookSecrets | undefined;
  private lastAttemptMs = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | undefined;

  constructor(options: WebhookSecretCacheOptions = {}) {
    this.maxAgeMs = options.maxAgeMs ?? DEFAULT_SECRET_MAX_AGE_MS;
    this.retryMs = options.retryMs ?? DEFAULT_SECRET_RETRY_MS;
    this.nowMs = options.nowMs ?? Date.now;
  }

  /**
   * The secrets to accept now (current and, during a rotation, previous values). Reads them when
   * none were read yet or they are older than `maxAgeMs`, at most once per `retryMs` after a
   * failure; `onError` receives a failed read.
   */
  async accepted(
    kms: SecretReader,
    settings: WebhookSecretSettings,
    onError: (err: unknown) => void = () => {},
  ): Promise<WebhookSecrets> {
    const now = this.nowMs();
    const stale = this.current === undefined || now - this.current.loadedAtMs >= this.maxAgeMs;
    if (stale && this.inflight === undefined && now - this.lastAttemptMs >= this.retryMs) {
      this.lastAttemptMs = now;
      this.inflight = this.refresh(kms, settings, now)
        .catch(onError)
        .finally(() => {
          this.inflight = undefined;
        });
    }
    if (this.inflight !== undefined) await this.inflight;
    const cur = this.current?.value ?? { hmac: [], tokens: [] };
    const prev = this.previous ?? { hmac: [], tokens: [] };
    return { hmac: union(cur.hmac, prev.hmac), tokens: union(cur.tokens, prev.tokens) };
  }

  private async refresh(kms: SecretReader, settings: WebhookSecretSettings, now: number): Promise<void> {
    const value = await resolveWebhookSecrets(kms, settings);
    this.previous = this.current?.value;
    this.current = { value, loadedAtMs: now };
  }
}
