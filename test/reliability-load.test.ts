import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSoak } from './support/reliability-load.ts';
import { SOAK_CAMERA, SOAK_VIEWER, startSoakSystem, type SoakSystem } from './support/reliability-soak-setup.ts';

// Fifty WebSocket clients subscribed to scene events and asking about the live view, on loopback, against the
// real `familiar start` with its camera running: no errors, resident memory flat after warm-up, and the camera's
// processed frame rate within a stated bound of its rate with no clients. A bounded soak here; run
// `npx tsx test/reliability-soak.ts --minutes 30` for a long one.

const CLIENTS = 50;
const SOAK_MS = Number(process.env.RELIABILITY_SOAK_S ?? 45) * 1000;
const WARMUP_MS = 15_000;
/**
 * The stated bound: under this load the pipeline keeps at least this fraction of its unloaded frame rate. Measured
 * 0.90-0.93 with the machine otherwise idle and 0.70-0.89 with other CPU-heavy processes on the same 2 cores (as
 * in the suite, where other files run beside this one and their load changes between the two phases).
 */
const MIN_FPS_RATIO = 0.6;
/**
 * Growth of resident memory between the quiet checkpoints (after the warm-up, at the end; ~400 asks apart). RSS
 * is a coarse signal on this 1 GiB process: leak-free runs measured -48 to +120 MiB between checkpoints (and
 * +88 MiB from raw samples in a busy suite), from in-flight asks and what the allocator keeps after a burst, while
 * the JS heap stayed flat; a run with MALLOC_ARENA_MAX=2 stepped up +266 MiB once, then stayed flat. So this bound
 * catches gross leaks only, e.g. a decoded view (2.7 MB) kept per ask would add over 1 GiB; the per-ask trend is
 * the long soak's job (test/reliability-soak.ts; figures in the README, "Limits and guarantees").
 */
const MAX_RSS_GROWTH_MIB = 384;

let system: SoakSystem;

beforeAll(async () => {
  system = await startSoakSystem({ clients: CLIENTS, fps: 2 });
});

afterAll(async () => {
  await system?.close();
});

describe('load', () => {
  it(`${CLIENTS} clients asking and subscribing for a bounded soak: no errors, flat memory, frame rate kept`, async ({ annotate }) => {
    const report = await runSoak({
      url: system.rt.url,
      token: SOAK_VIEWER,
      pid: system.rt.pid,
      cameraId: SOAK_CAMERA,
      clients: CLIENTS,
      durationMs: SOAK_MS,
      warmupMs: WARMUP_MS,
      baselineMs: 6000,
      askPauseMs: 4000,
    });
    const { memory: _memory, ...summary } = report;
    await annotate(JSON.stringify(summary));
    expect(report.errors).toEqual({});
    expect(report.answered).toBe(report.asks);
    expect(report.asks).toBeGreaterThanOrEqual(CLIENTS * 2);
    expect(report.sceneEvents).toBeGreaterThan(0);
    expect(report.fpsBaseline).toBeGreaterThan(0);
    expect(report.fpsUnderLoad / report.fpsBaseline).toBeGreaterThanOrEqual(MIN_FPS_RATIO);
    expect(report.rssGrowthMiB).toBeLessThan(MAX_RSS_GROWTH_MIB);
    expect(system.rt.proc.exitCode).toBeNull();
    expect(system.rt.logLines().filter((l) => l.level === 'error')).toEqual([]);
  });
});
