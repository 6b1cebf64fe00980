import { describe, expect, it } from 'vitest';
import { KEY_STATE_MATRIX } from '../../../packages/kms-emulator/src/actions/context.js';
import type { KeyOp } from '../../../packages/kms-emulator/src/actions/context.js';

const OK = null;
const SMF = 'Rejected.StateModifiedFailed';

// Rows transcribed from docs/kms-api.md §3.1 (documented: STATE), columns
// Enabled | Disabled | PendingDeletion | PendingImport.
const TABLE: Array<[KeyOp, string, [string | null, string | null, string | null, string | null]]> = [
  [
    'Crypto',
    'Encrypt/Decrypt/GenerateDataKey',
    [OK, 'Rejected.Disabled', 'Rejected.PendingDeletion', 'Rejected.PendingImport'],
  ],
  ['EnableDisable', 'EnableKey/DisableKey', [OK, OK, SMF, SMF]],
  ['ScheduleDeletion', 'ScheduleKeyDeletion', [OK, OK, SMF, OK]],
  ['CancelDeletion', 'CancelKeyDeletion', [SMF, SMF, OK, SMF]],
  ['CreateAlias', 'CreateAlias', [OK, OK, SMF, OK]],
  ['UpdateAliasTarget', 'UpdateAlias (target)', [OK, OK, 'Rejected.PendingDeletion', OK]],
  ['Tag', 'TagResource/UntagResource', [OK, OK, 'Rejected.PendingDeletion', OK]],
  ['ImportMaterial', 'ImportKeyMaterial', [OK, OK, SMF, OK]],
  ['UpdateDescription', 'UpdateKeyDescription', [OK, OK, 'Rejected.PendingDeletion', OK]],
  ['Always', 'DescribeKey/GetParametersForImport/DeleteKeyMaterial/ListResourceTags', [OK, OK, OK, OK]],
];

describe('key-state matrix (docs/kms-api.md §3.1)', () => {
  it.each(TABLE)(
    '%s (%s) answers the documented code in each state',
    (op, _api, [enabled, disabled, pendingDeletion, pendingImport]) => {
      expect(KEY_STATE_MATRIX[op]).toEqual({
        Enabled: enabled,
        Disabled: disabled,
        PendingDeletion: pendingDeletion,
        PendingImport: pendingImport,
      });
    },
  );

  it('covers every operation class', () => {
    expect(Object.keys(KEY_STATE_MATRIX).sort()).toEqual(TABLE.map(([op]) => op).sort());
  });
});
