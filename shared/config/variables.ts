/**
 * The environment variables configuration reads, one name each (the table is in index.ts, which the
 * README copies), and which of them hold secrets.
 */

/** Every variable this module reads (plus BYOK_DEBUG, read by the CLI), for typo warnings. */
export const ConfigVariable = {
  Region: 'BYOK_REGION',
  KmsEndpoint: 'BYOK_KMS_ENDPOINT',
  KmsProtocol: 'BYOK_KMS_PROTOCOL',
  KmsMaxRps: 'BYOK_KMS_MAX_RPS',
  KmsConcurrency: 'BYOK_KMS_CONCURRENCY',
  KmsQpsShare: 'BYOK_KMS_QPS_SHARE',
  SweepShardLineages: 'BYOK_SWEEP_SHARD_LINEAGES',
  SweepParallelShards: 'BYOK_SWEEP_PARALLEL_SHARDS',
  EscrowVerifyDays: 'BYOK_ESCROW_VERIFY_DAYS',
  TagReconcileDays: 'BYOK_TAG_RECONCILE_DAYS',
  KmsInstanceId: 'BYOK_KMS_INSTANCE_ID',
  EscrowInstanceId: 'BYOK_ESCROW_INSTANCE_ID',
  AllowEscrowInKeyInstance: 'BYOK_ALLOW_ESCROW_IN_KEY_INSTANCE',
  EscrowBackend: 'BYOK_ESCROW_BACKEND',
  EscrowKeyId: 'BYOK_ESCROW_KEY_ID',
  EscrowDir: 'BYOK_ESCROW_DIR',
  EscrowMasterKeyFile: 'BYOK_ESCROW_MASTER_KEY_FILE',
  RecoveryPublicKeyFile: 'BYOK_RECOVERY_PUBLIC_KEY_FILE',
  LeaseKeyId: 'BYOK_LEASE_KEY_ID',
  LeaseTtlSeconds: 'BYOK_LEASE_TTL_SECONDS',
  AuditSink: 'BYOK_AUDIT_SINK',
  AuditFile: 'BYOK_AUDIT_FILE',
  PolicyValidityDays: 'BYOK_POLICY_VALIDITY_DAYS',
  PolicyRenewBeforeDays: 'BYOK_POLICY_RENEW_BEFORE_DAYS',
  PolicyRotateAfterDays: 'BYOK_POLICY_ROTATE_AFTER_DAYS',
  PolicyRetainPreviousDays: 'BYOK_POLICY_RETAIN_PREVIOUS_DAYS',
  PolicyReviveValidityDays: 'BYOK_POLICY_REVIVE_VALIDITY_DAYS',
  PolicyWrappingAlgorithm: 'BYOK_POLICY_WRAPPING_ALGORITHM',
  PolicyKeySpec: 'BYOK_POLICY_KEY_SPEC',
  PolicyOverrides: 'BYOK_POLICY_OVERRIDES',
  WebhookSecret: 'BYOK_WEBHOOK_SECRET',
  WebhookSecretName: 'BYOK_WEBHOOK_SECRET_NAME',
  WebhookUrlToken: 'BYOK_WEBHOOK_URL_TOKEN',
  WebhookUrlTokenName: 'BYOK_WEBHOOK_URL_TOKEN_NAME',
  SelfRoleNames: 'BYOK_SELF_ROLE_NAMES',
  SelfSessionNames: 'BYOK_SELF_SESSION_NAMES',
  AlertWebhookUrl: 'BYOK_ALERT_WEBHOOK_URL',
  AlertWebhookFormat: 'BYOK_ALERT_WEBHOOK_FORMAT',
  AlertWebhookSecret: 'BYOK_ALERT_WEBHOOK_SECRET',
  AlertWebhookSecretName: 'BYOK_ALERT_WEBHOOK_SECRET_NAME',
  AlertResendHours: 'BYOK_ALERT_RESEND_HOURS',
  AlertResendWarningHours: 'BYOK_ALERT_RESEND_WARNING_HOURS',
  Debug: 'BYOK_DEBUG',
  // Read by the CLI's remote mode and the local stack (scripts/), and BYOK_FC_ENDPOINT by the sweep's
  // coordinator (functions/sweep: the local FC host), listed so they are not typos.
  FcEndpoint: 'BYOK_FC_ENDPOINT',
  FcAccountId: 'BYOK_FC_ACCOUNT_ID',
  OpsFunction: 'BYOK_OPS_FUNCTION',
  Fc2Service: 'BYOK_FC2_SERVICE',
  LocalTimeUrl: 'BYOK_LOCAL_TIME_URL',
  // The CLI's STS endpoint for GetCallerIdentity (scripts/ops/identity.ts).
  StsEndpoint: 'BYOK_STS_ENDPOINT',
} as const;
/** A configuration variable name. */
export type ConfigVariable = (typeof ConfigVariable)[keyof typeof ConfigVariable];

/** Variables whose values are secrets: never echoed, never trimmed, never printed. */
export const SECRET_VARIABLES: ReadonlySet<string> = new Set([
  ConfigVariable.WebhookSecret,
  ConfigVariable.WebhookUrlToken,
  ConfigVariable.AlertWebhookSecret,
  // Robot URLs carry their access token (DingTalk ?access_token=, Lark /hook/<token>).
  ConfigVariable.AlertWebhookUrl,
]);
