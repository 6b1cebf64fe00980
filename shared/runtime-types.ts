/**
 * The ambient capabilities shared code receives instead of reaching for globals
 * (docs/design.md §3: nothing in shared/ reads the wall clock or global randomness directly).
 */

/** A source of time; tests and the emulator-driven scenarios pass a controllable one. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  nowMs(): number;
}

/** A source of cryptographically secure random bytes (a CSPRNG only, never a non-cryptographic PRNG). */
export interface RandomSource {
  /** Returns `n` fresh random bytes. */
  bytes(n: number): Buffer;
}
