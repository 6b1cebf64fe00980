/**
 * The ops CLI's command line: parsing with `node:util` `parseArgs` (as the other entry points do)
 * against the command table (usage.ts) into a command and its engine request. Every problem is
 * an InvalidInput error naming the bad token (`details.field = 'argv'`), so it exits 2 with a
 * pointer to `--help`.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ErrorCode, OrchestratorError } from '../../shared/errors.js';
import type { OpsRequest } from '../../shared/ops/commands.js';
import { isKeySpec } from '../../shared/wrap/index.js';
import { COMMANDS, COMMON_FLAGS, type CommandSpec } from './usage.js';

/** A parsed command line. */
export interface ParsedCommand {
  spec: CommandSpec;
  args: string[];
  flags: Record<string, string | number | true>;
  json: boolean;
  help: boolean;
}

/** No command: global help (asked for, or the usage error of an empty line). */
export interface NoCommand {
  spec: undefined;
  json: boolean;
}

/** A usage error naming the bad token. */
export function usageError(message: string): OrchestratorError {
  return new OrchestratorError(ErrorCode.InvalidInput, message, { details: { field: 'argv' } });
}

/** parseArgs' view of one token (node:util tokens). */
type Token =
  | { kind: 'option'; index: number; name: string; rawName: string; value?: string; inlineValue?: boolean }
  | { kind: 'positional'; index: number; value: string }
  | { kind: 'option-terminator'; index: number };

/** Every flag of every command, so a value flag's next token is read as its value, not as the command. */
const PARSE_OPTIONS: NonNullable<ParseArgsConfig['options']> = Object.fromEntries(
  [...COMMANDS.flatMap((c) => c.flags), ...COMMON_FLAGS].map((f) => [
    f.name,
    { type: f.value ? ('string' as const) : ('boolean' as const), ...(f.short ? { short: f.short } : {}) },
  ]),
);

/**
 * The tokens of `argv`, checked per command below (strict mode would refuse with its own words).
 * A token like `-5` is an argument, not a flag, as it was before parseArgs.
 */
function tokensOf(argv: string[]): { options: Array<Token & { kind: 'option' }>; positionals: string[] } {
  const { tokens } = parseArgs({
    args: argv,
    options: PARSE_OPTIONS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const options: Array<Token & { kind: 'option' }> = [];
  const positionals: string[] = [];
  const numeric = new Set<number>();
  for (const t of (tokens ?? []) as Token[]) {
    if (t.kind === 'positional') positionals.push(t.value);
    else if (t.kind === 'option' && /^-\d/.test(argv[t.index] ?? '')) {
      if (!numeric.has(t.index)) positionals.push(argv[t.index]!);
      numeric.add(t.index);
    } else if (t.kind === 'option') options.push(t);
  }
  return { options, positionals };
}

/** Parses argv into a command; `spec: undefined` means "global help". Throws InvalidInput naming the bad token. */
export function parseCommandLine(argv: string[]): ParsedCommand | NoCommand {
  const { positionals } = tokensOf(argv);
  const json = argv.includes('--json');
  const help = argv.includes('--help') || argv.includes('-h');
  const first = positionals[0];
  if (first === undefined) {
    const stray = argv.find((t) => t !== '--json' && t !== '--help' && t !== '-h');
    if (stray !== undefined) throw usageError(`unknown flag ${JSON.stringify(stray.slice(0, 40))}`);
    return { spec: undefined, json };
  }
  if (first === 'help') {
    // `help <command...>` is `<command...> --help`.
    return positionals.length > 1 ? parseCommandLine([...positionals.slice(1), '--help']) : { spec: undefined, json };
  }
  let spec = COMMANDS.find((c) => c.name === first);
  if (first === 'audit') {
    const sub = positionals[1];
    spec = COMMANDS.find((c) => c.name === `audit ${sub}`);
    if (!spec) {
      if (help && sub === undefined) return { spec: undefined, json };
      if (sub === undefined) throw usageError('audit: missing subcommand (verify or tail)');
      throw usageError(`audit: unknown subcommand ${JSON.stringify(sub.slice(0, 40))} (verify or tail)`);
    }
  }
  if (!spec) throw usageError(`unknown command ${JSON.stringify(first.slice(0, 40))}; run with --help for the list`);
  return parseForCommand(spec, argv, json, help);
}

function parseForCommand(spec: CommandSpec, argv: string[], json: boolean, help: boolean): ParsedCommand {
  const known = [...spec.flags, ...COMMON_FLAGS];
  const { options, positionals } = tokensOf(argv);
  const flags: Record<string, string | number | true> = {};
  for (const t of options) {
    const isLong = t.rawName.startsWith('--');
    const f = known.find((k) => k.name === t.name && (isLong || k.short === t.rawName.slice(1)));
    if (!f) throw usageError(`${spec.name}: unknown flag ${isLong ? `--${t.name}` : argv[t.index]}`);
    if (!f.value) {
      if (t.inlineValue) throw usageError(`${spec.name}: flag --${f.name} takes no value`);
      flags[f.name] = true;
      continue;
    }
    const value = t.value;
    if (value === undefined || value === '') throw usageError(`${spec.name}: flag --${f.name} needs a value`);
    if (f.value === 'int') {
      if (!/^\d{1,9}$/.test(value)) {
        throw usageError(`${spec.name}: --${f.name} must be a whole number, got ${JSON.stringify(value.slice(0, 40))}`);
      }
      flags[f.name] = Number(value);
    } else flags[f.name] = value;
  }
  const args = positionals.slice(spec.name.split(' ').length);
  if (!help) {
    if (args.length < spec.args.length) throw usageError(`${spec.name}: missing <${spec.args[args.length]}>`);
    if (args.length > spec.args.length) {
      throw usageError(`${spec.name}: unexpected argument ${JSON.stringify(args[spec.args.length]!.slice(0, 80))}`);
    }
  }
  return { spec, args, flags, json, help };
}

/** The engine request of a parsed engine command. */
export function toRequest(p: ParsedCommand): OpsRequest {
  const [a] = p.args;
  switch (p.spec.name) {
    case 'status':
    case 'plan':
    case 'sweep':
    case 'verify-escrow':
    case 'doctor':
      return { command: p.spec.name };
    case 'onboard': {
      const keySpec = p.flags['key-spec'] as string | undefined;
      if (keySpec !== undefined && !isKeySpec(keySpec)) {
        const got = JSON.stringify(keySpec.slice(0, 40));
        throw usageError(
          `onboard: --key-spec must be Aliyun_AES_256, Aliyun_AES_192, Aliyun_AES_128 or Aliyun_SM4, got ${got}`,
        );
      }
      const validityDays = p.flags['validity-days'] as number | undefined;
      return {
        command: 'onboard',
        alias: a!,
        ...(validityDays !== undefined ? { validityDays } : {}),
        ...(keySpec ? { keySpec } : {}),
      };
    }
    case 'adopt': {
      const materialFile = p.flags['material-file'] as string | undefined;
      const alias = p.flags['alias'] as string | undefined;
      if (materialFile === undefined) throw usageError('adopt: --material-file <path> is required');
      if (alias === undefined) throw usageError('adopt: --alias <alias> is required');
      return { command: 'adopt', keyId: a!, alias, materialFile };
    }
    case 'renew':
      return { command: 'renew', target: a! };
    case 'rotate':
      return { command: 'rotate', alias: a! };
    case 'reimport':
      return { command: 'reimport', keyId: a! };
    case 'revoke': {
      const confirm = p.flags['confirm'] as string | undefined;
      return { command: 'revoke', keyId: a!, ...(confirm !== undefined ? { confirm } : {}) };
    }
    case 'retire': {
      const confirm = p.flags['confirm'] as string | undefined;
      return { command: 'retire', keyId: a!, ...(confirm !== undefined ? { confirm } : {}) };
    }
    case 'restore':
      return { command: 'restore', keyId: a! };
    case 'report':
      if (p.flags['html'] === undefined) throw usageError('report: --html <file> is required');
      return { command: 'report' };
    default:
      throw usageError(`unknown command "${p.spec.name}"`);
  }
}
