/**
 * loadFunctionsFromSYaml on the fixture s.yaml (fc3, edition 3.0.0), and a host started from it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_S_YAML, buildFixtures, json, startTestHost } from './helpers.js';
import { loadFunctionsFromSYaml, parseSchedule, parseSYaml, readSYaml } from '@byok/fc-local-host';

const PROJECT_S_YAML = fileURLToPath(new URL('../../../s.yaml', import.meta.url));
import { FcHostErrorCode as ErrorCode } from '@byok/fc-local-host';

describe('loadFunctionsFromSYaml', () => {
  let distDir: string;
  let cleanup: () => void;

  beforeAll(async () => {
    ({ distDir, cleanup } = await buildFixtures());
  });
  afterAll(() => cleanup?.());

  it('reads every fc3 resource: name, code dir, handler, timeout, memory, env, triggers', () => {
    const fns = loadFunctionsFromSYaml(FIXTURE_S_YAML, {
      distDir,
      env: { KMS_ENDPOINT: '127.0.0.1:9000' },
      config: { AccountID: '1234567890123456' },
    });
    expect(fns).toEqual([
      {
        name: 'byok-sweep',
        bundleDir: join(distDir, 'echo'),
        handler: 'index.handler',
        timeoutSeconds: 300,
        memoryMB: 512,
        env: {
          NODE_OPTIONS: '--enable-source-maps',
          REGION: 'cn-hangzhou',
          KMS_ENDPOINT: '127.0.0.1:9000',
          ACCOUNT: '1234567890123456',
          MAX_KEYS: '50',
        },
        logConfig: { project: 'byok-fixture-logs', logstore: 'fn-logs' },
        timers: [
          { triggerName: 'hourly', cronExpression: '0 0 * * * *', payload: '{"job":"sweep"}', enable: true },
          {
            triggerName: 'nightly-report',
            cronExpression: 'CRON_TZ=Asia/Shanghai 0 0 3 * * *',
            payload: '{"job":"report"}',
            enable: false,
          },
        ],
      },
      {
        name: 'byok-webhook',
        bundleDir: join(distDir, 'http'),
        handler: 'index.handler',
        timeoutSeconds: 10,
        memoryMB: 256,
        env: {
          NODE_OPTIONS: '--enable-source-maps',
          REGION: 'cn-hangzhou',
          WEBHOOK_TOKEN_SECRET_NAME: 'byok/webhook-token',
        },
        logConfig: { project: 'byok-fixture-logs', logstore: 'fn-logs' },
        http: { triggerName: 'webhook', methods: ['POST'] },
      },
      {
        name: 'byok-ops',
        bundleDir: join(distDir, 'echo'),
        handler: 'index.handler',
        timeoutSeconds: 3,
        memoryMB: 512,
        env: { MODE: 'ops' },
      },
    ]);
  });

  it('deep-merges template maps into props (the resource wins) and applies envOverrides last', () => {
    const fns = loadFunctionsFromSYaml(FIXTURE_S_YAML, {
      distDir,
      config: { AccountID: '1' },
      envOverrides: { REGION: 'local', EXTRA: 'x' },
    });
    expect(fns[0]?.env).toMatchObject({
      NODE_OPTIONS: '--enable-source-maps',
      KMS_ENDPOINT: 'kms.cn-hangzhou.aliyuncs.com',
      REGION: 'local',
      EXTRA: 'x',
    });
    expect(fns[2]?.env).toEqual({ MODE: 'ops', REGION: 'local', EXTRA: 'x' }); // byok-ops does not extend the template
  });

  it("uses env(...)'s default when the variable is not given, and reports the project name", () => {
    const project = readSYaml(FIXTURE_S_YAML, { distDir, config: { AccountID: '1' } });
    expect(project.projectName).toBe('byok-fixture');
    expect(project.functions[0]?.env['KMS_ENDPOINT']).toBe('kms.cn-hangzhou.aliyuncs.com');
  });

  it('resolves code against the s.yaml directory when no distDir is given', () => {
    const fns = loadFunctionsFromSYaml(FIXTURE_S_YAML, { config: { AccountID: '1' } });
    expect(fns[0]?.bundleDir).toBe(join(FIXTURE_S_YAML, '..', 'dist', 'echo'));
  });

  it('names the variable when ${config(...)} has no value', () => {
    expect(() => loadFunctionsFromSYaml(FIXTURE_S_YAML, { distDir })).toThrowError(
      expect.objectContaining({
        code: ErrorCode.InvalidConfig,
        message: expect.stringContaining("config('AccountID')"),
      }),
    );
  });

  it.each([
    ['edition 1.0.0', 'edition: 1.0.0\nresources: {}\n', 'edition'],
    [
      'unsupported variable',
      'edition: 3.0.0\nresources:\n  f:\n    component: fc3\n    props: { functionName: ' +
        "'${resources.x.output}', runtime: nodejs20, code: ./d, handler: index.h }\n",
      'resources.f.props.functionName',
    ],
    [
      'python runtime',
      'edition: 3.0.0\nresources:\n  f:\n    component: fc3\n    props: ' +
        '{ functionName: f, runtime: python3.10, code: ./d, handler: index.h }\n',
      'resources.f.props.runtime',
    ],
    [
      'unquoted JSON payload',
      'edition: 3.0.0\nresources:\n  f:\n    component: fc3\n    props:\n      functionName: f\n      ' +
        'runtime: nodejs20\n      code: ./d\n      handler: index.h\n      triggers:\n        - { ' +
        'triggerName: t, triggerType: timer, triggerConfig: { ' +
        "cronExpression: '@every 5m', enable: true, payload: { job: x } } }\n",
      'resources.f.props.triggers[0].triggerConfig.payload',
    ],
  ])('rejects %s with InvalidConfig naming the field', (_name, text, field) => {
    expect(() => parseSYaml(text, '/tmp')).toThrowError(
      expect.objectContaining({ code: ErrorCode.InvalidConfig, details: expect.objectContaining({ field }) }),
    );
  });

  it.skipIf(!existsSync(PROJECT_S_YAML))(
    "loads the project's own s.yaml: nodejs functions, parsable timers, an HTTP trigger",
    () => {
      const project = readSYaml(PROJECT_S_YAML, {
        distDir,
        config: { AccountID: '1234567890123456' },
        env: {
          BYOK_ESCROW_KEY_ID: 'key-local',
          BYOK_KMS_INSTANCE_ID: 'kst-hzz65f176a0keys0001',
          BYOK_ESCROW_INSTANCE_ID: 'kst-hzz65f176a0escrow01',
        },
      });
      expect(project.functions.length).toBeGreaterThanOrEqual(3);
      const timers = project.functions.flatMap((f) => f.timers ?? []);
      expect(timers.length).toBeGreaterThanOrEqual(1);
      for (const t of timers) expect(parseSchedule(t.cronExpression, 0).nextAfterMs(0)).toBeGreaterThan(0);
      expect(project.functions.filter((f) => f.http?.methods.includes('POST'))).toHaveLength(1);
      for (const f of project.functions) expect(f.bundleDir.startsWith(distDir)).toBe(true);
    },
  );

  it('feeds startFcHost: the timer of the s.yaml function fires with its payload', async () => {
    const functions = loadFunctionsFromSYaml(FIXTURE_S_YAML, { distDir, config: { AccountID: '1' } });
    const { host } = await startTestHost({ functions });
    try {
      const r = await host.fireTimer('byok-sweep', 'hourly', new Date('2026-05-05T05:00:00Z'));
      expect(r.kind === 'ok' && JSON.parse(json(r.body)['event'] as string)).toEqual({
        triggerTime: '2026-05-05T05:00:00Z',
        triggerName: 'hourly',
        payload: '{"job":"sweep"}',
      });
      const res = await fetch(`${host.httpTriggerUrl('byok-webhook')}/hook`, { method: 'POST', body: 'x' });
      expect(res.status).toBe(201);
    } finally {
      await host.close();
    }
  });
});
