import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseSYaml, resolveResources } from '../../../scripts/deploy/s-yaml.js';
import { calledKmsMethods, kmsPortMethods } from '../../support/kms-calls.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

interface Statement {
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource?: string | string[];
  Principal?: Record<string, string[]>;
  Condition?: Record<string, Record<string, string | string[]>>;
}
interface PolicyDocument {
  Version: string;
  Statement: Statement[];
}

function loadPolicy(name: string): PolicyDocument {
  return JSON.parse(readFileSync(`${root}scripts/deploy/${name}`, 'utf8')) as PolicyDocument;
}

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const actionsOf = (p: PolicyDocument): string[] => p.Statement.flatMap((s) => list(s.Action));
/** What the policy lets through: its Allow statements only (a Deny grants nothing). */
const allowsOf = (p: PolicyDocument): PolicyDocument => ({
  ...p,
  Statement: p.Statement.filter((s) => s.Effect === 'Allow'),
});
const resourcesOf = (p: PolicyDocument): string[] => p.Statement.flatMap((s) => list(s.Resource));

/** RAM wildcard match: `*` any run of characters, `?` one character (case-insensitive, as RAM compares actions). */
function wildcardMatches(pattern: string, value: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  );
  return re.test(value);
}

/** Every Allow action of the policy that grants `action` (exactly or by wildcard). */
function grants(policy: PolicyDocument, action: string): boolean {
  return policy.Statement.some((s) => s.Effect === 'Allow' && list(s.Action).some((a) => wildcardMatches(a, action)));
}

/** camelCase port method -> KMS API action (`getParametersForImport` -> `kms:GetParametersForImport`). */
const kmsActionOf = (method: string): string => `kms:${method.charAt(0).toUpperCase()}${method.slice(1)}`;

/** KMS actions the role needs beyond the port's own calls, with the reason. */
const IMPLIED_KMS_ACTIONS = {
  // Secrets Manager encrypts each secret version under the escrow CMK on the caller's behalf.
  'kms:GenerateDataKey': 'CreateSecret / PutSecretValue with a customer CMK',
} as const;

const functionPolicy = loadPolicy('ram-policy-function.json');
const oncallPolicy = loadPolicy('ram-policy-oncall.json');
const escrowGuardPolicy = loadPolicy('ram-policy-escrow-guard.json');
const trustPolicy = loadPolicy('trust-policy-fc.json');
const permissionPolicies = {
  'ram-policy-function.json': functionPolicy,
  'ram-policy-oncall.json': oncallPolicy,
  'ram-policy-escrow-guard.json': escrowGuardPolicy,
};

/**
 * The escrow guard: nobody may add a version to an escrow secret, move its stages or delete it.
 * The product writes each escrow secret once, with CreateSecret; Secrets Manager keeps at most 10
 * versions and drops the oldest, so stray versions would push the escrowed one out.
 */
const ESCROW_GUARD: Statement = {
  Effect: 'Deny',
  Action: ['kms:PutSecretValue', 'kms:UpdateSecretVersionStage', 'kms:DeleteSecret'],
  Resource: 'acs:kms:*:*:secret/byok-escrow/*',
};

const resolved = resolveResources(parseSYaml(readFileSync(`${root}s.yaml`, 'utf8')), {
  env: {
    BYOK_ESCROW_KEY_ID: 'key-escrow-test',
    BYOK_KMS_INSTANCE_ID: 'kst-hzz65f176a0keys0001',
    BYOK_ESCROW_INSTANCE_ID: 'kst-hzz65f176a0escrow01',
  },
  config: { AccountID: '1234567890123456' },
});

describe('RAM permission policies', () => {
  for (const [name, policy] of Object.entries(permissionPolicies)) {
    it(`${name} is RAM policy Version "1" whose only Deny is the escrow guard`, () => {
      expect([policy.Version, policy.Statement.filter((s) => s.Effect !== 'Allow')]).toEqual(['1', [ESCROW_GUARD]]);
    });

    it(`${name} uses only kms:, fc:, log: and mns: actions`, () => {
      expect(actionsOf(policy).filter((a) => !/^(kms|fc|log|mns):[A-Za-z*]+$/.test(a))).toEqual([]);
    });

    it(`${name} grants no all-actions wildcard ("*" or "<service>:*")`, () => {
      expect(actionsOf(policy).filter((a) => a === '*' || /:\*$/.test(a))).toEqual([]);
    });

    it(`${name} gives every statement a resource`, () => {
      expect(policy.Statement.filter((s) => list(s.Resource).length === 0)).toEqual([]);
    });
  }
});

describe('function role policy and the code cannot drift', () => {
  it("reads the KmsPort methods and the product's call sites (guards the parsers themselves)", () => {
    expect(kmsPortMethods()).toContain('getParametersForImport');
    expect(calledKmsMethods()).toEqual(
      expect.arrayContaining(['importKeyMaterial', 'getParametersForImport', 'putSecretValue', 'createKey']),
    );
    expect(calledKmsMethods()).not.toContain('scheduleKeyDeletion'); // the product never deletes keys
  });

  it('grants every KMS action the product calls', () => {
    const missing = calledKmsMethods()
      .map(kmsActionOf)
      .filter((a) => !grants(functionPolicy, a));
    expect(missing).toEqual([]);
  });

  it("grants no KMS action that neither the product's calls nor Secrets Manager need", () => {
    const needed = new Set([...calledKmsMethods().map(kmsActionOf), ...Object.keys(IMPLIED_KMS_ACTIONS)]);
    const extra = actionsOf(allowsOf(functionPolicy)).filter((a) => a.startsWith('kms:') && !needed.has(a));
    expect(extra).toEqual([]);
  });

  it('a policy without ImportKeyMaterial would fail the coverage check', () => {
    const trimmed: PolicyDocument = {
      ...functionPolicy,
      Statement: functionPolicy.Statement.map((s) => ({
        ...s,
        Action: list(s.Action).filter((a) => a !== 'kms:ImportKeyMaterial'),
      })),
    };
    expect(
      calledKmsMethods()
        .map(kmsActionOf)
        .filter((a) => !grants(trimmed, a)),
    ).toEqual(['kms:ImportKeyMaterial']);
  });

  it('scopes every material-changing and crypto action on keys to the byok:managed tag', () => {
    const writes = [
      'kms:GetParametersForImport',
      'kms:ImportKeyMaterial',
      'kms:DeleteKeyMaterial',
      'kms:ScheduleKeyDeletion',
      'kms:Encrypt',
    ];
    const unscoped = writes.filter((action) =>
      functionPolicy.Statement.some(
        (s) => list(s.Action).includes(action) && s.Condition?.['StringEquals']?.['kms:tag/byok:managed'] !== 'true',
      ),
    );
    expect(unscoped).toEqual([]);
  });

  it('scopes secret access to secrets named byok-*', () => {
    const secretActions = ['kms:CreateSecret', 'kms:GetSecretValue', 'kms:PutSecretValue', 'kms:DeleteSecret'];
    const resources = allowsOf(functionPolicy)
      .Statement.filter((s) => list(s.Action).some((a) => secretActions.includes(a)))
      .map((s) => s.Resource);
    expect(resources).toEqual(['acs:kms:*:*:secret/byok-*']);
  });

  it('lets the functions write to exactly the logstore s.yaml configures', () => {
    const log = resolved['byok_sweep']?.props['logConfig'] as { project: string; logstore: string };
    const logResources = functionPolicy.Statement.filter((s) =>
      list(s.Action).includes('log:PostLogStoreLogs'),
    ).flatMap((s) => list(s.Resource));
    expect(logResources).toEqual([`acs:log:*:*:project/${log.project}/logstore/${log.logstore}`]);
  });

  it('lets the functions send to exactly the failed-sweep queue s.yaml names (async destination)', () => {
    const async = resolved['byok_sweep']?.props['asyncInvokeConfig'] as {
      destinationConfig: { onFailure: { destination: string } };
    };
    const queue = /:(\/queues\/[^/]+\/messages)$/.exec(async.destinationConfig.onFailure.destination)?.[1];
    const mns = functionPolicy.Statement.filter((s) => list(s.Action).includes('mns:SendMessage'));
    expect(mns.flatMap((s) => list(s.Resource))).toEqual([`acs:mns:*:*:${queue}`]);
  });
});

describe('on-call policy', () => {
  it('invokes only the ops function s.yaml deploys', () => {
    const invoke = oncallPolicy.Statement.filter((s) => list(s.Action).includes('fc:InvokeFunction')).flatMap((s) =>
      list(s.Resource),
    );
    expect(invoke).toEqual([`acs:fc:*:*:functions/${String(resolved['byok_ops']?.props['functionName'])}`]);
  });

  it('grants KMS read actions only (Describe*/List*), never a secret value', () => {
    const kms = actionsOf(allowsOf(oncallPolicy)).filter((a) => a.startsWith('kms:'));
    expect([kms, grants(oncallPolicy, 'kms:GetSecretValue'), grants(oncallPolicy, 'kms:DeleteKeyMaterial')]).toEqual([
      ['kms:Describe*', 'kms:List*'],
      false,
      false,
    ]);
  });

  it('reads the function logstore only', () => {
    const logResources = oncallPolicy.Statement.filter((s) => list(s.Action).some((a) => a.startsWith('log:'))).flatMap(
      (s) => list(s.Resource),
    );
    expect(logResources).toEqual(['acs:log:*:*:project/byok-orchestrator/logstore/byok-functions']);
  });
});

describe('escrow guard (no stray versions on escrow secrets)', () => {
  const escrowArn = 'acs:kms:cn-hangzhou:1234567890123456:secret/byok-escrow/key-hzz62f1cb66fa42qo0001';
  const leaseArn = 'acs:kms:cn-hangzhou:1234567890123456:secret/byok-lease/payments';
  const denies = (policy: PolicyDocument, action: string, arn: string): boolean =>
    policy.Statement.some(
      (s) =>
        s.Effect === 'Deny' &&
        list(s.Action).some((a) => wildcardMatches(a, action)) &&
        list(s.Resource).some((r) => wildcardMatches(r, arn)),
    );

  it('ships the guard as a Deny-only policy to attach to every other principal', () => {
    expect(escrowGuardPolicy).toEqual({ Version: '1', Statement: [ESCROW_GUARD] });
  });

  it(
    'is part of the function role policy and the on-call policy ' +
      '(an explicit Deny beats any other Allow they hold)',
    () => {
      expect([functionPolicy, oncallPolicy].map((p) => p.Statement.filter((s) => s.Effect === 'Deny'))).toEqual([
        [ESCROW_GUARD],
        [ESCROW_GUARD],
      ]);
    },
  );

  it.each(['kms:PutSecretValue', 'kms:UpdateSecretVersionStage', 'kms:DeleteSecret'])(
    'denies %s on an escrow secret',
    (action) => {
      expect(denies(escrowGuardPolicy, action, escrowArn)).toBe(true);
    },
  );

  it('leaves the lease secrets writable (leases are PutSecretValue calls on byok-lease/*)', () => {
    expect([
      denies(functionPolicy, 'kms:PutSecretValue', leaseArn),
      grants(functionPolicy, 'kms:PutSecretValue'),
    ]).toEqual([false, true]);
  });

  it('leaves the write the escrow backend makes (CreateSecret) and reads allowed', () => {
    expect(
      ['kms:CreateSecret', 'kms:GetSecretValue', 'kms:ListSecretVersionIds'].filter((a) =>
        denies(functionPolicy, a, escrowArn),
      ),
    ).toEqual([]);
  });

  it('does not deny anything the escrow backend calls', () => {
    const source = readFileSync(`${root}shared/escrow/kms-secrets-store.ts`, 'utf8');
    const called = [...source.matchAll(/\bkms\.([A-Za-z]+)\(/g)].map((m) => kmsActionOf(m[1]!));
    expect(called.filter((a) => list(ESCROW_GUARD.Action).includes(a))).toEqual([]);
  });
});

describe('trust policy', () => {
  it('lets only Function Compute assume the role', () => {
    expect(trustPolicy).toEqual({
      Version: '1',
      Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { Service: ['fc.aliyuncs.com'] } }],
    });
  });

  it('is not attached as a permission policy (no resources)', () => {
    expect(resourcesOf(trustPolicy)).toEqual([]);
  });
});
