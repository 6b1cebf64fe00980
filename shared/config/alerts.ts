/**
 * Alert configuration: the outbound webhook (URL, format, signing secret as a value or a KMS secret
 * name) and how often an open alert is sent again while it lasts.
 */
import { MIN_SECRET_CHARS, type Reader } from './reader.js';
import { AlertWebhookFormatChoice, DEFAULT_ALERT_RESEND_HOURS, Range, SecretString, type Config } from './schema.js';
import { parseSecretSetting } from './secrets.js';
import { ConfigVariable as V } from './variables.js';

/** Reads the BYOK_ALERT_* variables. */
export function parseAlerts(r: Reader): Config['alerts'] {
  const url = r.raw(V.AlertWebhookUrl);
  const format = r.oneOf(V.AlertWebhookFormat, Object.values(AlertWebhookFormatChoice), 'generic');
  const secret = parseSecretSetting(
    r,
    V.AlertWebhookSecret,
    V.AlertWebhookSecretName,
    /^[\s\S]+$/,
    `at least ${MIN_SECRET_CHARS} characters`,
  );
  const range = Range.alertResendHours;
  const critical = r.int(V.AlertResendHours, range, DEFAULT_ALERT_RESEND_HOURS.critical);
  const warning = r.int(V.AlertResendWarningHours, range, DEFAULT_ALERT_RESEND_HOURS.warning);
  let webhook: Config['alerts']['webhook'];
  if (url !== undefined) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')) {
      r.fail(
        V.AlertWebhookUrl,
        'must be an http(s) URL such as https://oapi.dingtalk.com/robot/send?access_token=... (value not shown)',
      );
    } else if (format !== undefined) {
      if (parsed.protocol === 'http:' && !['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname))
        r.warnings.push(`${V.AlertWebhookUrl} is plain http: alerts travel unencrypted; use https`);
      webhook = { url: new SecretString(url), format, ...(secret ? { secret } : {}) };
    }
  } else {
    for (const v of [V.AlertWebhookFormat, V.AlertWebhookSecret, V.AlertWebhookSecretName]) {
      if (r.isSet(v)) r.fail(v, `is set but ${V.AlertWebhookUrl} is not: set the alert webhook URL too`);
    }
  }
  return {
    ...(webhook ? { webhook } : {}),
    resendHours: {
      critical: critical ?? DEFAULT_ALERT_RESEND_HOURS.critical,
      warning: warning ?? DEFAULT_ALERT_RESEND_HOURS.warning,
    },
  };
}
