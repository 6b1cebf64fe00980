/** `doctor`'s output: the overall verdict and one aligned line per check. */
import { CheckStatus, type DoctorCheck } from './doctor-checks.js';

/** The worst verdict of `checks` (ok when there are none). */
export function worstStatus(checks: readonly DoctorCheck[]): CheckStatus {
  if (checks.some((c) => c.status === CheckStatus.Fail)) return CheckStatus.Fail;
  if (checks.some((c) => c.status === CheckStatus.Warn)) return CheckStatus.Warn;
  return CheckStatus.Ok;
}

/** One line per check: status and name in aligned columns, then what was found and `-> fix`. */
export function renderDoctor(checks: readonly DoctorCheck[]): string {
  const width = Math.max(0, ...checks.map((c) => c.name.length));
  return (
    checks
      .map((c) => `${c.status.padEnd(4)}  ${c.name.padEnd(width)}  ${c.detail}${c.fix ? `  -> ${c.fix}` : ''}`)
      .join('\n') + (checks.length ? '\n' : '')
  );
}
