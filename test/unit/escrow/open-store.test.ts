import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../shared/errors.js';
import { openEscrowStore } from '../../../shared/escrow/index.js';
import { FakeSecretsKms } from '../../support/fake-secrets-kms.js';
import { rejection } from './contract.js';

const random = { bytes: (n: number) => randomBytes(n) };

describe('openEscrowStore', () => {
  it('opens the file backend for backend file', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'escrow-open-'));
    try {
      const store = await openEscrowStore(
        { backend: 'file', dir: path.join(root, 'e'), masterKeyFile: path.join(root, 'k') },
        { random },
      );
      expect(store.backend).toBe('file');
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });

  it('opens the kms-secrets backend for backend kms-secrets with the given client', async () => {
    const store = await openEscrowStore(
      { backend: 'kms-secrets', keyId: 'escrow-cmk' },
      { random, kms: new FakeSecretsKms() },
    );
    expect(store.backend).toBe('kms-secrets');
  });

  it('refuses kms-secrets without a KMS client with InvalidConfig', async () => {
    const err = await rejection(openEscrowStore({ backend: 'kms-secrets', keyId: 'escrow-cmk' }, { random }));
    expect([err.code, err.details.field]).toEqual([ErrorCode.InvalidConfig, 'escrow.backend']);
  });
});
