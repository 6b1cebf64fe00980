/**
 * Policy variables: the defaults (BYOK_POLICY_*) and the per-lineage overrides
 * (BYOK_POLICY_OVERRIDES, JSON), each validated field by field against the same ranges.
 */
import { lineageProblem, ALIAS_PREFIX } from '../lineage.js';
import { KeySpec, WrappingAlgorithm, isKeySpec, isWrappingAlgorithm } from '../wrap/index.js';
import type { Reader } from './reader.js';
import { DEFAULT_POLICY, Range, type LineagePolicy } from './schema.js';
import { ConfigVariable } from './variables.js';

const POLICY_FIELDS = [
  'validityDays',
  'renewBeforeDays',
  'rotateAfterDays',
  'retainPreviousDays',
  'reviveValidityDays',
  'wrappingAlgorithm',
  'keySpec',
] as const;
type PolicyField = (typeof POLICY_FIELDS)[number];

/** The BYOK_POLICY_* defaults; a bad value is a problem and leaves its field undefined. */
export function parsePolicyDefaults(r: Reader): Partial<LineagePolicy> {
  const V = ConfigVariable;
  const p: Partial<LineagePolicy> = {
    validityDays: r.int(V.PolicyValidityDays, Range.validityDays, DEFAULT_POLICY.validityDays),
    renewBeforeDays: r.int(V.PolicyRenewBeforeDays, Range.renewBeforeDays, DEFAULT_POLICY.renewBeforeDays),
    rotateAfterDays: r.int(
      V.PolicyRotateAfterDays,
      Range.rotateAfterDays,
      DEFAULT_POLICY.rotateAfterDays,
      ' (0 = never)',
    ),
    retainPreviousDays: r.int(
      V.PolicyRetainPreviousDays,
      Range.retainPreviousDays,
      DEFAULT_POLICY.retainPreviousDays,
      ' (0 = forever)',
    ),
    reviveValidityDays: r.int(V.PolicyReviveValidityDays, Range.reviveValidityDays, DEFAULT_POLICY.reviveValidityDays),
    wrappingAlgorithm: r.oneOf(
      V.PolicyWrappingAlgorithm,
      Object.values(WrappingAlgorithm),
      DEFAULT_POLICY.wrappingAlgorithm,
    ),
    keySpec: r.oneOf(V.PolicyKeySpec, Object.values(KeySpec), DEFAULT_POLICY.keySpec),
  };
  if (p.validityDays !== undefined && p.renewBeforeDays !== undefined && p.renewBeforeDays >= p.validityDays) {
    // Renewing at or before the moment of import would renew on every sweep.
    r.fail(
      V.PolicyRenewBeforeDays,
      `must be less than ${V.PolicyValidityDays} (${p.validityDays}), got ${p.renewBeforeDays}`,
    );
  }
  return p;
}

function describeJson(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}...` : v);
  if (typeof v === 'object') return 'an object';
  return String(v);
}

/** Validates BYOK_POLICY_OVERRIDES field by field, and each lineage's effective policy. */
export function parseOverrides(r: Reader, defaults: Partial<LineagePolicy>): Record<string, Partial<LineagePolicy>> {
  const V = ConfigVariable.PolicyOverrides;
  const raw = r.raw(V);
  const out: Record<string, Partial<LineagePolicy>> = {};
  if (raw === undefined) return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    // JSON.parse's own message quotes the input; ours does not need to.
    r.fail(V, 'must be a JSON object {"<lineage>": {"validityDays": 10, ...}}, got text that is not valid JSON');
    return out;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    r.fail(V, `must be a JSON object {"<lineage>": {...}}, got ${describeJson(parsed)}`);
    return out;
  }
  for (const [lineage, body] of Object.entries(parsed as Record<string, unknown>)) {
    const at = `${V}.${lineage}`;
    if (lineage.startsWith(ALIAS_PREFIX)) {
      r.fail(V, `lineage "${lineage.slice(0, 64)}" must be written without the alias/ prefix`);
      continue;
    }
    const problem = lineageProblem(lineage);
    if (problem !== undefined) {
      r.fail(V, `lineage ${describeJson(lineage)}: ${problem.text}`);
      continue;
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      r.fail(at, `must be an object of policy fields, got ${describeJson(body)}`);
      continue;
    }
    const o: Partial<LineagePolicy> = {};
    let ok = true;
    for (const [field, value] of Object.entries(body as Record<string, unknown>)) {
      const bad = (rule: string): void => {
        ok = false;
        r.fail(`${at}.${field}`, `${rule}, got ${describeJson(value)}`);
      };
      switch (field as PolicyField) {
        case 'validityDays':
        case 'renewBeforeDays':
        case 'rotateAfterDays':
        case 'retainPreviousDays':
        case 'reviveValidityDays': {
          const [min, max] = Range[field as 'validityDays'];
          if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max)
            o[field as 'validityDays'] = value;
          else {
            const zero =
              field === 'rotateAfterDays' ? ' (0 = never)' : field === 'retainPreviousDays' ? ' (0 = forever)' : '';
            bad(`must be a whole number from ${min} to ${max}${zero}`);
          }
          break;
        }
        case 'wrappingAlgorithm':
          if (isWrappingAlgorithm(value)) o.wrappingAlgorithm = value;
          else bad(`must be one of ${Object.values(WrappingAlgorithm).join(', ')}`);
          break;
        case 'keySpec':
          if (isKeySpec(value)) o.keySpec = value;
          else bad(`must be one of ${Object.values(KeySpec).join(', ')}`);
          break;
        default:
          ok = false;
          r.fail(at, `unknown field ${describeJson(field)} (allowed: ${POLICY_FIELDS.join(', ')})`);
      }
    }
    if (!ok) continue;
    const validity = o.validityDays ?? defaults.validityDays;
    const renew = o.renewBeforeDays ?? defaults.renewBeforeDays;
    if (validity !== undefined && renew !== undefined && renew >= validity) {
      r.fail(at, `renewBeforeDays (${renew}) must be less than validityDays (${validity})`);
      continue;
    }
    out[lineage] = o;
  }
  return out;
}
