import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, parseConfig } from '../../../shared/config/index.js';
import {
  deepMerge,
  parseSYaml,
  renderSYamlString,
  resolveResources,
  SYamlResolveError,
  type ResolvedResource,
  type SYamlResolveContext,
} from '../../../scripts/deploy/s-yaml.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const schema = JSON.parse(readFileSync(`${root}test/fixtures/fc3-props.schema.json`, 'utf8')) as Record<
  string,
  unknown
>;
const sYamlText = readFileSync(`${root}s.yaml`, 'utf8');

const ACCOUNT_ID = '1234567890123456';
const ctx: SYamlResolveContext = {
  env: {
    BYOK_ESCROW_KEY_ID: 'key-escrow-0000-test',
    BYOK_KMS_INSTANCE_ID: 'kst-hzz65f176a0keys0001',
    BYOK_ESCROW_INSTANCE_ID: 'kst-hzz65f176a0escrow01',
  },
  config: { AccountID: ACCOUNT_ID },
};

// strict off: the upstream schema uses tuple-form `items` without `additionalItems` (IHttpTriggerConfig.authConfig),
// which ajv's strict mode reports; allErrors so a failure lists every broken prop at once.
const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addSchema(schema, 'fc3');
const validateProps = ajv.getSchema('fc3') as ValidateFunction;
const validateTimerConfig = ajv.compile({ $ref: 'fc3#/definitions/ITimerTriggerConfig' });
const validateHttpConfig = ajv.compile({ $ref: 'fc3#/definitions/IHttpTriggerConfig' });

const doc = parseSYaml(sYamlText);
const resources = resolveResources(doc, ctx);

/** Function resources by the folder name their bundle comes from (byok_sweep -> sweep). */
const FUNCTIONS = { sweep: 'byok_sweep', webhook: 'byok_webhook', ops: 'byok_ops' } as const;

interface Trigger {
  triggerName: string;
  triggerType: string;
  triggerConfig: Record<string, unknown>;
}

function resource(name: string): ResolvedResource {
  const found = resources[name];
  if (!found) throw new Error(`s.yaml has no resource ${name}`);
  return found;
}

function triggersOf(name: string): Trigger[] {
  return (resource(name).props['triggers'] ?? []) as Trigger[];
}

function errorsOf(validate: ValidateFunction, value: unknown): string[] {
  return validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);
}

/** Checks each trigger's config against the definition that matches its triggerType (the schema's anyOf does not). */
function triggerPairingErrors(props: Record<string, unknown>): string[] {
  const errors: string[] = [];
  for (const trigger of (props['triggers'] ?? []) as Trigger[]) {
    if (trigger.triggerType === 'timer') errors.push(...errorsOf(validateTimerConfig, trigger.triggerConfig));
    if (trigger.triggerType === 'http') errors.push(...errorsOf(validateHttpConfig, trigger.triggerConfig));
  }
  return errors;
}

function sweepCron(): string {
  const timer = triggersOf(FUNCTIONS.sweep).find((t) => t.triggerType === 'timer');
  return String(timer?.triggerConfig['cronExpression']);
}

describe('s.yaml: Serverless Devs v3 top level', () => {
  it('uses the v3 edition', () => {
    expect(doc.edition).toBe('3.0.0');
  });

  it('declares exactly the three function resources, all with component fc3', () => {
    expect(Object.fromEntries(Object.entries(resources).map(([k, r]) => [k, r.component]))).toEqual({
      byok_sweep: 'fc3',
      byok_webhook: 'fc3',
      byok_ops: 'fc3',
    });
  });

  it('builds the bundles in a global pre-deploy action', () => {
    expect(doc.actions?.['pre-deploy']).toEqual([{ run: 'npm ci && npm run build', path: './' }]);
  });

  it('leaves no unresolved ${...} expression in any resolved prop', () => {
    expect(JSON.stringify(resources)).not.toContain('${');
  });
});

describe('s.yaml: every resource validates against the fc3 component schema', () => {
  for (const name of Object.values(FUNCTIONS)) {
    it(`${name} props are valid fc3 props`, () => {
      expect(errorsOf(validateProps, resource(name).props)).toEqual([]);
    });

    it(`${name} trigger configs match the definition of their triggerType`, () => {
      expect(triggerPairingErrors(resource(name).props)).toEqual([]);
    });
  }
});

describe('s.yaml: the schema check can fail', () => {
  it('rejects a runtime fc3 does not know (nodejs22)', () => {
    const broken = { ...resource(FUNCTIONS.ops).props, runtime: 'nodejs22' };
    expect(errorsOf(validateProps, broken)).toContain('/runtime must be equal to one of the allowed values');
  });

  it('rejects a memorySize that is not a multiple of 64', () => {
    const broken = { ...resource(FUNCTIONS.ops).props, memorySize: 500 };
    expect(errorsOf(validateProps, broken)).toContain('/memorySize must be multiple of 64');
  });

  it('rejects a timeout written as a string (a templated number would be one)', () => {
    const broken = { ...resource(FUNCTIONS.ops).props, timeout: '300' };
    expect(errorsOf(validateProps, broken)).toContain('/timeout must be integer');
  });

  it('rejects a timer trigger without cronExpression through the per-type check', () => {
    const props = structuredClone(resource(FUNCTIONS.sweep).props);
    const timer = (props['triggers'] as Trigger[])[0] as Trigger;
    delete timer.triggerConfig['cronExpression'];
    expect(triggerPairingErrors(props)).toEqual([" must have required property 'cronExpression'"]);
  });

  it('documents that the upstream anyOf alone accepts a timer trigger without cronExpression', () => {
    // IOtsConfig is {"type":"object"}, so any triggerConfig object satisfies the anyOf; this is why the
    // per-type check above exists. If upstream tightens the schema this expectation flips: update both.
    const props = structuredClone(resource(FUNCTIONS.sweep).props);
    delete ((props['triggers'] as Trigger[])[0] as Trigger).triggerConfig['cronExpression'];
    expect(errorsOf(validateProps, props)).toEqual([]);
  });
});

describe('s.yaml: function shape', () => {
  for (const [folder, name] of Object.entries(FUNCTIONS)) {
    it(`${name} deploys the esbuild bundle ./dist/${folder} with handler index.handler on nodejs20`, () => {
      const { code, handler, runtime, functionName } = resource(name).props;
      expect({ code, handler, runtime, functionName }).toEqual({
        code: `./dist/${folder}`,
        handler: 'index.handler',
        runtime: 'nodejs20',
        functionName: `byok-${folder}`,
      });
    });

    it(`${name} runs as the byok-orchestrator role`, () => {
      expect(resource(name).props['role']).toBe(`acs:ram::${ACCOUNT_ID}:role/byok-orchestrator`);
    });

    it(`${name} ships its logs to a Log Service project and logstore`, () => {
      expect(resource(name).props['logConfig']).toEqual({
        project: 'byok-orchestrator',
        logstore: 'byok-functions',
        enableRequestMetrics: true,
        enableInstanceMetrics: true,
        logBeginRule: 'None',
      });
    });
  }

  it('gives the sweep a 600 s timeout and the webhook less than 60 s', () => {
    const timeouts = Object.values(FUNCTIONS).map((n) => resource(n).props['timeout']);
    expect(timeouts).toEqual([600, 30, 300]);
  });

  it('sweep has exactly one enabled timer trigger', () => {
    const triggers = triggersOf(FUNCTIONS.sweep);
    expect(triggers.map((t) => [t.triggerType, t.triggerConfig['enable']])).toEqual([['timer', true]]);
  });

  it('sweep cron has six fields (with seconds) after the CRON_TZ prefix', () => {
    const match = /^CRON_TZ=(\S+) (.+)$/.exec(sweepCron());
    expect(match?.[2]?.split(' ')).toEqual(['0', '0', '*/6', '*', '*', '*']);
  });

  it('sweep cron time zone is a valid IANA zone', () => {
    const zone = /^CRON_TZ=(\S+) /.exec(sweepCron())?.[1] ?? '';
    expect(new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone).toBe('Asia/Shanghai');
  });

  it('sweep timer payload is a JSON string naming the job', () => {
    const payload = triggersOf(FUNCTIONS.sweep)[0]?.triggerConfig['payload'];
    expect(JSON.parse(String(payload))).toEqual({ job: 'sweep' });
  });

  it('sweep async retries are bounded, expire before the next tick, and a failed sweep goes to an MNS queue', () => {
    expect(resource(FUNCTIONS.sweep).props['asyncInvokeConfig']).toEqual({
      maxAsyncRetryAttempts: 2,
      maxAsyncEventAgeInSeconds: 3600,
      destinationConfig: {
        onFailure: { destination: `acs:mns:cn-hangzhou:${ACCOUNT_ID}:/queues/byok-failed-sweeps/messages` },
      },
    });
  });

  it('webhook has one HTTP trigger, anonymous at the gateway, POST only', () => {
    const triggers = triggersOf(FUNCTIONS.webhook);
    expect(triggers.map((t) => [t.triggerType, t.triggerConfig['authType'], t.triggerConfig['methods']])).toEqual([
      ['http', 'anonymous', ['POST']],
    ]);
  });

  it('ops has no trigger (manual invocation only)', () => {
    expect(resource(FUNCTIONS.ops).props['triggers']).toBeUndefined();
  });
});

describe('s.yaml: configuration variables', () => {
  const env = () => resource(FUNCTIONS.sweep).props['environmentVariables'] as Record<string, string>;

  it('sets the same configuration on every function', () => {
    const maps = Object.values(FUNCTIONS).map((n) => resource(n).props['environmentVariables']);
    expect(maps[1]).toEqual(maps[0]);
    expect(maps[2]).toEqual(maps[0]);
  });

  it('passes shared/config validation with no warning (no unknown or ignored variable)', () => {
    expect(parseConfig(env()).warnings).toEqual([]);
  });

  it('configures KMS secrets escrow under the deployer-supplied key, stdout audit, the region', () => {
    const config = parseConfig(env());
    expect([config.region, config.escrow, config.audit]).toEqual([
      'cn-hangzhou',
      { backend: 'kms-secrets', keyId: 'key-escrow-0000-test' },
      { sink: 'stdout' },
    ]);
  });

  it('reads both webhook credentials from KMS secrets named byok-* (covered by the role policy)', () => {
    expect(parseConfig(env()).webhook).toEqual({
      secret: { source: 'kms-secret', secretName: 'byok-webhook-hmac' },
      urlToken: { source: 'kms-secret', secretName: 'byok-webhook-url-token' },
      selfRoleNames: [],
      selfSessionNames: [],
    });
  });

  it('sets the policy defaults explicitly, equal to the validator defaults', () => {
    expect(parseConfig(env()).policies.defaults).toEqual(DEFAULT_POLICY);
  });

  it('holds no secret value: every SECRET/TOKEN variable is a secret name', () => {
    expect(Object.keys(env()).filter((k) => /SECRET|TOKEN|PASSWORD/.test(k))).toEqual([
      'BYOK_WEBHOOK_SECRET_NAME',
      'BYOK_WEBHOOK_URL_TOKEN_NAME',
    ]);
  });

  it('fails to resolve when the deployer has not exported BYOK_ESCROW_KEY_ID', () => {
    expect(() =>
      resolveResources(doc, {
        env: { BYOK_KMS_INSTANCE_ID: 'kst-hzz65f176a0keys0001', BYOK_ESCROW_INSTANCE_ID: 'kst-hzz65f176a0escrow01' },
        config: ctx.config,
      }),
    ).toThrow("env('BYOK_ESCROW_KEY_ID') not found");
  });

  it('places the keys and the escrow in the two KMS instances the deployer exported', () => {
    expect(parseConfig(env()).instances).toEqual({
      keys: 'kst-hzz65f176a0keys0001',
      escrow: 'kst-hzz65f176a0escrow01',
    });
  });

  it('fails to resolve when the deployer has not exported BYOK_KMS_INSTANCE_ID', () => {
    expect(() =>
      resolveResources(doc, {
        env: { BYOK_ESCROW_KEY_ID: 'key-escrow-0000-test', BYOK_ESCROW_INSTANCE_ID: 'kst-hzz65f176a0escrow01' },
        config: ctx.config,
      }),
    ).toThrow("env('BYOK_KMS_INSTANCE_ID') not found");
  });
});

describe('s.yaml resolver (scripts/deploy/s-yaml.ts)', () => {
  const mini = parseSYaml(`
vars:
  region: cn-shanghai
  account: \${config('AccountID')}
resources:
  a:
    component: fc3
    props:
      functionName: fn-a
`);

  it('renders a var that itself holds an expression (second pass)', () => {
    expect(renderSYamlString(mini, 'acs:ram::${vars.account}:role/r', ctx)).toBe(`acs:ram::${ACCOUNT_ID}:role/r`);
  });

  it('renders env() with a default when the variable is unset', () => {
    expect(renderSYamlString(mini, "${env('NOT_SET_ANYWHERE', 'fallback')}", ctx)).toBe('fallback');
  });

  it('renders a reference to another resource prop', () => {
    expect(renderSYamlString(mini, '${resources.a.props.functionName}-x', ctx)).toBe('fn-a-x');
  });

  it('rejects an unknown var', () => {
    expect(() => renderSYamlString(mini, '${vars.nope}', ctx)).toThrow(SYamlResolveError);
  });

  it('rejects an unquoted env() argument, as s does', () => {
    expect(() => renderSYamlString(mini, '${env(REGION)}', ctx)).toThrow('unsupported expression');
  });

  it('deep-merges template maps and replaces arrays, props winning', () => {
    const merged = deepMerge(
      { a: { x: 1, y: 2 }, list: [1, 2], k: 'template' },
      { a: { y: 3 }, list: [9], k: 'props' },
    );
    expect(merged).toEqual({ a: { x: 1, y: 3 }, list: [9], k: 'props' });
  });

  it('drops the template keys listed in extend.ignore', () => {
    const withIgnore = parseSYaml(`
template:
  t: { runtime: nodejs20, timeout: 9 }
resources:
  a: { component: fc3, extend: { name: t, ignore: [timeout] }, props: { functionName: f } }
`);
    expect(resolveResources(withIgnore, ctx)['a']?.props).toEqual({ runtime: 'nodejs20', functionName: 'f' });
  });
});
