import { describe, expect, it } from 'vitest';
import {
  DEFAULT_BUNDLE_BUDGET_BYTES,
  MIB,
  checkBundleInputs,
  checkBundleSize,
  checkBundleText,
  formatSizeTable,
  parseFixtureSecrets,
} from '../../../scripts/build-checks.js';

const SECRETS = ['local-secret', 'whsec-test-5f1c9a7e2b4d8c0e'];
/** A PEM block as it looks inside a bundled JS string literal (escaped newlines). */
const PEM_IN_JS =
  'const k = "-----BEGIN PRIVATE KEY-----\\n' +
  `MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\\n-----END PRIVATE KEY-----";`;

describe('checkBundleInputs', () => {
  it('accepts product code and runtime dependencies', () => {
    const inputs = [
      'functions/sweep/index.ts',
      'shared/errors.ts',
      'node_modules/@alicloud/kms20160120/dist/client.js',
    ];
    expect(checkBundleInputs('sweep', inputs)).toEqual([]);
  });

  it('rejects a file under test/', () => {
    expect(checkBundleInputs('sweep', ['shared/errors.ts', 'test/unit/wrap/helpers.ts'])).toEqual([
      { fn: 'sweep', kind: 'test-input', detail: 'test/unit/wrap/helpers.ts (test code)' },
    ]);
  });

  it('rejects the local stack under scripts/local/', () => {
    expect(checkBundleInputs('ops', ['scripts/local/stack.ts']).map((v) => v.kind)).toEqual(['test-input']);
  });

  it('rejects the dev-only workspace packages (emulator, local FC host), by path or package name', () => {
    const inputs = [
      'packages/kms-emulator/src/store.ts',
      'packages/fc-local-host/src/host.ts',
      'node_modules/@byok/kms-emulator/src/index.ts',
    ];
    expect(checkBundleInputs('ops', inputs).map((v) => v.kind)).toEqual(['test-input', 'test-input', 'test-input']);
    expect(checkBundleInputs('ops', ['node_modules/some-lib/packages/core/index.js'])).toEqual([]);
  });

  it('rejects vitest pulled in from node_modules', () => {
    expect(checkBundleInputs('ops', ['node_modules/vitest/dist/index.js']).map((v) => v.detail)).toEqual([
      'node_modules/vitest/dist/index.js (test or build tooling)',
    ]);
  });

  it('rejects a fixtures folder anywhere in the path', () => {
    expect(checkBundleInputs('ops', ['shared/wrap/fixtures/key.pem']).map((v) => v.kind)).toEqual(['test-input']);
  });

  it('rejects a *.test.ts file outside test/', () => {
    expect(checkBundleInputs('ops', ['shared/wrap/wrap.test.ts']).map((v) => v.kind)).toEqual(['test-input']);
  });

  it('normalises Windows separators before matching', () => {
    expect(checkBundleInputs('ops', ['test\\unit\\x.ts']).map((v) => v.kind)).toEqual(['test-input']);
  });

  it('does not mistake a name merely containing "test" for a test folder', () => {
    expect(checkBundleInputs('ops', ['shared/lifecycle/self-test.ts', 'node_modules/latest-lib/index.js'])).toEqual([]);
  });
});

describe('checkBundleText', () => {
  it('accepts text without secrets or keys', () => {
    expect(checkBundleText('sweep', 'dist/sweep/index.js', 'exports.handler = async () => 1;', SECRETS)).toEqual([]);
  });

  it('rejects a fixture secret, naming its line number, not its value', () => {
    const found = checkBundleText(
      'webhook',
      'dist/webhook/index.js',
      'const s = "whsec-test-5f1c9a7e2b4d8c0e";',
      SECRETS,
    );
    expect(found).toEqual([
      {
        fn: 'webhook',
        kind: 'fixture-secret',
        detail: 'dist/webhook/index.js contains fixture secret #2 of secrets.txt',
      },
    ]);
  });

  it('never repeats the secret in the violation', () => {
    const found = checkBundleText('webhook', 'index.js', 'x local-secret y', SECRETS);
    expect(JSON.stringify(found)).not.toContain('local-secret');
  });

  it('rejects a PEM private key block', () => {
    expect(checkBundleText('ops', 'index.js', PEM_IN_JS, []).map((v) => v.kind)).toEqual(['private-key']);
  });

  it('rejects an RSA PEM private key block with real newlines', () => {
    const pem = `-----BEGIN RSA PRIVATE KEY-----\n${'A'.repeat(64)}\n-----END RSA PRIVATE KEY-----`;
    expect(checkBundleText('ops', 'index.js.map', pem, []).map((v) => v.kind)).toEqual(['private-key']);
  });

  it('accepts a bare PEM header literal, as PEM parsers contain', () => {
    expect(
      checkBundleText('ops', 'index.js', 'if (pem.startsWith("-----BEGIN PRIVATE KEY-----")) throw e;', []),
    ).toEqual([]);
  });
});

describe('checkBundleSize', () => {
  it('accepts a bundle exactly at its budget', () => {
    expect(checkBundleSize('ops', 3 * MIB, DEFAULT_BUNDLE_BUDGET_BYTES)).toEqual([]);
  });

  it('rejects a bundle one byte over budget', () => {
    expect(checkBundleSize('ops', 3 * MIB + 1, 3 * MIB)).toEqual([
      { fn: 'ops', kind: 'over-budget', detail: `index.js is ${3 * MIB + 1} bytes, budget ${3 * MIB} bytes` },
    ]);
  });
});

describe('parseFixtureSecrets', () => {
  it('reads one secret per line, skipping blanks and # comments, trimming spaces', () => {
    expect(parseFixtureSecrets('# header\n\n  local-secret  \r\nanother-secret-1\n')).toEqual([
      'local-secret',
      'another-secret-1',
    ]);
  });

  it('rejects an entry too short to search for, naming the line only', () => {
    expect(() => parseFixtureSecrets('# c\nabc\n')).toThrow(
      'secrets.txt line 2: entries must be at least 8 characters',
    );
  });
});

describe('formatSizeTable', () => {
  it('prints one aligned row per function with the share of the budget used', () => {
    const table = formatSizeTable([{ fn: 'sweep', bytes: 1536 * 1024, mapBytes: 512 * 1024, budgetBytes: 3 * MIB }]);
    expect(table.split('\n')).toEqual([
      'function    index.js  index.js.map      budget  used',
      'sweep     1536.0 KiB     512.0 KiB  3072.0 KiB   50%',
    ]);
  });
});
