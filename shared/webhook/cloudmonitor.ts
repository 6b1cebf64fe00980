/**
 * CloudMonitor threshold-alarm callbacks (docs/fc-runtime.md §7.1): `application/x-www-form-urlencoded`,
 * every value a string, absent values as the literal `"null"`, `dimensions` as JSON or as a Java map
 * `{k=v, k2=v2}`, `alertState` `ALERT` (doc table) or `ALARM` (doc sample) or `OK` /
 * `INSUFFICIENT_DATA`.
 */
import { createHash } from 'node:crypto';
import { invalidInput } from '../errors.js';
import {
  Severity,
  WebhookSource,
  cleanReason,
  describeTarget,
  isRecord,
  str,
  targetFromKeyRef,
  unknownPayload,
  type IntentKind,
  type ParsedWebhook,
  type WebhookTarget,
} from './intents.js';

/** Parses CloudMonitor `dimensions`: JSON (object or array of objects) or Java map `{k=v, k2=v2}`. */
export function parseCloudMonitorDimensions(raw: string | undefined): Record<string, string> {
  if (raw === undefined) return {};
  const text = raw.trim();
  try {
    const json: unknown = JSON.parse(text);
    const items = Array.isArray(json) ? json : [json];
    const out: Record<string, string> = {};
    for (const item of items) {
      if (!isRecord(item)) continue;
      for (const [k, v] of Object.entries(item)) if (typeof v === 'string' || typeof v === 'number') out[k] = String(v);
    }
    return out;
  } catch {
    const inner = text.replace(/^\{/, '').replace(/\}$/, '');
    const out: Record<string, string> = {};
    for (const pair of inner.split(',')) {
      const eq = pair.indexOf('=');
      if (eq > 0) out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
    }
    return out;
  }
}

const ALERT_STATES = new Set(['ALERT', 'ALARM']);
const SEVERITY_OF_LEVEL: Record<string, Severity> = {
  CRITICAL: 'critical',
  WARN: 'warning',
  WARNING: 'warning',
  INFO: 'info',
};

/** One CloudMonitor callback (the decoded form) -> intents: alert + check on ALERT, check on INSUFFICIENT_DATA. */
export function parseCloudMonitor(form: URLSearchParams): ParsedWebhook {
  const field = (name: string): string | undefined => str(form.get(name) ?? undefined);
  const alertName = field('alertName');
  if (alertName === undefined) throw unknownPayload('CloudMonitor callback without alertName');
  const alertState = field('alertState')?.toUpperCase();
  if (alertState === undefined) throw unknownPayload('CloudMonitor callback without alertState');

  const dims = parseCloudMonitorDimensions(field('dimensions'));
  const keyRef = dims['keyId'] ?? dims['KeyId'] ?? dims['key_id'];
  const aliasRef = dims['alias'] ?? dims['aliasName'] ?? dims['AliasName'];
  const target: WebhookTarget = (keyRef && targetFromKeyRef(keyRef)) ||
    (aliasRef && targetFromKeyRef(aliasRef)) || { all: true };

  const ruleOrName = field('ruleId') ?? alertName;
  const timestamp = field('timestamp') ?? '';
  // Alerts of one rule for different resources are different deliveries: the resource (dimensions,
  // instance name) is part of the identity. `transId` is not: whether it is stable across
  // CloudMonitor's retries is undocumented (docs/alerting-and-events.md §7), and a retry must match.
  const resource = createHash('sha256')
    .update(
      JSON.stringify([Object.entries(dims).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)), field('instanceName')]),
    )
    .digest('hex')
    .slice(0, 16);
  const dedupe = (kind: IntentKind) => `cloudmonitor:${ruleOrName}:${timestamp}:${alertState}:${resource}:${kind}`;
  const metric = [field('namespace') ?? field('metricProject'), field('metricName')].filter(Boolean).join('/');
  const reason = cleanReason(
    `CloudMonitor ${alertState} ${alertName}${metric ? ` (${metric}` : ''}` +
      `${field('expression') ? ` ${field('expression')}` : ''}` +
      `${field('curValue') ? `, current ${field('curValue')}` : ''}${metric ? ')' : ''} for ${describeTarget(target)}`,
  );
  const base = { target, reason, source: WebhookSource.CloudMonitor };

  if (ALERT_STATES.has(alertState)) {
    const severity = SEVERITY_OF_LEVEL[field('triggerLevel')?.toUpperCase() ?? ''] ?? Severity.Warning;
    return {
      source: WebhookSource.CloudMonitor,
      intents: [
        { ...base, kind: 'alert', severity, dedupeKey: dedupe('alert') },
        { ...base, kind: 'check', dedupeKey: dedupe('check') },
      ],
      ignored: [],
    };
  }
  if (alertState === 'INSUFFICIENT_DATA') {
    return {
      source: WebhookSource.CloudMonitor,
      intents: [{ ...base, kind: 'check', dedupeKey: dedupe('check') }],
      ignored: [],
    };
  }
  if (alertState === 'OK')
    return { source: WebhookSource.CloudMonitor, intents: [], ignored: [`CloudMonitor ${alertName}: back to OK`] };
  throw invalidInput('alertState', 'must be ALERT, ALARM, OK or INSUFFICIENT_DATA');
}
