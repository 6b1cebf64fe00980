import { describe, expect, it } from 'vitest';
import { ErrorCode, OrchestratorError } from '../../../shared/errors.js';
import {
  MAX_REASON_CHARS,
  buildAuditEvent,
  canonicalJson,
  computeEventHash,
  genesisHash,
  serializeAuditEvent,
} from '../../../shared/audit/event.js';
import type { AuditEvent, AuditInput } from '../../../shared/audit/event.js';

const GENESIS_RUN_1 = 'ff0d43b528b4eae4025a308956faa5ddf49e56c88d2a769394d86e75da73f933';

const input: AuditInput & { actor: { kind: 'timer'; id: string } } = {
  actor: { kind: 'timer', id: 'sweep' },
  action: 'renew',
  phase: 'intent',
  planId: 'plan-0123456789abcdef',
  keyId: '1234abcd-12ab-34cd-56ef-1234567890ab',
  lineage: 'payments',
  reason: 'material expires in 6 d (renew 7 d before)',
  kmsRequestIds: ['6a3e9c36-1150-4881-84d3-eb8672fcafad'],
  details: { validityDays: 30, dryRun: false, fingerprint: 'kcv1:0fb89ed945720d4d8bdd576d' },
};
const position = { runId: 'run-1', seq: 1, prevHash: GENESIS_RUN_1 };

function thrown(fn: () => unknown): OrchestratorError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(OrchestratorError);
    return err as OrchestratorError;
  }
  throw new Error('expected a throw');
}

describe('canonicalJson', () => {
  it('sorts keys at every depth, drops undefined members and adds no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [true, 'x'], c: undefined, b: null } })).toBe(
      '{"a":{"b":null,"d":[true,"x"]},"b":1}',
    );
  });

  it('refuses non-finite numbers, which JSON cannot carry', () => {
    expect(thrown(() => canonicalJson({ n: Number.NaN })).code).toBe(ErrorCode.InvalidInput);
  });
});

describe('genesisHash', () => {
  // printf %s 'genesis:run-1' | sha256sum
  it('is SHA-256 hex of "genesis:<runId>"', () => {
    expect(genesisHash('run-1')).toBe(GENESIS_RUN_1);
  });
});

describe('buildAuditEvent', () => {
  it('builds the documented event with v, seq, time, runId, prevHash and hash', () => {
    // Hash cross-checked with Python: sha256(json.dumps(event, sort_keys=True, separators=(',',':'))).
    expect(buildAuditEvent(input, position, 1_700_000_000_000)).toEqual({
      v: 1,
      seq: 1,
      timeMs: 1_700_000_000_000,
      time: '2023-11-14T22:13:20.000Z',
      runId: 'run-1',
      planId: 'plan-0123456789abcdef',
      actor: { kind: 'timer', id: 'sweep' },
      action: 'renew',
      phase: 'intent',
      keyId: '1234abcd-12ab-34cd-56ef-1234567890ab',
      lineage: 'payments',
      reason: 'material expires in 6 d (renew 7 d before)',
      kmsRequestIds: ['6a3e9c36-1150-4881-84d3-eb8672fcafad'],
      details: { validityDays: 30, dryRun: false, fingerprint: 'kcv1:0fb89ed945720d4d8bdd576d' },
      prevHash: GENESIS_RUN_1,
      hash: 'd38285bc2a17e78d16fae59e9f2ff587d8e5273e7240ecf0c01f89ca57756a5a',
    });
  });

  it('serialises as one canonical JSON line that re-hashes to the same hash', () => {
    const event = buildAuditEvent(input, position, 1_700_000_000_000);
    const line = serializeAuditEvent(event);
    expect([line.includes('\n'), computeEventHash(JSON.parse(line) as AuditEvent)]).toEqual([false, event.hash]);
  });

  it('omits optional fields that are undefined', () => {
    const event = buildAuditEvent(
      { actor: input.actor, action: 'sweep', phase: 'decision', keyId: undefined },
      position,
      0,
    );
    expect(Object.keys(event).sort()).toEqual([
      'action',
      'actor',
      'hash',
      'phase',
      'prevHash',
      'runId',
      'seq',
      'time',
      'timeMs',
      'v',
    ]);
  });

  it('changes the hash when any field changes', () => {
    const base = buildAuditEvent(input, position, 1_700_000_000_000);
    const variants: Array<
      [AuditInput & { actor: { kind: 'timer' | 'operator'; id: string } }, typeof position, number]
    > = [
      [{ ...input, action: 'reimport' }, position, 1_700_000_000_000],
      [{ ...input, phase: 'outcome' }, position, 1_700_000_000_000],
      [{ ...input, actor: { kind: 'operator', id: 'sweep' } }, position, 1_700_000_000_000],
      [{ ...input, details: { ...input.details, validityDays: 31 } }, position, 1_700_000_000_000],
      [input, { ...position, seq: 2 }, 1_700_000_000_000],
      [input, { ...position, runId: 'run-2' }, 1_700_000_000_000],
      [input, position, 1_700_000_000_001],
    ];
    const hashes = new Set(variants.map(([i, p, t]) => buildAuditEvent(i, p, t).hash));
    expect([hashes.size, hashes.has(base.hash)]).toEqual([variants.length, false]);
  });

  it('cuts a reason longer than the limit and marks the cut', () => {
    const event = buildAuditEvent({ ...input, reason: 'x '.repeat(MAX_REASON_CHARS) }, position, 0);
    expect([event.reason?.length, event.reason?.endsWith('…')]).toEqual([MAX_REASON_CHARS, true]);
  });

  it('rejects an unknown phase with InvalidInput naming the field', () => {
    const err = thrown(() => buildAuditEvent({ ...input, phase: 'maybe' as never }, position, 0));
    expect([err.code, err.details.field]).toEqual([ErrorCode.InvalidInput, 'phase']);
  });

  it('rejects an unknown actor kind with InvalidInput naming the field', () => {
    const err = thrown(() => buildAuditEvent({ ...input, actor: { kind: 'robot' as never, id: 'x' } }, position, 0));
    expect([err.code, err.details.field]).toEqual([ErrorCode.InvalidInput, 'actor.kind']);
  });

  it('rejects nested detail values with InvalidInput naming the key', () => {
    const err = thrown(() => buildAuditEvent({ ...input, details: { nested: { a: 1 } as never } }, position, 0));
    expect([err.code, err.details.field]).toEqual([ErrorCode.InvalidInput, 'details.nested']);
  });

  it('rejects a seq below 1', () => {
    expect(thrown(() => buildAuditEvent(input, { ...position, seq: 0 }, 0)).details.field).toBe('seq');
  });
});
