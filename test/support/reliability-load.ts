/**
 * A WebSocket load driver for a running `familiar start`: many viewer clients that subscribe to scene events and
 * keep asking about a camera's view, pinging in between, while a monitor samples the process's memory and the
 * camera's processed-frame counter. Used by reliability-load.test.ts (a short soak) and reliability-soak.ts (long).
 */
import { procMemory } from './reliability-proc.ts';
import { TestClient } from './ws-client.ts';

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
  rssStartMiB: number;
  rssEndMiB: number;
  rssPeakMiB: number;
  /** Growth of resident memory over the last two thirds of the load (after warm-up), MiB, and its linear trend, MiB per minute. */
  rssGrowthMiB: number;
  rssSlopeMiBPerMin: number;
  memory: MemorySample[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = 1024 * 1024;

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
  const ex = await monitor.request<{ backend: { cameras: CameraCounters[] } }>({ type: 'status' }, 30_000);
  if (!ex.result.success) throw new Error(`status failed: ${JSON.stringify(ex.result.error)}`);
  return ex.result.result.backend.cameras.find((c) => c.id === cameraId)?.counters.processed ?? 0;
}

/** Runs the soak and reports; it never throws for a failed ask (those are counted), only for a broken harness. */
export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const log = o.progress ?? (() => {});
  const monitor = await TestClient.connect(o.url, o.token);
  const errors: Record<string, number> = {};
  const fail = (why: string) => {
    errors[why] = (errors[why] ?? 0) + 1;
  };

  // Baseline frame rate, nobody connected but the monitor.
  const b0 = await processedFrames(monitor, o.cameraId);
  const tb0 = performance.now();
  await sleep(o.baselineMs);
  const fpsBaseline = ((await processedFrames(monitor, o.cameraId)) - b0) / ((performance.now() - tb0) / 1000);
  log(`baseline: ${fpsBaseline.toFixed(2)} frames/s processed`);

  const clients = await Promise.all(Array.from({ length: o.clients }, () => TestClient.connect(o.url, o.token)));
  const subscriptions = await Promise.all(
    clients.map(async (c) => {
      const ex = await c.request<{ subscription: number }>({ type: 'scene/subscribe', camera_id: o.cameraId });
      if (!ex.result.success) throw new Error(`subscribe failed: ${JSON.stringify(ex.result.error)}`);
      return ex.result.result.subscription;
    }),
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
  const p0 = await processedFrames(monitor, o.cameraId);
  const t0 = performance.now();

  const sampler = (async () => {
    while (performance.now() < deadline) {
      memory.push({ atS: (performance.now() - started) / 1000, rssMiB: procMemory(o.pid).rss / MiB });
      if (memory.length % 10 === 0) log(`${memory.at(-1)!.atS.toFixed(0)} s: ${asks} asks, rss ${memory.at(-1)!.rssMiB.toFixed(0)} MiB`);
      await sleep(1000);
    }
  })();

  await Promise.all(
    clients.map(async (c, i) => {
      // Spread the first asks over the first pause so 50 clients do not ask in lockstep.
      await sleep(Math.random() * o.askPauseMs);
      for (let n = 0; performance.now() < deadline; n++) {
        if (n % 3 === 0) {
          const t = performance.now();
          const id = c.command({ type: 'ping' });
          const pong = await c.waitFor((m) => m.type === 'pong' && m.id === id, 30_000).catch(() => null);
          if (pong) pings.push(performance.now() - t);
          else fail('timeout');
        }
        asks++;
        const t = performance.now();
        const ex = await c.request<{ answer: string }>({ type: 'ask', question: `Question ${i}.${n}: who is in the room?`, camera_id: o.cameraId }, 60_000).catch(() => null);
        if (ex === null) fail(c.ws.readyState === c.ws.OPEN ? 'timeout' : 'closed');
        else if (!ex.result.success) fail(ex.result.error.code);
        else {
          const streamed = ex.events.map((e) => (e.kind === 'delta' ? e.text : '')).join('');
          if (streamed !== ex.result.result.answer) fail('answer-mismatch');
          answered++;
          askMs.push(performance.now() - t);
        }
        // Keep only the newest messages: a long soak must not grow the harness itself.
        if (c.messages.length > 2000) c.messages.splice(0, c.messages.length - 200);
        await sleep(o.askPauseMs * (0.5 + Math.random() * 0.5));
      }
    }),
  );
  await sampler;
  const fpsUnderLoad = ((await processedFrames(monitor, o.cameraId)) - p0) / ((performance.now() - t0) / 1000);

  clients.forEach((c) => {
    if (c.schemaErrors.length > 0) fail('schema');
    c.close();
  });
  monitor.close();

  const warm = memory.slice(Math.floor(memory.length / 3));
  const rss = memory.map((m) => m.rssMiB);
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
    rssStartMiB: rss[0] ?? 0,
    rssEndMiB: rss.at(-1) ?? 0,
    rssPeakMiB: procMemory(o.pid).peak / MiB,
    rssGrowthMiB: warm.length > 1 ? warm.at(-1)!.rssMiB - warm[0]!.rssMiB : 0,
    rssSlopeMiBPerMin: slopePerMin(warm),
    memory,
  };
}
