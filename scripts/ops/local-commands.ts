/**
 * The ops CLI's commands that run on this machine only, whatever the mode: `config` (the effective
 * configuration, secrets redacted) and `audit verify` / `audit tail` (local audit JSONL files).
 */
import { readFile } from 'node:fs/promises';
import { verifyAuditChain } from '../../shared/audit/index.js';
import { parseConfig, redactConfig } from '../../shared/config/index.js';
import { ErrorCode, OrchestratorError } from '../../shared/errors.js';
import { usageError, type ParsedCommand } from './args.js';
import { ExitCode, auditLine } from './render.js';

/** Where a local command writes. */
export interface LocalCommandIo {
  env: Record<string, string | undefined>;
  stdout: (s: string) => void;
}

/** Names of the local commands. */
export const LOCAL_COMMANDS: ReadonlySet<string> = new Set(['config', 'audit verify', 'audit tail']);

const emitJson = (io: LocalCommandIo, doc: Record<string, unknown>) => io.stdout(`${JSON.stringify(doc, null, 2)}\n`);

function auditFileOf(p: ParsedCommand, env: Record<string, string | undefined>): string {
  const f = (p.flags['file'] as string | undefined) ?? env['BYOK_AUDIT_FILE']?.trim();
  if (!f) throw usageError(`${p.spec.name}: no audit file: pass --file <path> or set BYOK_AUDIT_FILE`);
  return f;
}

async function readAuditFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const why = typeof code === 'string' ? code : 'read failed';
    throw new OrchestratorError(ErrorCode.InvalidInput, `cannot read audit file ${file}: ${why}`, {
      details: { field: 'file' },
    });
  }
}

/** Flattens a JSON value into `dotted.path value` rows (arrays of plain values on one line). */
export function settingRows(value: unknown, path = ''): string[][] {
  if (value === undefined) return [];
  if (value === null || typeof value !== 'object') return [[path, String(value)]];
  if (Array.isArray(value)) {
    if (value.every((v) => v === null || typeof v !== 'object')) return [[path, value.length ? value.join(', ') : '-']];
    return value.flatMap((v, i) => settingRows(v, `${path}[${i}]`));
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return [[path, '-']];
  return entries.flatMap(([k, v]) => settingRows(v, path ? `${path}.${k}` : k));
}

function config(p: ParsedCommand, io: LocalCommandIo): ExitCode {
  const parsed = parseConfig(io.env);
  const code = ExitCode.Ok;
  // The warnings once, at the top level (not also inside `config`).
  const { warnings: _inConfig, ...shown } = redactConfig(parsed);
  if (p.json) {
    emitJson(io, { command: 'config', ok: true, exitCode: code, config: shown, warnings: parsed.warnings });
  } else {
    const rows = settingRows(shown);
    const width = Math.max('SETTING'.length, ...rows.map((r) => r[0]!.length));
    const lines = [['SETTING', 'VALUE'], ...rows].map(([k, v]) => `${k!.padEnd(width)}  ${v}`.trimEnd());
    io.stdout(`${lines.join('\n')}\n${parsed.warnings.map((w) => `warning: ${w}\n`).join('')}`);
  }
  return code;
}

async function auditVerify(p: ParsedCommand, io: LocalCommandIo): Promise<ExitCode> {
  const file = auditFileOf(p, io.env);
  const v = verifyAuditChain(await readAuditFile(file));
  const code = v.ok ? ExitCode.Ok : ExitCode.Failure;
  if (p.json) emitJson(io, { command: 'audit verify', exitCode: code, file, ...v });
  else if (v.ok) io.stdout(`audit chain ok: ${file}, ${v.events} event(s) in ${v.chains} chain(s)\n`);
  else io.stdout(`audit chain BROKEN: ${file}, line ${v.line}: ${v.reason}\n`);
  return code;
}

async function auditTail(p: ParsedCommand, io: LocalCommandIo): Promise<ExitCode> {
  const file = auditFileOf(p, io.env);
  const n = (p.flags['lines'] as number | undefined) ?? 20;
  const lines = (await readAuditFile(file)).split('\n').filter((l) => l.trim() !== '');
  const events = lines.slice(Math.max(0, lines.length - n)).map((l) => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      return { unparsable: l.slice(0, 200) };
    }
  });
  if (p.json) {
    emitJson(io, { command: 'audit tail', ok: true, exitCode: ExitCode.Ok, file, events });
  } else {
    const text = events
      .map((e) => ('unparsable' in e ? `(not JSON) ${String(e['unparsable'])}` : auditLine(e)))
      .join('\n');
    io.stdout(text + (events.length ? '\n' : `no events in ${file}\n`));
  }
  return ExitCode.Ok;
}

/** Runs a local command (`p.spec.name` in LOCAL_COMMANDS). */
export async function runLocalCommand(p: ParsedCommand, io: LocalCommandIo): Promise<ExitCode> {
  switch (p.spec.name) {
    case 'config':
      return config(p, io);
    case 'audit verify':
      return auditVerify(p, io);
    case 'audit tail':
      return auditTail(p, io);
    default:
      throw usageError(`unknown command "${p.spec.name}"`);
  }
}
