import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSoak } from './support/reliability-load.ts';
import { SOAK_CAMERA, SOAK_VIEWER, startSoakSystem, type SoakSystem } from './support/reliability-soak-setup.ts';

// Fifty WebSocket clients subscribed to scene events and asking about the live view, on loopback, against the
// real `familiar start` with its camera running: no errors, resident memory flat after warm-up, and the camera's
// processed frame rate within a stated bound of its rate with no clients. A bounded soak here; run
// `npx tsx test/reliability-soak.ts --minutes 30` for a long one.

const CLIENTS = 50;
const SOAK_MS = Number(process.env.RELIABILITY_SOAK_S ?? 60) * 1000;
/** The stated bound: under this load the pipeline keeps at least this fraction of its unloaded frame rate. */
const MIN_FPS_RATIO = 0.7;
/** Resident memory may wander by allocator slack after warm-up, not grow with time. */
const MAX_RSS_GROWTH_MIB = 48;

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
      baselineMs: 8000,
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
