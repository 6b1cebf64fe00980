import { describe, expect, it } from 'vitest';
import { WRITE_COMMANDS, parseOpsRequest } from '../../../shared/ops/commands.js';

describe('the ops function request for retire', () => {
  it('parses retire with its confirmation, and audits it as a write under the caller', () => {
    expect(parseOpsRequest({ command: 'retire', keyId: 'k-1', confirm: 'k-1' })).toEqual({
      command: 'retire',
      keyId: 'k-1',
      confirm: 'k-1',
    });
    expect(parseOpsRequest({ command: 'retire', keyId: 'k-1' })).toEqual({ command: 'retire', keyId: 'k-1' });
    expect(() => parseOpsRequest({ command: 'retire' })).toThrow('keyId: required');
    expect(WRITE_COMMANDS.has('retire')).toBe(true);
  });
});
