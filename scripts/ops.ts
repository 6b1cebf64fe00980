/** Entry of `npm run ops`: the on-call CLI (scripts/ops/cli.ts) with this process's env and streams. */
import { runCli } from './ops/cli.js';

// No top-level await: the package is CommonJS for tsx (no "type": "module").
void runCli(process.argv.slice(2), {
  env: process.env,
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
}).then((code) => (process.exitCode = code));
