/**
 * shared/alerts without KMS: the robots' signing (docs/alerting-and-events.md test vectors), our own
 * HMAC on every format, de-duplication and re-sending, recoveries, scope of a targeted check, the
 * log lines, and an outbound webhook that fails (retried once, logged, never thrown, secret unlogged).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AlertReport,
  buildAlertRequest,
  createAlertNotifier,
  deriveAlerts,
  noticeText,
  memoryAlertStateStore,
  noticeOf,
  webhookAlertSink,
  logAlertSink,
  type AlertStateStore,
} from '../../../shared/alerts/index.js';
import { parseConfig, type ConfigError } from '../../../shared/config/index.js';
import type { ActionResult } from '../../../shared/lifecycle/execute.js';
import type { Snapshot } from '../../../shared/lifecycle/model.js';
import { createLogger } from '../../../shared/log.js';
import { signWebhook } from '../../../shared/webhook/index.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2027-03-01T00:00:00Z');
const SECRET = 'SECexample0123456789';

const snapshot = (over: Partial<Snapshot> = {}): Snapshot => ({
  takenAtMs: T0,
  keys: [],
  aliases: {},
  escrow: {},
  escrowUnreadable: [],
  unobservable: [],
  instances: [],
  ...over,
});

const alertResult = (keyId: string, lineage: string, reason: string, severity: 'warning' | 'critical' = 'critical') =>
  ({
    action: { kind: 'alert', severity, keyId, lineage, reason },
    outcome: 'alerted',
    detail: reason,
    kmsRequestIds: [],
  }) as ActionResult;

const report: AlertReport = {
  notices: [
    noticeOf({ fingerprint: 'f1', severity: 'critical', keyId: 'key-1', problem: 'p', command: 'c' }, 'open', T0),
  ],
  open: [],
};

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ write: (l) => lines.push(JSON.parse(l)), nowMs: () => T0, level: 'debug' });
  return { lines, log };
}

describe('alerts from failed actions', () => {
  it('a PendingImport key whose re-import failed: exact message and the fixing command', () => {
    const failed = {
      action: { kind: 'reimport', keyId: 'key-9', lineage: 'pay', generation: 2, reason: 'material deleted' },
      outcome: 'failed',
      detail: 'KMS ImportKeyMaterial failed: Forbidden.NoPermission',
      errorCode: 'ERR_KMS_FORBIDDEN',
      kmsRequestIds: [],
    } as unknown as ActionResult;
    const [alert] = deriveAlerts(undefined, [failed], T0);
    expect(noticeText(alert!, 'open', T0)).toBe(
      '[CRITICAL] key key-9 (lineage pay): key is PendingImport and could not be repaired ' +
        '(ERR_KMS_FORBIDDEN: KMS ImportKeyMaterial failed: Forbidden.NoPermission) ' +
        '(since 2027-03-01T00:00:00.000Z). Fix: npm run ops -- reimport key-9',
    );
  });

  it('the same condition keeps its fingerprint while its numbers change', () => {
    const at = (days: number) => alertResult('k', 'l', `material expires in ${days} d (renew 7 d before)`);
    expect(deriveAlerts(undefined, [at(5)], T0)[0]!.fingerprint).toBe(
      deriveAlerts(undefined, [at(4)], T0)[0]!.fingerprint,
    );
  });
});

describe('signing', () => {
  it('DingTalk: timestamp (ms) and the URL-encoded Base64 sign in the URL (documented vector)', () => {
    const req = buildAlertRequest(
      'dingtalk',
      'https://oapi.dingtalk.com/robot/send?access_token=T',
      SECRET,
      report,
      1700000000000,
    );
    expect(req.url).toBe(
      'https://oapi.dingtalk.com/robot/send?access_token=T&timestamp=1700000000000' +
        '&sign=figG6qqCA%2FlRh0hsGCW2zNtNV5znkAFut5BI0zKhqnQ%3D',
    );
    expect(JSON.parse(req.body)).toEqual({ msgtype: 'text', text: { content: report.notices[0]!.text } });
  });

  it('Lark: timestamp (s) and sign in the body, string-to-sign as the HMAC key (documented vector)', () => {
    const req = buildAlertRequest(
      'lark',
      'https://open.feishu.cn/open-apis/bot/v2/hook/x',
      SECRET,
      report,
      1700000000000,
    );
    expect(JSON.parse(req.body)).toEqual({
      timestamp: '1700000000',
      sign: 'S7TuSij45SE3ul/eGkJ5Bwcxf8ZNyPIQzqpjNU85VYk=',
      msg_type: 'text',
      content: { text: report.notices[0]!.text },
    });
  });

  it('generic: Slack-compatible text plus fields, signed like our intake', () => {
    const req = buildAlertRequest('generic', 'https://hooks.example/x', SECRET, report, 1700000000000);
    const body = JSON.parse(req.body);
    expect(body.text).toBe('[CRITICAL] key key-1: p (since 2027-03-01T00:00:00.000Z). Fix: c');
    expect(body.notices[0]).toMatchObject({ kind: 'open', keyId: 'key-1', severity: 'critical', command: 'c' });
    expect(req.headers['x-byok-timestamp']).toBe('1700000000');
    expect(req.headers['x-byok-signature']).toBe(signWebhook(SECRET, 1700000000, req.body));
  });

  it('sends no signature headers without a secret', () => {
    const req = buildAlertRequest('generic', 'https://hooks.example/x', undefined, report, 1);
    expect(Object.keys(req.headers)).toEqual(['content-type']);
  });
});

describe('de-duplication, re-sending and recovery', () => {
  const sent: AlertReport[] = [];
  const notifier = (store: AlertStateStore) =>
    createAlertNotifier({
      store,
      sinks: [{ name: 'capture', deliver: async (r) => void sent.push(r) }],
      resendMs: { critical: 24 * HOUR, warning: 168 * HOUR },
      log: capture().log,
    });
  afterEach(() => {
    sent.length = 0;
  });
  const kinds = (notices: Array<{ kind: string }>) => notices.map((n) => n.kind);

  it('sends once, stays quiet, reminds on schedule by severity, then announces the recovery', async () => {
    const n = notifier(memoryAlertStateStore());
    const crit = alertResult(
      'key-1',
      'pay',
      'escrow record missing: the key cannot be restored if its material is lost',
    );
    const warn = alertResult(
      'key-2',
      'pay',
      'drift: alias/pay points at a key that is not part of the lineage',
      'warning',
    );
    const run = (at: number, results: ActionResult[]) => n.afterRun({ snapshot: snapshot(), results, nowMs: at });
    expect(kinds(await run(T0, [crit, warn]))).toEqual(['open', 'open']);
    expect(await run(T0 + 6 * HOUR, [crit, warn])).toEqual([]);
    const reminder = await run(T0 + 24 * HOUR, [crit, warn]);
    expect(reminder.map((x) => [x.kind, x.keyId, x.sinceMs])).toEqual([['reminder', 'key-1', T0]]);
    expect(reminder[0]!.text).toBe(
      `[CRITICAL] still open key key-1 (lineage pay): escrow record missing: the key cannot be ` +
        `restored if its material is lost (since ${new Date(T0).toISOString()}). Fix: npm run ops -- ` +
        `verify-escrow`,
    );
    expect(kinds(await run(T0 + 168 * HOUR, [crit, warn]))).toEqual(['reminder', 'reminder']);
    const gone = await run(T0 + 170 * HOUR, [warn]);
    expect(gone.map((x) => x.text)).toEqual([
      `[RESOLVED] key key-1 (lineage pay): escrow record missing: the key cannot be restored if its ` +
        `material is lost (open since ${new Date(T0).toISOString()}); nothing to do`,
    ]);
  });

  it('a targeted check recovers only its lineage; a skipped lineage is not declared recovered', async () => {
    const store = memoryAlertStateStore();
    const n = notifier(store);
    const a = alertResult('key-1', 'pay', 'escrow record missing: x');
    const b = alertResult('key-2', 'bill', 'escrow record missing: x');
    await n.afterRun({ snapshot: snapshot(), results: [a, b], nowMs: T0 });
    expect(await n.afterRun({ snapshot: snapshot(), results: [], nowMs: T0 + 1, lineage: 'bill' })).toHaveLength(1);
    const skipped = { ...a, action: { ...a.action, kind: 'renew' }, outcome: 'skipped' } as ActionResult;
    expect(await n.afterRun({ snapshot: snapshot(), results: [skipped], nowMs: T0 + 2 })).toEqual([]);
    expect(Object.values(store.state.open).map((x) => x.keyId)).toEqual(['key-1']);
  });

  it('another run that wrote the state first wins: this run sends nothing', async () => {
    const store = memoryAlertStateStore();
    const racing: AlertStateStore = { load: store.load, save: async () => false };
    expect(
      await notifier(racing).afterRun({ snapshot: snapshot(), results: [alertResult('k', 'l', 'r')], nowMs: T0 }),
    ).toEqual([]);
    expect(sent).toEqual([]);
  });

  it('without readable state every alert goes out as new (told twice rather than never)', async () => {
    const broken: AlertStateStore = {
      load: async () => {
        throw new Error('denied');
      },
      save: async () => true,
    };
    expect(
      kinds(
        await notifier(broken).afterRun({ snapshot: snapshot(), results: [alertResult('k', 'l', 'r')], nowMs: T0 }),
      ),
    ).toEqual(['open']);
    expect(sent).toHaveLength(1);
  });
});

describe('log sink', () => {
  it('one summary line per sweep and one line per open alert, with stable keys', async () => {
    const { lines, log } = capture();
    const n = createAlertNotifier({
      store: memoryAlertStateStore(),
      sinks: [logAlertSink(log)],
      resendMs: { critical: HOUR, warning: HOUR },
      log,
    });
    const snap = snapshot({
      keys: [
        {
          keyId: 'key-a',
          managed: true,
          state: 'Enabled',
          origin: 'EXTERNAL',
          phase: 'ready',
          materialExpireAtMs: T0 + 2.55 * 86_400_000,
        },
        { keyId: 'key-b', managed: true, state: 'PendingImport', origin: 'EXTERNAL', phase: 'ready' },
      ] as unknown as Snapshot['keys'],
    });
    await n.afterRun({
      snapshot: snap,
      results: [alertResult('key-b', 'pay', 'material gone and no escrow record: x')],
      nowMs: T0,
    });
    expect(lines.find((l) => l.byokEvent === 'sweep-summary')).toMatchObject({
      level: 'warn',
      minDaysLeft: 2.5,
      critical: 1,
      warning: 0,
      alerted: 1,
      failed: 0,
      unusableKeys: 'key-b',
    });
    expect(lines.find((l) => l.byokEvent === 'alert')).toMatchObject({
      level: 'error',
      alert: 'critical',
      keyId: 'key-b',
      lineage: 'pay',
      problem: 'material gone and no escrow record: x',
      command: 'bring the escrow record back (README "On call: from page to fix"), then npm run ops -- reimport key-b',
      since: new Date(T0).toISOString(),
      notice: 'open',
    });
  });
});

describe('outbound webhook', () => {
  it('retries a failed delivery once, logs it without the secret, and never throws', async () => {
    const statuses = [500, 500, 500, 200];
    let calls = 0;
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(statuses[calls++] ?? 200).end('ok'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook?access_token=tok-123`;
    const { lines, log } = capture();
    try {
      const sink = webhookAlertSink({ url, format: 'generic', secret: async () => SECRET, log, retryDelayMs: 1 });
      const n = createAlertNotifier({
        store: memoryAlertStateStore(),
        sinks: [sink],
        resendMs: { critical: 1, warning: 1 },
        log,
      });
      const first = await n.afterRun({ snapshot: snapshot(), results: [alertResult('k', 'l', 'r')], nowMs: T0 });
      expect(first).toHaveLength(1); // returned, although both attempts failed
      expect(calls).toBe(2);
      expect(lines.filter((l) => l.msg === 'alerts: webhook delivery failed').map((l) => l.attempt)).toEqual([1, 2]);
      expect(lines.find((l) => l.msg === 'alerts: delivery failed')).toMatchObject({ level: 'error' });
      await sink.deliver(report);
      expect(calls).toBe(4);
      expect(JSON.stringify(lines)).not.toContain(SECRET);
      expect(JSON.stringify(lines)).not.toContain('tok-123');
    } finally {
      server.close();
    }
  });

  it('treats a robot error answered with HTTP 200 as a failure (DingTalk errcode)', async () => {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200).end('{"errcode":310000,"errmsg":"sign not match"}'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/robot/send?access_token=t`;
    try {
      const sink = webhookAlertSink({
        url,
        format: 'dingtalk',
        secret: async () => SECRET,
        log: capture().log,
        retryDelayMs: 1,
      });
      await expect(sink.deliver(report)).rejects.toThrow(/robot answered code 310000: sign not match/);
    } finally {
      server.close();
    }
  });
});

describe('configuration', () => {
  const base = {
    BYOK_REGION: 'cn-hangzhou',
    BYOK_ESCROW_KEY_ID: 'key-escrow-0001',
    BYOK_KMS_INSTANCE_ID: 'kst-hzz65f176a0keys0001',
  };
  const problems = (env: Record<string, string>) => {
    try {
      parseConfig({ ...base, ...env });
    } catch (err) {
      return (err as ConfigError).problems.map((p) => p.message);
    }
    return [];
  };

  it('reads the alert webhook, its format and secret name, and re-send hours; redacts the URL', () => {
    const c = parseConfig({
      ...base,
      BYOK_ALERT_WEBHOOK_URL: 'https://oapi.dingtalk.com/robot/send?access_token=abc',
      BYOK_ALERT_WEBHOOK_FORMAT: 'dingtalk',
      BYOK_ALERT_WEBHOOK_SECRET_NAME: 'byok-alert-dingtalk',
      BYOK_ALERT_RESEND_HOURS: '12',
    });
    expect(c.alerts.webhook?.url.reveal()).toBe('https://oapi.dingtalk.com/robot/send?access_token=abc');
    expect(c.alerts.webhook?.format).toBe('dingtalk');
    expect(c.alerts.webhook?.secret).toEqual({ source: 'kms-secret', secretName: 'byok-alert-dingtalk' });
    expect(c.alerts.resendHours).toEqual({ critical: 12, warning: 168 });
    expect(JSON.stringify(c)).not.toContain('access_token=abc');
  });

  it('names each variable in its problem, never showing a secret', () => {
    expect(problems({ BYOK_ALERT_WEBHOOK_URL: 'ftp://x', BYOK_ALERT_WEBHOOK_FORMAT: 'teams' })).toEqual([
      'BYOK_ALERT_WEBHOOK_FORMAT: must be one of generic, dingtalk, lark, got "teams"',
      'BYOK_ALERT_WEBHOOK_URL: must be an http(s) URL such as ' +
        'https://oapi.dingtalk.com/robot/send?access_token=... (value not shown)',
    ]);
    expect(problems({ BYOK_ALERT_WEBHOOK_SECRET: 'short' })).toEqual([
      'BYOK_ALERT_WEBHOOK_SECRET: must be at least 16 characters (value not shown)',
      'BYOK_ALERT_WEBHOOK_SECRET: is set but BYOK_ALERT_WEBHOOK_URL is not: set the alert webhook URL too',
    ]);
    expect(problems({ BYOK_ALERT_RESEND_HOURS: '0' })).toEqual([
      'BYOK_ALERT_RESEND_HOURS: must be a whole number from 1 to 2160, got "0"',
    ]);
  });
});
