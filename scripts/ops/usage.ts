/**
 * The ops CLI's command table (names, arguments, flags, one-line summaries) and the help texts
 * built from it. args.ts parses command lines against the same table.
 */

/** One flag: its long name, optional short letter, and whether it takes a value. */
export interface FlagSpec {
  name: string;
  short?: string;
  value?: 'string' | 'int';
  /** Placeholder in usage lines. */
  valueName?: string;
  help: string;
}

/** One command (`audit verify` and `audit tail` are two-word commands). */
export interface CommandSpec {
  name: string;
  args: string[];
  summary: string;
  flags: FlagSpec[];
  /** Extra help lines. */
  details?: string[];
}

/** Flags every command takes. */
export const COMMON_FLAGS: FlagSpec[] = [
  { name: 'json', help: 'print one JSON document on stdout' },
  { name: 'help', short: 'h', help: 'show help' },
];

const DOCTOR_DETAILS = [
  '',
  'One line per check: ok|warn|fail  <check>  <what it found>  [-> what to do]. Read-only: it calls',
  'only harmless reads and Encrypt/Decrypt of a random probe; write calls are never made, only',
  'compared with scripts/deploy/ram-policy-function.json. Direct mode probes with your credentials;',
  '--remote probes with the function role. Secret values are never printed.',
  '',
  'doctor exits 0 when every check is ok, 3 when some warn and none fails, 1 when any fails.',
];

const AUDIT_FILE_FLAG: FlagSpec = {
  name: 'file',
  value: 'string',
  valueName: 'path',
  help: 'audit file (default BYOK_AUDIT_FILE)',
};

/** Every command, in help order. */
export const COMMANDS: CommandSpec[] = [
  {
    name: 'status',
    args: [],
    summary: 'every lineage and EXTERNAL key: generation, state, expiry, days left, escrow, next action',
    flags: [],
  },
  { name: 'plan', args: [], summary: 'dry run: what the next sweep would do, and why', flags: [] },
  {
    name: 'sweep',
    args: [],
    summary: 'apply the plan now (renew, re-import, rotate, ...); progress on stderr',
    flags: [],
  },
  {
    name: 'onboard',
    args: ['alias'],
    summary: 'create generation 1 of a lineage: EXTERNAL CMK, fresh material, escrow, import, alias',
    flags: [
      {
        name: 'validity-days',
        value: 'int',
        valueName: 'days',
        help: 'Valid Until of each import for this lineage, days (default: policy)',
      },
      {
        name: 'key-spec',
        value: 'string',
        valueName: 'spec',
        help: 'Aliyun_AES_256 (default), Aliyun_AES_192, Aliyun_AES_128 or Aliyun_SM4',
      },
    ],
  },
  {
    name: 'adopt',
    args: ['key'],
    summary: 'take an EXTERNAL key whose material you imported by hand under management (direct mode)',
    flags: [
      {
        name: 'material-file',
        value: 'string',
        valueName: 'path',
        help: 'the raw material (KeyMaterial.bin: 16/24/32 bytes, or its Base64); read once, never logged',
      },
      { name: 'alias', value: 'string', valueName: 'alias', help: 'the lineage: alias/<name> or <name> (required)' },
    ],
    details: [
      '',
      "Proves the material is the key's own by re-importing it with the key's current Valid Until (KMS",
      'refuses other material: exit 1, nothing changed), then escrows it and reads it back, tags the key',
      '(generation 1, or the next of an existing lineage; phase ready) and points the alias at it. Only an',
      'Enabled key is adopted. The wrapped form (EncryptedKeyMaterial_base64.txt + import token, or JSON',
      '{"encryptedKeyMaterial","importToken"}) is refused: only KMS can unwrap it, and escrow needs the raw',
      'material. Runs in direct mode only (the material never travels to the ops function). On success the',
      'output says how to destroy your copy (shred -u <path>).',
    ],
  },
  {
    name: 'renew',
    args: ['alias|key'],
    summary: 're-import the escrowed material now with a fresh Valid Until',
    flags: [],
  },
  { name: 'rotate', args: ['alias'], summary: 'create the next generation, self-test it, move the alias', flags: [] },
  {
    name: 'reimport',
    args: ['key'],
    summary:
      're-import escrowed material into a key in PendingImport (not a revoked one: use restore); ' +
      'a retired one is revived for reviveValidityDays',
    flags: [],
  },
  {
    name: 'revoke',
    args: ['key'],
    summary: 'crypto-shred: hold the key and delete its material (escrow is kept for restore)',
    flags: [
      {
        name: 'confirm',
        value: 'string',
        valueName: 'key',
        help: 'the key id again; without it nothing is changed (exit 4)',
      },
    ],
  },
  {
    name: 'retire',
    args: ['key'],
    summary: 'stop renewing a superseded generation (its material lapses; reimport revives it for a while)',
    flags: [
      {
        name: 'confirm',
        value: 'string',
        valueName: 'key',
        help: 'the key id again; without it nothing is changed (exit 4)',
      },
    ],
  },
  {
    name: 'restore',
    args: ['key'],
    summary: 'clear a revoke/disable hold and re-import the escrowed material',
    flags: [],
  },
  {
    name: 'verify-escrow',
    args: [],
    summary: 'read every escrow record back and compare it with the key fingerprint tag',
    flags: [],
  },
  {
    name: 'doctor',
    args: [],
    summary:
      'check a deployment before trusting it: credentials, instances, gateway, escrow keys, RAM, webhook secrets',
    flags: [],
    details: DOCTOR_DETAILS,
  },
  {
    name: 'audit verify',
    args: [],
    summary: 'walk the audit JSONL file and report the first broken or missing link',
    flags: [AUDIT_FILE_FLAG],
  },
  {
    name: 'audit tail',
    args: [],
    summary: 'show the last audit events',
    flags: [
      { name: 'lines', short: 'n', value: 'int', valueName: 'n', help: 'how many events (default 20)' },
      AUDIT_FILE_FLAG,
    ],
  },
  { name: 'config', args: [], summary: 'print the effective configuration (secrets redacted) and warnings', flags: [] },
  {
    name: 'report',
    args: [],
    summary: 'write one self-contained HTML page: every lineage as a timeline, alerts, unmanaged keys, instances',
    flags: [
      { name: 'html', value: 'string', valueName: 'file', help: 'where to write the page (required)' },
      {
        name: 'audit-file',
        value: 'string',
        valueName: 'path',
        help: 'audit JSONL for the timelines (default BYOK_AUDIT_FILE; --local: all audit files of the stack)',
      },
    ],
    details: [
      '',
      'Read-only. The page has no script and loads nothing from elsewhere: it opens offline and prints (one',
      'lineage per page block). Timelines: generations, material validity windows, renewals, rotations,',
      're-imports and incidents from the audit events, today, days left. With --remote the ops function reads',
      'the keys and alerts; its audit events are in Log Service, so the timelines show events only from an',
      '--audit-file you pass (an export of the logstore as JSONL). Exit 0 once the page is written.',
    ],
  },
];

const EXIT_CODE_HELP = [
  'Exit codes:',
  '  0  ok',
  '  1  failure (an action failed, KMS/escrow error, verification failed)',
  '  2  usage or configuration error',
  '  3  alert-worthy: a critical alert is raised, or status shows an UNUSABLE key (nothing failed)',
  '  4  refused, nothing changed: confirmation required, or the lineage is leased by another run',
  "  5  partial: some actions done, others skipped under another run's lease (rerun later)",
  '  6  done, but a step needs a person (e.g. enable a Disabled key by hand)',
];

// ---------------------------------------------------------------------------------------------
// Help

/** `name <args>` without flags: the global list stays narrow; `<command> --help` shows the flags. */
function synopsisOf(c: CommandSpec): string {
  return [c.name, ...c.args.map((a) => `<${a}>`)].join(' ');
}

const CREDENTIALS_HELP = [
  'Credentials (direct and remote mode), as the Alibaba Cloud tools find them (@alicloud/credentials):',
  '  --profile <name>   that profile of ~/.aliyun/config.json (the aliyun CLI configuration), first;',
  '  else ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET (/ ALIBABA_CLOUD_SECURITY_TOKEN); else OIDC/RRSA',
  '  (ALIBABA_CLOUD_ROLE_ARN, _OIDC_PROVIDER_ARN, _OIDC_TOKEN_FILE); else the profile ALIBABA_CLOUD_PROFILE',
  '  or the current one of ~/.aliyun/config.json (AK, StsToken, RamRoleArn = STS assume-role, EcsRamRole,',
  '  OIDC, ...); else the ECS RAM role ALIBABA_CLOUD_ECS_METADATA; else ALIBABA_CLOUD_CREDENTIALS_URI.',
  '  Audit events name you by the ARN STS GetCallerIdentity returns (BYOK_STS_ENDPOINT overrides',
  '  sts.aliyuncs.com); if it cannot be asked, by the access key id marked unverified:. --local uses the',
  "  local stack's test credentials (no --profile).",
];

/** `npm run ops -- --help`. */
export function globalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => synopsisOf(c).length));
  return [
    'Usage: npm run ops -- [--remote [--fc2]] [--local [--state-dir <dir>]] [--profile <name>] <command> [args]',
    '       [--json] [--help]',
    '',
    'On-call CLI for the BYOK orchestrator. Direct mode (default) runs the engine in-process with your',
    'own credentials and the BYOK_* configuration (see the README). BYOK_DEBUG=1 shows stack traces.',
    '',
    ...CREDENTIALS_HELP,
    '',
    'Modes:',
    '  --remote   invoke the deployed ops function instead (FC 3.0 invoke API; BYOK_FC_ACCOUNT_ID,',
    '             BYOK_REGION, optional BYOK_FC_ENDPOINT and BYOK_OPS_FUNCTION)',
    '  --fc2      with --remote: use the FC 2.0 API (@alicloud/fc2; BYOK_FC2_SERVICE)',
    '  --local    read the settings `npm start` wrote to <state dir>/cli.env (the local stack); the state dir',
    '             is --state-dir <dir>, else BYOK_LOCAL_STATE_DIR, else .local (as npm start --state-dir)',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${synopsisOf(c).padEnd(width)}  ${c.summary}`),
    '',
    'Run "npm run ops -- <command> --help" for a command\'s flags.',
    '',
    ...EXIT_CODE_HELP,
    '',
  ].join('\n');
}

const valuePart = (f: FlagSpec): string => (f.value ? ` <${f.valueName ?? 'value'}>` : '');

function usageOf(c: CommandSpec): string {
  const flags = c.flags.map((f) => `[--${f.name}${valuePart(f)}]`);
  return [c.name, ...c.args.map((a) => `<${a}>`), ...flags].join(' ');
}

/** `npm run ops -- <command> --help`. */
export function commandHelp(c: CommandSpec): string {
  const flags = [...c.flags, ...COMMON_FLAGS];
  return [
    `Usage: npm run ops -- ${usageOf(c)} [--json]`,
    '',
    c.summary,
    ...(c.details ?? []),
    '',
    'Flags:',
    ...flags.map((f) => `  ${`--${f.name}${f.short ? `, -${f.short}` : ''}${valuePart(f)}`.padEnd(24)}${f.help}`),
    '',
    ...EXIT_CODE_HELP,
    '',
  ].join('\n');
}
