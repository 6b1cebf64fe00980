/**
 * `npm run lint` (after `biome check .`): lists source lines (*.ts, *.cjs, *.mts) longer than 120
 * characters and exits 1 if there is any. The formatter wraps code at 120 columns but cannot split a
 * long string literal, regex or comment; split those by hand (`'...' + '...'`, keeping the value).
 * Files: what git tracks plus new files it does not ignore, node_modules excluded.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

const MAX_LINE_CHARS = 120;
const SOURCE = /\.(?:ts|cjs|mts)$/;

/** `[lineNumber, length]` of each line of `text` longer than `max` characters (code points). */
function longLines(text: string, max = MAX_LINE_CHARS): Array<[number, number]> {
  const found: Array<[number, number]> = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const length = [...line].length;
    if (length > max) found.push([i + 1, length]);
  });
  return found;
}

function sourceFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return [...new Set(out.split('\0'))].filter(
    (f) => SOURCE.test(f) && !f.split('/').includes('node_modules') && existsSync(f),
  );
}

function main(): number {
  let count = 0;
  for (const file of sourceFiles()) {
    for (const [line, length] of longLines(readFileSync(file, 'utf8'))) {
      process.stdout.write(`${file}:${line}: ${length} characters (max ${MAX_LINE_CHARS})\n`);
      count += 1;
    }
  }
  if (count > 0) {
    process.stdout.write(`${count} line(s) over ${MAX_LINE_CHARS} characters: split long strings with +\n`);
    return 1;
  }
  return 0;
}

process.exitCode = main();
