/** What the lease unit tests share: one lineage, a fixed clock and TTL, and LeaseDeps over a port. */
import { type LeaseDeps, type LeaseKmsPort, leaseSecretName } from '../../shared/lifecycle/lease.js';

export const NOW = 1_800_000_000_000;
export const TTL = 15 * 60_000;
export const LINEAGE = 'payments';
export const NAME = leaseSecretName(LINEAGE);

/** LeaseDeps for `holder` over `kms`, at `nowMs` (default NOW). */
export const deps = (kms: LeaseKmsPort, holder: string, nowMs = NOW): LeaseDeps => ({
  kms,
  encryptionKeyId: 'escrow-cmk',
  nowMs: () => nowMs,
  ttlMs: TTL,
  holder,
});
