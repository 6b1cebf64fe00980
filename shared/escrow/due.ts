/**
 * When a periodic check of one record is due, without a scan or a schedule kept anywhere but the
 * record itself (issue 10): each id has a phase day in every period of `periodDays` days (a hash of
 * the id and a salt), and is checked on the first sweep of its phase day, unless it was checked
 * earlier that day. It is also due whenever `periodDays` days have passed since its last check (a
 * missed phase day: no sweep ran, a write failed) and when it has never been checked. So:
 *
 * - every record is checked at least once in any `periodDays` consecutive days on which sweeps run;
 * - records written on the same day (an onboarding of many lineages) come due on different days;
 * - only the first sweep of a day pays for that day's checks (later ones see them done).
 *
 * Days are whole UTC days since the epoch.
 */
import { createHash } from 'node:crypto';

/** Milliseconds in a day. */
const DAY_MS = 86_400_000;

/** Whole UTC days since the epoch. */
export function dayIndex(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

/** The phase day of `id` in a period, 0 .. period-1 (salted, so two checks of one id spread apart). */
export function phaseOf(id: string, periodDays: number, salt: string): number {
  return createHash('sha256').update(`${salt}\n${id}`).digest().readUInt32BE(0) % periodLength(periodDays);
}

function periodLength(periodDays: number): number {
  return Math.max(1, Math.floor(periodDays));
}

/** Whether the check of `id`, last done on day `lastDay` (undefined = never), is due on `today`. */
export function isDue(
  id: string,
  lastDay: number | undefined,
  today: number,
  periodDays: number,
  salt: string,
): boolean {
  if (lastDay === undefined || lastDay > today) return true; // never, or a date from the future: check now
  if (lastDay === today) return false;
  const period = periodLength(periodDays);
  return today - lastDay >= period || today % period === phaseOf(id, period, salt);
}
