import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKmsEmulator } from '@byok/kms-emulator';
import type { KmsEmulator } from '@byok/kms-emulator';
import {
  $Kms,
  LOCAL,
  REQUEST_ID_RE,
  commonParams,
  expectKmsError,
  rawCall,
  sdkClient,
  signParams,
  signedCall,
} from './helpers.js';

const STS = { accessKeyId: 'STS.emulated', accessKeySecret: 'sts-secret', securityToken: 'CAIS+token/with=chars' };

let emu: KmsEmulator;
let lax: KmsEmulator;

beforeAll(async () => {
  emu = await startKmsEmulator({ kmsVersion: 1, port: 0, credentials: [LOCAL, STS] });
  lax = await startKmsEmulator({ kmsVersion: 1, port: 0, verifyTimestamp: false, verifyNonce: false });
});
afterAll(async () => {
  await emu.close();
  await lax.close();
});

const listKeys = (client = sdkClient(emu)) => client.listKeys(new $Kms.ListKeysRequest({}));

describe('authentication', () => {
  it('answers a correctly signed SDK call with a lower-case UUID RequestId', async () => {
    const res = await listKeys();
    expect(res.requestId).toMatch(REQUEST_ID_RE);
  });

  it('rejects a wrong secret with SignatureDoesNotMatch 400 without echoing sensitive values', async () => {
    const client = sdkClient(emu, { accessKeyId: LOCAL.accessKeyId, accessKeySecret: 'wrong' });
    await expectKmsError(listKeys(client), 'SignatureDoesNotMatch', 400);
    const body = await expectKmsError(
      client.createSecret(
        new $Kms.CreateSecretRequest({ secretName: 's', versionId: 'v', secretData: 'TOP-SECRET-VALUE' }),
      ),
      'SignatureDoesNotMatch',
      400,
    );
    expect(body['Message']).toContain('string to sign');
    expect(body['Message']).not.toContain('TOP-SECRET-VALUE');
  });

  it('rejects an unknown AccessKeyId with InvalidAccessKeyId.NotFound 404', async () => {
    await expectKmsError(
      listKeys(sdkClient(emu, { accessKeyId: 'nobody', accessKeySecret: 'x' })),
      'InvalidAccessKeyId.NotFound',
      404,
    );
  });

  it('accepts an STS credential with its SecurityToken', async () => {
    const res = await listKeys(sdkClient(emu, STS));
    expect(res.requestId).toMatch(REQUEST_ID_RE);
  });

  it('rejects an STS credential with a wrong or missing SecurityToken', async () => {
    const code = 'InvalidSecurityToken.MismatchWithAccessKey';
    await expectKmsError(listKeys(sdkClient(emu, { ...STS, securityToken: 'other-token' })), code, 400);
    await expectKmsError(
      listKeys(sdkClient(emu, { accessKeyId: STS.accessKeyId, accessKeySecret: STS.accessKeySecret })),
      code,
      400,
    );
  });

  it('rejects a SecurityToken sent with a plain access key', async () => {
    await expectKmsError(
      listKeys(sdkClient(emu, { ...LOCAL, securityToken: 'unexpected' })),
      'InvalidSecurityToken.MismatchWithAccessKey',
      400,
    );
  });

  it('accepts credentials added at runtime', async () => {
    const added = { accessKeyId: 'added-ak', accessKeySecret: 'added-secret' };
    await expectKmsError(listKeys(sdkClient(emu, added)), 'InvalidAccessKeyId.NotFound', 404);
    emu.addCredentials(added);
    expect((await listKeys(sdkClient(emu, added))).requestId).toMatch(REQUEST_ID_RE);
  });

  it('rejects a Timestamp more than 15 minutes from the real clock, unless switched off', async () => {
    const skewed = new Date(Date.now() - 16 * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const res = await signedCall(emu, 'ListKeys', { Timestamp: skewed });
    expect([res.status, res.body['Code']]).toEqual([400, 'InvalidTimeStamp.Expired']);
    const ok = await signedCall(lax, 'ListKeys', { Timestamp: skewed });
    expect(ok.status).toBe(200);
  });

  it('rejects a missing or malformed Timestamp with IllegalTimestamp', async () => {
    const query = commonParams('ListKeys');
    delete (query as Partial<Record<string, string>>)['Timestamp'];
    const missing = await rawCall(emu, { query: signParams('POST', query) });
    expect([missing.status, missing.body['Code']]).toEqual([400, 'IllegalTimestamp']);
    const garbage = await signedCall(emu, 'ListKeys', { Timestamp: 'yesterday' });
    expect([garbage.status, garbage.body['Code']]).toEqual([400, 'IllegalTimestamp']);
  });

  it('rejects a replayed SignatureNonce with SignatureNonceUsed, unless switched off', async () => {
    const query = signParams('POST', commonParams('ListKeys'));
    expect((await rawCall(emu, { query })).status).toBe(200);
    const replay = await rawCall(emu, { query });
    expect([replay.status, replay.body['Code']]).toEqual([400, 'SignatureNonceUsed']);
    const laxQuery = signParams('POST', commonParams('ListKeys'));
    expect((await rawCall(lax, { query: laxQuery })).status).toBe(200);
    expect((await rawCall(lax, { query: laxQuery })).status).toBe(200);
  });

  it('requires the common parameters and the documented signature method', async () => {
    const noSig = await rawCall(emu, { query: commonParams('ListKeys') });
    expect([noSig.status, noSig.body['Code']]).toEqual([400, 'MissingParameter']);
    const md5 = await signedCall(emu, 'ListKeys', { SignatureMethod: 'HMAC-MD5' });
    expect([md5.status, md5.body['Code']]).toEqual([400, 'IncompleteSignature']);
    const version = await signedCall(emu, 'ListKeys', { Version: '2014-05-26' });
    expect([version.status, version.body['Code']]).toEqual([400, 'InvalidVersion']);
  });
});

describe('wire format', () => {
  it('accepts action parameters in a form body, signed over query ∪ body (other official clients)', async () => {
    const query = commonParams('CreateKey');
    const form = { Origin: 'EXTERNAL', Description: 'from a form body * ! ~' };
    const res = await rawCall(emu, { query: signParams('POST', query, form), form });
    expect(res.status).toBe(200);
    expect(res.body['KeyMetadata']).toMatchObject({ Origin: 'EXTERNAL', Description: 'from a form body * ! ~' });
  });

  it('accepts GET requests signed with GET (vendor example)', async () => {
    const res = await signedCall(emu, 'ListKeys', {}, { method: 'GET' });
    expect(res.status).toBe(200);
  });

  it('answers other HTTP methods with UnsupportedHTTPMethod 403 JSON', async () => {
    const res = await signedCall(emu, 'ListKeys', {}, { method: 'PUT' });
    expect([res.status, res.body['Code']]).toEqual([403, 'UnsupportedHTTPMethod']);
  });

  it('answers an unknown action with InvalidAction.NotFound 404 JSON', async () => {
    const res = await signedCall(emu, 'MakeCoffee');
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ Code: 'InvalidAction.NotFound', HostId: 'kms.cn-hangzhou.aliyuncs.com' });
    expect(res.body['RequestId']).toMatch(REQUEST_ID_RE);
    expect(res.headers['content-type']).toContain('application/json');
  });

  it('answers real KMS actions it does not emulate with UnsupportedOperation 400', async () => {
    await expectKmsError(
      sdkClient(emu).describeRegions(new $Kms.DescribeRegionsRequest({})),
      'UnsupportedOperation',
      400,
    );
  });

  it('refuses a parameter sent twice with ParseRequestParameterException', async () => {
    const query = new URLSearchParams(signParams('POST', commonParams('ListKeys'))).toString();
    const dup = await rawCall(emu, { path: `/?${query}&PageSize=1&PageSize=2` });
    expect([dup.status, dup.body['Code']]).toEqual([400, 'ParseRequestParameterException']);
  });

  it('answers any other path with a JSON 404 (the admin API is off by default)', async () => {
    for (const path of ['/nope', '/__emulator/state']) {
      const res = await rawCall(emu, { method: 'GET', path });
      expect(res.status).toBe(404);
      expect(res.body['Code']).toBe('InvalidAction.NotFound');
    }
  });

  it('puts the RequestId in the x-acs-request-id header too', async () => {
    const res = await signedCall(emu, 'ListKeys');
    expect(res.headers['x-acs-request-id']).toBe(res.body['RequestId']);
  });
});

describe('internal failures', () => {
  it('turn into InternalFailure 500 JSON instead of a crash, and persistence is retried', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kms-emu-fail-'));
    const stateFile = join(dir, 'state.json');
    const broken = await startKmsEmulator({ kmsVersion: 1, stateFile, log: () => {} });
    try {
      rmSync(stateFile);
      mkdirSync(stateFile); // persisting now fails: rename onto a directory
      const client = sdkClient(broken);
      await expectKmsError(client.createKey(new $Kms.CreateKeyRequest({})), 'InternalFailure', 500);
      await expectKmsError(client.listKeys(new $Kms.ListKeysRequest({})), 'InternalFailure', 500);
      rmSync(stateFile, { recursive: true });
      expect((await client.listKeys(new $Kms.ListKeysRequest({}))).totalCount).toBe(1);
      expect(JSON.parse(readFileSync(stateFile, 'utf8')).keys).toHaveLength(1);
    } finally {
      await broken.close().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
