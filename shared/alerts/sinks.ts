/**
 * The alert sinks: the log (Log Service indexes its JSON lines; scripts/deploy/sls-alert-rule.json
 * pages on them) and an outbound webhook (`generic` Slack-compatible JSON, `dingtalk`, `lark`),
 * HMAC-signed like our intake (x-byok-timestamp, x-byok-signature: v1=hex HMAC-SHA256(secret,
 * "<ts>.<body>")) plus each robot's own signing (docs/alerting-and-events.md §1.2, §2.2).
 * The secret is never logged; a failed delivery is logged and retried once.
 */
import { createHmac } from 'node:crypto';
import type { Logger } from '../log.js';
import type { AlertReport, AlertSink } from './notifier.js';

/** Log lines: stable keys, one `sweep-summary` per sweep and one `alert` per open alert or notice. */
export function logAlertSink(log: Logger): AlertSink {
  return {
    name: 'log',
    async deliver({ notices, open, summary }) {
      if (summary) {
        const { counts, unusableKeys, ...rest } = summary;
        const fields = { byokEvent: 'sweep-summary', ...rest, ...counts, unusableKeys: unusableKeys.join(' ') };
        log[summary.critical > 0 || unusableKeys.length > 0 ? 'warn' : 'info']('alerts: sweep summary', fields);
      }
      const noticed = new Map(notices.map((n) => [n.fingerprint, n]));
      const lines = summary ? open : open.filter((a) => noticed.has(a.fingerprint));
      for (const a of lines) {
        const n = noticed.get(a.fingerprint);
        const fields = {
          byokEvent: 'alert',
          alert: a.severity,
          fingerprint: a.fingerprint,
          keyId: a.keyId,
          lineage: a.lineage,
          instanceId: a.instanceId,
          problem: a.problem,
          command: a.command,
          since: new Date(a.sinceMs).toISOString(),
          notice: n?.kind ?? 'none',
        };
        if (a.severity === 'critical') log.error('alerts: alert', undefined, fields);
        else log.warn('alerts: alert', fields);
      }
      for (const n of notices.filter((x) => x.kind === 'recovered')) {
        const since = new Date(n.sinceMs).toISOString();
        log.info('alerts: recovered', {
          byokEvent: 'alert-recovered',
          fingerprint: n.fingerprint,
          keyId: n.keyId,
          since,
        });
      }
    },
  };
}

/** Outbound webhook formats. */
export const AlertWebhookFormat = { Generic: 'generic', DingTalk: 'dingtalk', Lark: 'lark' } as const;
/** An outbound webhook format. */
export type AlertWebhookFormat = (typeof AlertWebhookFormat)[keyof typeof AlertWebhookFormat];

/** One HTTP request of a delivery. */
export interface OutboundRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** The message text of a report: one line per notice. */
export function reportText(report: AlertReport): string {
  return report.notices.map((n) => n.text).join('\n');
}

/** Builds the signed request (pure; `nowMs` is the wall clock). */
export function buildAlertRequest(
  format: AlertWebhookFormat,
  url: string,
  secret: string | undefined,
  report: AlertReport,
  nowMs: number,
): OutboundRequest {
  const text = reportText(report);
  let target = url;
  let payload: Record<string, unknown>;
  if (format === AlertWebhookFormat.DingTalk) {
    payload = { msgtype: 'text', text: { content: text } };
    if (secret) {
      const ts = String(nowMs);
      const sign = createHmac('sha256', secret).update(`${ts}\n${secret}`).digest('base64');
      target = `${url}${url.includes('?') ? '&' : '?'}timestamp=${ts}&sign=${encodeURIComponent(sign)}`;
    }
  } else if (format === AlertWebhookFormat.Lark) {
    payload = { msg_type: 'text', content: { text } };
    if (secret) {
      const timestamp = String(Math.floor(nowMs / 1000));
      const sign = createHmac('sha256', `${timestamp}\n${secret}`).update('').digest('base64');
      payload = { timestamp, sign, ...payload };
    }
  } else {
    const notices = report.notices.map(({ text: line, ...n }) => ({
      ...n,
      since: new Date(n.sinceMs).toISOString(),
      text: line,
    }));
    payload = { text, notices, ...(report.summary ? { summary: report.summary } : {}) };
  }
  const body = JSON.stringify(payload);
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
  if (secret) {
    const ts = String(Math.floor(nowMs / 1000));
    headers['x-byok-timestamp'] = ts;
    headers['x-byok-signature'] = `v1=${createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}`;
  }
  return { url: target, headers, body };
}

/** Throws unless the answer is a success in the format's terms (robots answer errors with HTTP 200). */
function checkAnswer(format: AlertWebhookFormat, status: number, text: string): void {
  if (status < 200 || status >= 300) throw new Error(`HTTP ${status}`);
  if (format === AlertWebhookFormat.Generic) return;
  let answer: { errcode?: number; code?: number; StatusCode?: number; errmsg?: string; msg?: string } = {};
  try {
    answer = JSON.parse(text) as typeof answer;
  } catch {
    throw new Error(`HTTP ${status} with a body that is not JSON`);
  }
  const code = format === AlertWebhookFormat.DingTalk ? answer.errcode : (answer.code ?? answer.StatusCode);
  if (code !== 0) throw new Error(`robot answered code ${code}: ${answer.errmsg ?? answer.msg ?? ''}`);
}

/** The outbound webhook sink. Sends nothing when no notice is due. */
export function webhookAlertSink(options: {
  url: string;
  format: AlertWebhookFormat;
  /** Resolved when needed (a KMS secret); undefined = unsigned. */
  secret: () => Promise<string | undefined>;
  log: Logger;
  timeoutMs?: number;
  /** Wall clock for signatures; default Date.now. */
  nowMs?: () => number;
  /** Pause before the one retry; default 1 s. */
  retryDelayMs?: number;
}): AlertSink {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const nowMs = options.nowMs ?? Date.now;
  const host = safeHost(options.url);
  return {
    name: `webhook ${options.format} ${host}`,
    async deliver(report) {
      if (report.notices.length === 0) return;
      const secret = await options.secret();
      for (let attempt = 1; attempt <= 2; attempt++) {
        const req = buildAlertRequest(options.format, options.url, secret, report, nowMs());
        try {
          const res = await fetch(req.url, {
            method: 'POST',
            headers: req.headers,
            body: req.body,
            signal: AbortSignal.timeout(timeoutMs),
          });
          checkAnswer(options.format, res.status, await res.text());
          options.log.info('alerts: webhook delivered', { host, notices: report.notices.length, attempt });
          return;
        } catch (err) {
          const why = err instanceof Error ? err.message : String(err);
          options.log.warn('alerts: webhook delivery failed', { host, attempt, reason: why });
          if (attempt === 2) throw new Error(`alert webhook ${host}: ${why}`);
          await new Promise((r) => setTimeout(r, options.retryDelayMs ?? 1_000));
        }
      }
    },
  };
}

/** The URL's host only: robot URLs carry their access token in the path or query. */
function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid-url';
  }
}
