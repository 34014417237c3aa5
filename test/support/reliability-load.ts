/**
 * A WebSocket load driver for a running `familiar start`: many viewer clients that subscribe to scene events and
 * keep asking about a camera's view, pinging in between, while a monitor samples the process's memory and the
 * camera's processed-frame counter. Used by reliability-load.test.ts (a short soak) and reliability-soak.ts (long).
 *
 * Memory growth is read at two quiet checkpoints, not from the raw samples: under load the resident set swings by
 * ±100 MiB within seconds with the asks in flight (each holds a decoded view, an overlay and a JPEG) and with what
 * the allocator keeps after a burst, so two instants of a leak-free run can differ by as much as a leak would make.
 * At a checkpoint the clients hold their next ask, the in-flight ones finish, the process settles, and the median
 * of a few samples is taken: once after the warm-up, once at the end. Their difference is the growth.
 */
import { median } from '../../packages/evaluation/src/bench/stats.ts';
import { MiB, procMemory } from './familiar-process.ts';
import { deltaText, ok, TestClient } from './ws-client.ts';

export interface SoakOptions {
  url: string;
  token: string;
  /** The runtime's pid (memory is read from /proc). */
  pid: number;
  cameraId: string;
  clients: number;
  /** How long the clients keep asking. */
  durationMs: number;
  /** Frame rate is measured this long with no clients first. */
  baselineMs: number;
  /** Each client pauses between a random fraction of this and all of it after each ask. */
  askPauseMs: number;
  /** Load before the first quiet checkpoint (caches filled, allocator at its working size); part of durationMs. */
  warmupMs: number;
  /** Progress lines (the soak script prints them). */
  progress?: (line: string) => void;
}

export interface MemorySample {
  atS: number;
  rssMiB: number;
}

export interface SoakReport {
  clients: number;
  durationS: number;
  asks: number;
  answered: number;
  /** Failures by error code (or `closed`, `timeout`, `schema`, `answer-mismatch`). */
  errors: Record<string, number>;
  sceneEvents: number;
  pings: number;
  pingP50Ms: number;
  pingP99Ms: number;
  askP50Ms: number;
  askP99Ms: number;
  /** Processed frames per second of the camera with no clients, and under load. */
  fpsBaseline: number;
  fpsUnderLoad: number;
  /** Before any client connected. */
  rssStartMiB: number;
  /** At the quiet checkpoint after the warm-up, and at the one at the end. */
  rssWarmMiB: number;
  rssEndMiB: number;
  rssPeakMiB: number;
  /** rssEndMiB - rssWarmMiB: growth of resident memory after the warm-up. */
  rssGrowthMiB: number;
  /** Asks answered between the two checkpoints (what the growth is spread over). */
  asksAfterWarmup: number;
  /** Linear trend of the samples taken under load after the warm-up, MiB per minute (noisy over a short run). */
  rssSlopeMiBPerMin: number;
  memory: MemorySample[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function slopePerMin(samples: MemorySample[]): number {
  const n = samples.length;
  if (n < 2) return 0;
  const mx = samples.reduce((s, x) => s + x.atS, 0) / n;
  const my = samples.reduce((s, x) => s + x.rssMiB, 0) / n;
  let num = 0;
  let den = 0;
  for (const s of samples) {
    num += (s.atS - mx) * (s.rssMiB - my);
    den += (s.atS - mx) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 60;
}

interface CameraCounters {
  id: string;
  counters: { processed: number };
}

async function processedFrames(monitor: TestClient, cameraId: string): Promise<number> {
  const status = ok(await monitor.request<{ backend: { cameras: CameraCounters[] } }>({ type: 'status' }, 30_000));
  return status.backend.cameras.find((c) => c.id === cameraId)?.counters.processed ?? 0;
}

/** Runs the soak and reports; it never throws for a failed ask (those are counted), only for a broken harness. */
export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const log = o.progress ?? (() => {});
  if (!(o.warmupMs < o.durationMs)) throw new Error('warmupMs must be shorter than durationMs');
  const monitor = await TestClient.connect(o.url, o.token);
  const errors: Record<string, number> = {};
  const fail = (why: string) => {
    errors[why] = (errors[why] ?? 0) + 1;
  };

  const rssStartMiB = procMemory(o.pid).rss / MiB;
  // Baseline frame rate, nobody connected but the monitor.
  const b0 = await processedFrames(monitor, o.cameraId);
  const tb0 = performance.now();
  await sleep(o.baselineMs);
  const fpsBaseline = ((await processedFrames(monitor, o.cameraId)) - b0) / ((performance.now() - tb0) / 1000);
  log(`baseline: ${fpsBaseline.toFixed(2)} frames/s processed`);

  const clients = await Promise.all(Array.from({ length: o.clients }, () => TestClient.connect(o.url, o.token)));
  const subscriptions = await Promise.all(
    clients.map(async (c) => ok(await c.request<{ subscription: number }>({ type: 'scene/subscribe', camera_id: o.cameraId })).subscription),
  );

  // Counted as they arrive: the clients' message logs are trimmed during a long soak.
  let sceneEvents = 0;
  clients.forEach((c, i) =>
    c.ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as { id?: unknown; type?: unknown };
      if (m.type === 'event' && m.id === subscriptions[i]) sceneEvents++;
    }),
  );

  const started = performance.now();
  const deadline = started + o.durationMs;
  const memory: MemorySample[] = [];
  const pings: number[] = [];
  const askMs: number[] = [];
  let asks = 0;
  let answered = 0;
  let inFlight = 0;
  /** Set while a checkpoint holds the clients; they wait on it before their next ask. */
  let hold: Promise<void> | null = null;

  /** Holds new asks, lets the ones in flight finish, lets the process settle, and reads its resident memory. */
  const quietRss = async (): Promise<number> => {
    while (inFlight > 0) await sleep(50);
    await sleep(1500);
    const samples: number[] = [];
    for (let i = 0; i < 5; i++, await sleep(200)) samples.push(procMemory(o.pid).rss / MiB);
    return median(samples);
  };

  const sampler = (async () => {
    while (performance.now() < deadline) {
      // Only samples under load: the checkpoints read their own.
      if (!hold) {
        const sample = { atS: (performance.now() - started) / 1000, rssMiB: procMemory(o.pid).rss / MiB };
        memory.push(sample);
        if (memory.length % 10 === 0) log(`${sample.atS.toFixed(0)} s: ${asks} asks, rss ${sample.rssMiB.toFixed(0)} MiB`);
      }
      await sleep(1000);
    }
  })();

  let rssWarmMiB = 0;
  let answeredAtWarm = 0;
  let p0 = 0;
  let t0 = 0;
  const checkpoint = (async () => {
    await sleep(o.warmupMs);
    let release = () => {};
    hold = new Promise((r) => (release = r));
    rssWarmMiB = await quietRss();
    answeredAtWarm = answered;
    log(`after warm-up: rss ${rssWarmMiB.toFixed(0)} MiB at rest, ${answered} asks answered`);
    // The frame rate under load is counted from here, after the checkpoint, to the end of the load.
    p0 = await processedFrames(monitor, o.cameraId);
    t0 = performance.now();
    hold = null;
    release();
  })();

  await Promise.all(
    clients.map(async (c, i) => {
      // Spread the first asks over the first pause so 50 clients do not ask in lockstep.
      await sleep(Math.random() * o.askPauseMs);
      for (let n = 0; performance.now() < deadline; n++) {
        if (hold) await hold;
        if (performance.now() >= deadline) break;
        if (n % 3 === 0) {
          const t = performance.now();
          const id = c.command({ type: 'ping' });
          const pong = await c.waitFor((m) => m.type === 'pong' && m.id === id, 30_000).catch(() => null);
          if (pong) pings.push(performance.now() - t);
          else fail('timeout');
        }
        asks++;
        inFlight++;
        const t = performance.now();
        const ex = await c
          .request<{ answer: string }>({ type: 'ask', question: `Question ${i}.${n}: who is in the room?`, camera_id: o.cameraId }, 60_000)
          .catch(() => null)
          .finally(() => inFlight--);
        if (ex === null) fail(c.ws.readyState === c.ws.OPEN ? 'timeout' : 'closed');
        else if (!ex.result.success) fail(ex.result.error.code);
        else {
          if (deltaText(ex) !== ex.result.result.answer) fail('answer-mismatch');
          answered++;
          askMs.push(performance.now() - t);
        }
        // Keep only the newest messages: a long soak must not grow the harness itself.
        if (c.messages.length > 2000) c.messages.splice(0, c.messages.length - 200);
        await sleep(o.askPauseMs * (0.5 + Math.random() * 0.5));
      }
    }),
  );
  await Promise.all([sampler, checkpoint]);
  const fpsUnderLoad = ((await processedFrames(monitor, o.cameraId)) - p0) / ((performance.now() - t0) / 1000);
  const rssEndMiB = await quietRss();

  clients.forEach((c) => {
    if (c.schemaErrors.length > 0) fail('schema');
    c.close();
  });
  monitor.close();

  const warm = memory.filter((m) => m.atS * 1000 >= o.warmupMs);
  return {
    clients: o.clients,
    durationS: Math.round(o.durationMs / 1000),
    asks,
    answered,
    errors,
    sceneEvents,
    pings: pings.length,
    pingP50Ms: percentile(pings, 50),
    pingP99Ms: percentile(pings, 99),
    askP50Ms: percentile(askMs, 50),
    askP99Ms: percentile(askMs, 99),
    fpsBaseline,
    fpsUnderLoad,
    rssStartMiB,
    rssWarmMiB,
    rssEndMiB,
    rssPeakMiB: procMemory(o.pid).peak / MiB,
    rssGrowthMiB: rssEndMiB - rssWarmMiB,
    asksAfterWarmup: answered - answeredAtWarm,
    rssSlopeMiBPerMin: slopePerMin(warm),
    memory,
  };
}
