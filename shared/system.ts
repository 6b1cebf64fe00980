/**
 * The one module in shared/ that creates the system clock and the system CSPRNG.
 * Everything else receives a Clock and a RandomSource.
 */
import { randomBytes } from 'node:crypto';
import type { Clock, RandomSource } from './runtime-types.js';

/** Wall-clock time. */
export const systemClock: Clock = { nowMs: () => Date.now() };

/** Node's CSPRNG (OpenSSL RAND_bytes under the hood). */
export const systemRandom: RandomSource = { bytes: (n: number) => randomBytes(n) };
