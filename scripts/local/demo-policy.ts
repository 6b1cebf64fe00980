/**
 * The demo policy of `npm start -- --speed <n>`: material valid a few days, renewed a day before it
 * lapses and a new generation every few days, so at `--speed 3600` (an hour a second) a renewal and
 * a rotation both happen within two minutes of watching. Without --speed the stack keeps the
 * product's defaults (BYOK_POLICY_*: 30 d validity, renew 7 d before, rotate yearly).
 */

/** The demo policy in days (within the config's ranges: validity >= 2, renew < validity, rotate >= 1). */
export const DEMO_POLICY = { validityDays: 3, renewBeforeDays: 1, rotateAfterDays: 3 } as const;

/**
 * A lineage lease lasts a day of emulated time under --speed: the default 15 minutes pass in a
 * quarter of a second at x3600, shorter than one onboarding takes, so every write would be deferred.
 */
export const DEMO_LEASE_TTL_SECONDS = 86_400;

/** How often the sweep timer fires (s.yaml `sweep-every-6h`). */
const SWEEP_EVERY_HOURS = 6;

/** The variables the stack's functions and CLI get under --speed; none at speed 1. */
export function demoPolicyEnv(speed: number): Record<string, string> {
  if (speed <= 1) return {};
  return {
    BYOK_POLICY_VALIDITY_DAYS: String(DEMO_POLICY.validityDays),
    BYOK_POLICY_RENEW_BEFORE_DAYS: String(DEMO_POLICY.renewBeforeDays),
    BYOK_POLICY_ROTATE_AFTER_DAYS: String(DEMO_POLICY.rotateAfterDays),
    BYOK_LEASE_TTL_SECONDS: String(DEMO_LEASE_TTL_SECONDS),
  };
}

/** Real seconds `days` of emulated time take at `speed`, rounded up. */
export function realSeconds(days: number, speed: number): number {
  return Math.ceil((days * 86_400) / speed);
}

/** `48 s`, `12 min`, `3.5 h`, `2 days`: a real duration for the banner. */
export function humanSeconds(s: number): string {
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 360) / 10} h`;
  return `${Math.round(s / 8640) / 10} days`;
}

/**
 * When the first renewal and rotation of a freshly onboarded key happen, in real seconds at
 * `speed`: the first sweep at or after the day they fall due (sweeps run every 6 emulated hours).
 */
export function demoTimeline(speed: number): { renewAfterS: number; rotateAfterS: number; sweepEveryS: number } {
  const sweepDays = SWEEP_EVERY_HOURS / 24;
  const renewDay = DEMO_POLICY.validityDays - DEMO_POLICY.renewBeforeDays;
  return {
    renewAfterS: realSeconds(renewDay + sweepDays, speed),
    rotateAfterS: realSeconds(DEMO_POLICY.rotateAfterDays + sweepDays, speed),
    sweepEveryS: realSeconds(sweepDays, speed),
  };
}

/** The banner's lines about the demo policy (empty at speed 1). */
export function demoPolicyBanner(speed: number): string[] {
  if (speed <= 1) return [];
  const t = demoTimeline(speed);
  const p = DEMO_POLICY;
  return [
    `demo policy       material valid ${p.validityDays} days, renewed ${p.renewBeforeDays} day before it ` +
      `lapses, a new generation every ${p.rotateAfterDays} days`,
    `                  (BYOK_POLICY_VALIDITY_DAYS=${p.validityDays} ` +
      `BYOK_POLICY_RENEW_BEFORE_DAYS=${p.renewBeforeDays} BYOK_POLICY_ROTATE_AFTER_DAYS=${p.rotateAfterDays})`,
    `                  at x${speed}: a sweep every ${humanSeconds(t.sweepEveryS)}, a new key's first renewal ` +
      `within ${humanSeconds(t.renewAfterS)} and its first rotation within ${humanSeconds(t.rotateAfterS)}`,
  ];
}
