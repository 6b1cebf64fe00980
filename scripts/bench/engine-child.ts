/**
 * The process `npm run bench` measures (scripts/bench/bench.ts spawns it once per N): the engine
 * as a warm function instance would run it, built by the one dependency factory (shared/bootstrap.ts)
 * from BYOK_* variables, so the defaults the product ships (concurrency, rate limit, escrow backend)
 * are the ones measured. No emulator runs here, so its peak RSS is the engine's alone.
 *
 * Protocol: one JSON object per line. It prints `BENCH {"ready":...}` once the instance is built,
 * then reads commands from stdin and answers each with one `BENCH {...}` line:
 *   {"op":"sweep"|"check-key"|"onboard"|"rotate", "clockOffsetMs": n, "keyId"?, "alias"?}
 * The engine clock is the wall clock plus `clockOffsetMs` (the emulator's offset, sent with every
 * command). Every answer carries `wallMs` (the operation alone), `maxRssKiB` (peak RSS so far),
 * the KMS client's pacing state when it has one and the mean latency of the operation's completed
 * calls as the client measured them (`meanLatencyMs`, when the client reports them).
 * Audit lines are built and dropped (a sink that writes nowhere); nothing else goes to stdout.
 */
import { createInterface } from 'node:readline';
import { createEngineFactory } from '../../shared/bootstrap.js';
import { parseConfig } from '../../shared/config/index.js';
import { onboard, rotateNow, sweep } from '../../shared/lifecycle/engine.js';
import type { SweepResult } from '../../shared/lifecycle/engine.js';
import { checkWebhookTarget } from '../../shared/webhook/intake.js';
import { type ChildAnswer, type ChildCommand, LINE_PREFIX, type PacingReport } from './protocol.js';

function send(value: unknown): void {
  process.stdout.write(`${LINE_PREFIX}${JSON.stringify(value)}\n`);
}

function summarise(r: SweepResult & { plan: { actions: Array<{ kind: string }> } }): Partial<ChildAnswer> {
  const kinds: Record<string, number> = {};
  for (const a of r.plan.actions) kinds[a.kind] = (kinds[a.kind] ?? 0) + 1;
  return { planned: r.plan.actions.length, counts: { ...r.counts }, kinds };
}

async function main(): Promise<void> {
  const config = parseConfig(process.env);
  let offsetMs = 0;
  const clock = { nowMs: () => Date.now() + offsetMs };
  const factory = createEngineFactory({ config, clock, auditWriter: () => undefined });
  const accessKeyId = process.env['ALIBABA_CLOUD_ACCESS_KEY_ID'] ?? '';
  const accessKeySecret = process.env['ALIBABA_CLOUD_ACCESS_KEY_SECRET'] ?? '';
  const instance = await factory.instance(() => ({ accessKeyId, accessKeySecret }));
  // The client's pacer, if it has one (read duck-typed: its shape is the KMS client's business).
  const pacer = (instance.kms as { pacer?: { state?: () => PacingReport; completed?: (ms: number) => void } }).pacer;
  const pacing = (): PacingReport | undefined => (typeof pacer?.state === 'function' ? pacer.state() : undefined);
  // The latency of every completed call, as the client measures it (its pacer is told each one):
  // summed per operation, for the true mean (the pacer's own figure is a moving average).
  const latency = { sumMs: 0, calls: 0 };
  const completed = pacer?.completed;
  if (pacer !== undefined && typeof completed === 'function') {
    pacer.completed = (ms: number) => {
      latency.sumMs += ms;
      latency.calls += 1;
      completed.call(pacer, ms);
    };
  }
  send({
    ready: true,
    concurrency: config.kms.concurrency ?? null,
    maxRequestsPerSecond: config.kms.maxRequestsPerSecond ?? null,
    qpsShare: (config.kms as { qpsShare?: number }).qpsShare ?? null,
    escrow: config.escrow.backend,
  });
  let runs = 0;
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const cmd = JSON.parse(line) as ChildCommand;
    offsetMs = cmd.clockOffsetMs;
    const kind = cmd.op === 'check-key' ? 'webhook' : cmd.op === 'sweep' ? 'timer' : 'operator';
    const deps = await factory.run(instance, { actor: { kind, id: 'bench' }, runId: `bench-${++runs}` });
    latency.sumMs = 0;
    latency.calls = 0;
    const started = process.hrtime.bigint();
    let answer: Partial<ChildAnswer> = {};
    try {
      if (cmd.op === 'sweep') answer = summarise(await sweep(deps));
      else if (cmd.op === 'check-key') answer = summarise(await checkWebhookTarget(deps, { keyId: cmd.keyId ?? '' }));
      else if (cmd.op === 'onboard') await onboard(deps, { alias: cmd.alias ?? '' });
      else await rotateNow(deps, cmd.alias ?? '');
      answer.ok = true;
    } catch (err) {
      answer = { ok: false, error: err instanceof Error ? `${err.name}: ${err.message}` : 'non-error thrown' };
    } finally {
      await deps.close();
    }
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
    const state = pacing();
    const mean = latency.calls === 0 ? {} : { meanLatencyMs: latency.sumMs / latency.calls };
    send({
      ...answer,
      wallMs,
      maxRssKiB: process.resourceUsage().maxRSS,
      ...mean,
      ...(state ? { pacing: state } : {}),
    });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench child: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
