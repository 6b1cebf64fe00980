/**
 * The one lineage-name rule (shared/lineage.ts) at its limits, and its users: the engine's parser,
 * escrow records, the Description marker, and observe's reading of a hand-edited lineage tag.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, OrchestratorError } from '../../../shared/errors.js';
import { validateEscrowRecord } from '../../../shared/escrow/store.js';
import { parseLineage as engineParseLineage } from '../../../shared/lifecycle/engine.js';
import { leaseSecretName } from '../../../shared/lifecycle/lease.js';
import { DEFAULT_POLICY } from '../../../shared/config/index.js';
import { DAY_MS, Tag, aliasOf, describeMarker, parseMarker, type Snapshot } from '../../../shared/lifecycle/model.js';
import { toKeyView } from '../../../shared/lifecycle/key-view.js';
import { LINEAGE_TAG_INVALID_REASON } from '../../../shared/lifecycle/plan-alerts.js';
import { planSweep } from '../../../shared/lifecycle/plan.js';
import { LINEAGE_MAX_CHARS, LineageRule, isLineage, parseLineage } from '../../../shared/lineage.js';
import { testRecord } from '../escrow/contract.js';

function refusal(input: string): OrchestratorError {
  try {
    parseLineage(input);
  } catch (err) {
    expect(err).toBeInstanceOf(OrchestratorError);
    return err as OrchestratorError;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be refused`);
}

describe('parseLineage', () => {
  it('accepts a lineage of exactly 128 characters, with or without alias/', () => {
    const name = 'a'.repeat(128);
    expect([parseLineage(name), parseLineage(`alias/${name}`)]).toEqual([name, name]);
  });

  it('refuses 129 characters with InvalidInput naming the field, the tag-value limit and the rule', () => {
    const err = refusal(`alias/${'a'.repeat(129)}`);
    expect([err.code, err.message, err.details]).toEqual([
      ErrorCode.InvalidInput,
      'alias: a lineage name must be 1-128 characters (it is stored ' +
        'as the byok:lineage tag value, which KMS limits to 128), got 129',
      { field: 'alias', rule: LineageRule.Length },
    ]);
  });

  it('refuses an empty name (alias/ alone)', () => {
    expect(refusal('alias/').details.rule).toBe(LineageRule.Length);
  });

  it('refuses names starting with acs, which KMS reserves as alias/acs', () => {
    const err = refusal('alias/acs-payments');
    expect([err.message, err.details.rule]).toEqual([
      'alias: a lineage name must not start with "acs" (KMS reserves alias names starting with alias/acs)',
      LineageRule.ReservedPrefix,
    ]);
  });

  it('accepts acs later in the name', () => {
    expect(parseLineage('alias/payments-acs')).toBe('payments-acs');
  });

  it.each([' ', '.', '@', '+', '=', ':', '\\', 'é', '*'])(
    'refuses the character %j, which an alias, a tag or a secret name cannot carry',
    (c) => {
      const err = refusal(`alias/pay${c}ments`);
      expect([err.message, err.details.rule]).toEqual([
        'alias: a lineage name may contain only letters, ' +
          'digits, _, - and / (the characters KMS allows in an alias name)',
        LineageRule.Characters,
      ]);
    },
  );

  it('accepts letters, digits, _, - and /', () => {
    expect(parseLineage('alias/Team_1/pay-ments')).toBe('Team_1/pay-ments');
  });

  it('names the field it was given and never repeats the input', () => {
    const err = (() => {
      try {
        parseLineage('secret value here', 'lineage');
      } catch (e) {
        return e as OrchestratorError;
      }
      throw new Error('expected a refusal');
    })();
    expect([err.details.field, err.message.includes('secret value')]).toEqual(['lineage', false]);
  });

  it('is the parser the engine commands use', () => {
    expect(engineParseLineage).toBe(parseLineage);
  });

  it('treats a non-string as not a lineage', () => {
    expect([isLineage(undefined), isLineage(7), isLineage('ok')]).toEqual([false, false, true]);
  });
});

describe('the limit fits every KMS place a lineage goes', () => {
  const longest = 'a'.repeat(LINEAGE_MAX_CHARS);

  it('the tag value: at most 128 characters', () => {
    expect(longest.length).toBeLessThanOrEqual(128);
  });

  it('the alias alias/<lineage>: at most 255 characters including alias/', () => {
    expect(aliasOf(longest).length).toBeLessThanOrEqual(255);
  });

  it('the lease secret byok-lease/<lineage>: at most 192 characters', () => {
    expect(leaseSecretName(longest).length).toBeLessThanOrEqual(192);
  });
});

describe('users of the rule', () => {
  it('escrow refuses a record whose lineage is 129 characters', () => {
    const record = testRecord(1, { lineage: 'a'.repeat(129) });
    try {
      validateEscrowRecord(record);
      throw new Error('expected a refusal');
    } catch (err) {
      expect([(err as OrchestratorError).code, (err as OrchestratorError).details.field]).toEqual([
        ErrorCode.InvalidInput,
        'lineage',
      ]);
    } finally {
      record.material.fill(0);
    }
  });

  it('the Description marker round-trips a 128-character lineage', () => {
    const lineage = 'b'.repeat(128);
    expect(parseMarker(describeMarker(lineage, 3))).toEqual({ lineage, generation: 3 });
  });

  it('the Description marker is not ours when its lineage breaks the rule', () => {
    expect(parseMarker(describeMarker('acs-x', 1))).toBeUndefined();
  });
});

describe('a hand-edited lineage tag', () => {
  const NOW = Date.UTC(2027, 0, 1);
  const meta = {
    keyId: 'k-bad',
    arn: 'acs:kms:cn-hangzhou:1:key/k-bad',
    keyState: 'Enabled' as const,
    keySpec: 'Aliyun_AES_256',
    keyUsage: 'ENCRYPT/DECRYPT',
    origin: 'EXTERNAL' as const,
    protectionLevel: 'SOFTWARE',
    description: '',
    creationDateMs: NOW - DAY_MS,
    materialExpireAtMs: NOW + DAY_MS,
  };
  const view = toKeyView(meta, { [Tag.Managed]: 'true', [Tag.Lineage]: 'pay.ments', [Tag.Phase]: 'ready' }, []);

  it('puts the key in no lineage', () => {
    expect([view.managed, view.lineage, view.lineageTagInvalid]).toEqual([true, undefined, true]);
  });

  it('makes the plan raise a critical alert for the key instead of acting on it', () => {
    const snapshot: Snapshot = {
      takenAtMs: NOW,
      keys: [view],
      aliases: {},
      escrow: {},
      escrowUnreadable: [],
      unobservable: [],
      instances: [],
    };
    expect(planSweep(snapshot, { defaults: DEFAULT_POLICY, lineages: {} }, NOW).actions).toEqual([
      { kind: 'alert', severity: 'critical', keyId: 'k-bad', reason: LINEAGE_TAG_INVALID_REASON },
    ]);
  });
});
