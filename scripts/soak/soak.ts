/**
 * `npm run soak -- [--seed <n>] [--sweeps <n>] [--lineages <n>] [--world-sweeps <n>]
 * [--escrow file|kms-secrets|both]`: randomized fault scenarios against the KMS emulator and the
 * real engine (run.ts), the invariants checked after every sweep (invariants.ts). Prints one line
 * per invariant (`<invariant>: sweeps <n>, faults <n>, violations <n>`), totals and faults by kind;
 * each violation is printed with its seed and sweep number. Exits 1 on any violation, 2 on bad usage.
 */
import { formatReport, runSoak, type SoakOptions } from './run.js';

const USAGE =
  'usage: npm run soak -- [--seed <n>] [--sweeps <n>] [--lineages <n>] [--world-sweeps <n>] ' +
  '[--escrow file|kms-secrets|both]';

function parseArgs(argv: string[]): SoakOptions {
  const options: SoakOptions = { seed: 1, sweeps: 200 };
  const int = (flag: string, value: string | undefined, min: number): number => {
    const n = Number(value);
    if (value === undefined || !Number.isInteger(n) || n < min) {
      throw new Error(`${flag}: must be a whole number >= ${min}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    i++;
    switch (flag) {
      case '--seed':
        options.seed = int(flag, value, 0);
        break;
      case '--sweeps':
        options.sweeps = int(flag, value, 1);
        break;
      case '--lineages':
        options.lineages = int(flag, value, 1);
        break;
      case '--world-sweeps':
        options.worldSweeps = int(flag, value, 1);
        break;
      case '--escrow':
        if (value !== 'file' && value !== 'kms-secrets' && value !== 'both') {
          throw new Error('--escrow: must be file, kms-secrets or both');
        }
        options.escrow = value;
        break;
      default:
        throw new Error(`unknown argument ${flag}`);
    }
  }
  return options;
}

async function main(): Promise<number> {
  let options: SoakOptions;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const report = await runSoak({ ...options, progress: (line) => process.stderr.write(`${line}\n`) });
  for (const v of report.violations) {
    process.stdout.write(
      `VIOLATION seed ${v.seed} sweep ${v.sweep} (${v.escrow} escrow; faults: ${v.faults.join(', ') || 'none'}) ` +
        `${v.invariant}: ${v.detail}\n`,
    );
  }
  process.stdout.write(
    `soak seed ${report.seed}, ${report.sweeps} sweeps, ${report.simulatedDays} emulated days, ` +
      `${(report.elapsedMs / 1000).toFixed(1)} s\n`,
  );
  for (const line of formatReport(report)) process.stdout.write(`${line}\n`);
  return report.violations.length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 2;
  },
);
