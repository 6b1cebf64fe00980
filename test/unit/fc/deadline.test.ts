/**
 * deadlineFor (shared/fc/adapter.ts): the write deadline is the function timeout minus a margin, in
 * real time; under the local stack's --speed the engine clock runs `rate` times faster, so the
 * deadline on that clock is `rate` times further (at x3600 a 600 s sweep used to get 0.15 s of real
 * time, and every rotation was deferred).
 */
import { describe, expect, it } from 'vitest';
import { deadlineFor } from '../../../shared/fc/adapter.js';
import type { FcContext } from '../../../shared/fc/types.js';

const context = (timeout: number) => ({ function: { timeout } }) as unknown as FcContext;
const T0 = 1_800_000_000_000;

describe('deadlineFor', () => {
  it('is the timeout minus 10 % (at least 5 s) on the real clock', () => {
    expect(deadlineFor(context(600), T0) - T0).toBe(540_000);
    expect(deadlineFor(context(30), T0) - T0).toBe(25_000);
    expect(deadlineFor(context(600), T0, 1) - T0).toBe(540_000);
  });

  it('scales with the engine clock rate under --speed', () => {
    expect(deadlineFor(context(600), T0, 3600) - T0).toBe(540_000 * 3600);
  });

  it('never shrinks below the real budget (a rate under 1 counts as 1)', () => {
    expect(deadlineFor(context(600), T0, 0.5) - T0).toBe(540_000);
  });
});
