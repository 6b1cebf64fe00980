import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ErrorCode, OrchestratorError } from '../../../shared/errors.js';
import { buildAuditEvent, genesisHash } from '../../../shared/audit/event.js';
import type { AuditInput } from '../../../shared/audit/event.js';
import { looksSecret, redactSecretLike } from '../../../shared/audit/guard.js';

/** Deterministic stand-ins for 32-byte material (fixed, so the test cannot flake). */
const materials = Array.from({ length: 200 }, (_, i) => createHash('sha256').update(`guard-${i}`).digest());
const position = { runId: 'run-1', seq: 1, prevHash: genesisHash('run-1') };
const base: AuditInput & { actor: { kind: 'system'; id: string } } = {
  actor: { kind: 'system', id: 'test' },
  action: 'onboard',
  phase: 'intent',
};

function refusal(extra: Partial<AuditInput> & { actor?: { kind: 'system'; id: string } }): OrchestratorError {
  try {
    buildAuditEvent({ ...base, ...extra }, position, 0);
  } catch (err) {
    expect(err).toBeInstanceOf(OrchestratorError);
    return err as OrchestratorError;
  }
  throw new Error('expected the guard to refuse');
}

describe('audit secret guard', () => {
  it('flags every 32-byte material as base64', () => {
    expect(materials.filter((m) => !looksSecret(m.toString('base64')))).toEqual([]);
  });

  it('flags every 32-byte material as base64url', () => {
    expect(materials.filter((m) => !looksSecret(m.toString('base64url')))).toEqual([]);
  });

  it('flags every 32-byte material as hex, and 16-byte material as hex', () => {
    expect(
      materials.filter((m) => !looksSecret(m.toString('hex')) || !looksSecret(m.subarray(0, 16).toString('hex'))),
    ).toEqual([]);
  });

  it('flags a secret embedded in prose', () => {
    expect(looksSecret(`wrapped=${materials[0]?.toString('base64')} done`)).toBe(true);
  });

  it('passes UUID key and request ids, kcv1 fingerprints and version ids, plan ids and paths', () => {
    const ok = [
      '1234abcd-12ab-34cd-56ef-1234567890ab',
      'byok-escrow/1234abcd-12ab-34cd-56ef-1234567890ab',
      '6A3E9C36-1150-4881-84D3-EB8672FCAFAD',
      'kcv1:0fb89ed945720d4d8bdd576d',
      'kcv1-0fb89ed945720d4d8bdd576d',
      'plan-0123456789abcdef',
      'key-hzz630494463ejqjx1234',
      '/tmp/escrow-file-AbC123/keys/master.key',
      'alias/payments-eu-central-1-primary-signing-key',
      'KMS ImportKeyMaterial failed: Rejected.PendingDeletion (HTTP 409) for key 1234abcd-12ab-34cd-56ef-1234567890ab',
    ];
    expect(ok.filter(looksSecret)).toEqual([]);
  });

  it('refuses a detail value holding base64 material with InvalidInput naming the key', () => {
    const err = refusal({ details: { note: materials[1]?.toString('base64') ?? '' } });
    expect([err.code, err.details.field]).toEqual([ErrorCode.InvalidInput, 'details.note']);
  });

  it('refuses a detail value holding a 64-hex-digit run', () => {
    expect(refusal({ details: { digest: materials[2]?.toString('hex') ?? '' } }).details.field).toBe('details.digest');
  });

  it('refuses a string under a secret name (token) however short', () => {
    expect(refusal({ details: { token: 'abc' } }).details.field).toBe('details.token');
  });

  it('refuses secret-looking values where a KMS key id or request id is expected', () => {
    const s = materials[3]?.toString('base64url') ?? '';
    expect([refusal({ keyId: s }), refusal({ kmsRequestIds: [s] })].map((e) => e.details.field)).toEqual([
      'keyId',
      'kmsRequestIds[0]',
    ]);
  });

  it('validates identifiers by their grammar, not the secret scan (issue 8: ordinary names passed)', () => {
    const event = buildAuditEvent(
      {
        ...base,
        actor: { kind: 'webhook', id: 'eventbridge:Jenkins-Deploy-Job-Production-Key2' },
        keyId: 'key-hzz630494463ejqjx1234',
        details: { target: 'alias:alias/PaymentsAPIKeyForEUWest2Prod', secretName: 'ByokWebhookHmacSecretProd2026' },
      },
      position,
      0,
    );
    expect([event.actor.id, event.details?.target]).toEqual([
      'eventbridge:Jenkins-Deploy-Job-Production-Key2',
      'alias:alias/PaymentsAPIKeyForEUWest2Prod',
    ]);
    // Free text keeps the scan; an identifier field still refuses what is not an identifier.
    expect(refusal({ details: { target: 'a b' } }).details.field).toBe('details.target');
  });

  it('never repeats the refused value in the error', () => {
    const secret = materials[4]?.toString('base64') ?? '';
    const err = refusal({ details: { note: `x ${secret}` } });
    const text = `${err.message} ${JSON.stringify(err.toJSON())}`;
    expect([
      text.includes(secret),
      text.includes(secret.slice(0, 16)),
      text.includes(materials[4]?.toString('hex') ?? ''),
    ]).toEqual([false, false, false]);
  });

  it('redacts secret-looking runs in reason instead of refusing the event', () => {
    const secret = materials[5]?.toString('base64') ?? '';
    const event = buildAuditEvent({ ...base, reason: `import failed, blob ${secret} rejected` }, position, 0);
    expect(event.reason).toBe('import failed, blob [redacted] rejected');
  });

  it('redacts every run and counts them', () => {
    const a = materials[6]?.toString('hex') ?? '';
    const b = materials[7]?.toString('base64url') ?? '';
    expect(redactSecretLike(`${a} and ${b}`)).toEqual({ text: '[redacted] and [redacted]', redactions: 2 });
  });
});
