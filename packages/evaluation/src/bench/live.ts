import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { FamiliarError, type Logger } from '@familiar/contracts';
import { CameraConfig, type ResolvedConfig } from '@familiar/config';
import { Memory } from '@familiar/memory';
import { Runtime } from '@familiar/runtime';
import type { SceneConcept } from './scenes.ts';
import { reuseRate, sumModelMs, summarise, type Summary } from './stats.ts';
import { WsProbe } from './ws-probe.ts';

/** Control round trips over the dialogue WebSocket: `ping` (answered by the server itself) and `status` (reads the backend). */
export interface WsRtt {
  /** Connected clients, each subscribed to scene events. */
  clients: number;
  pingMs: Summary;
  statusMs: Summary;
  /** Both commands together: the figure the budget is checked against. */
  allMs: Summary;
  /** Scene events delivered to the subscribed clients during the run. */
  eventsDelivered: number;
  /** Probes that failed (timeout, rate limit): they are not in the timings. */
  failed: number;
}

/** One live run: replay cameras offering frames faster than the engine takes them, through the real runtime. */
export interface CameraRun {
  cameras: number;
  /** Frame rate each camera offers (replay) and allows (mailbox cap). */
  offeredFps: number;
  seconds: number;
  /** Frames processed over all cameras. */
  frames: number;
  /** Frames per second over all cameras. */
  fps: number;
  fpsPerCamera: number;
  /** Capture (the frame leaving the camera) → its scene events dispatched on the main thread, ms. */
  latencyMs: Summary;
  /** Of which inside the engine (decode → recognise → track → memory), ms. */
  engineMs: Summary;
  /** Model run time per processed frame (all ONNX sessions, from the engine worker's counters), ms. */
  modelMsPerFrame: number;
  /** (wall time per processed frame − model time per frame) / model time per frame: the engine is never idle here. */
  overheadRatio: number;
  /** Share of region embeddings reused from a recent frame. */
  reuseRate: number;
  /** Share of measured frames that computed the salient mask (the scene changed); the others reused it. */
  maskRate: number;
  /**
   * From the run's first frame to each concept's first named `appeared` event (warm-up included: this is what a
   * person walking into view waits for), ms, over the concepts that were named; `named` of `concepts` were.
   */
  firstNameMs: Summary;
  named: number;
  concepts: number;
  /** Frames the cameras offered, and those the mailboxes dropped because the engine was busy. */
  offered: number;
  dropped: number;
  failedFrames: number;
  /** Process resident memory while running, MB. */
  rssMb: { p50: number; max: number };
  ws: WsRtt | null;
}

export interface LiveReport {
  /** Runtime.start() until ready (engine worker with its models loaded, service listening), ms. */
  startMs: number;
  /** Process RSS with the runtime started (models loaded), no camera, nothing run yet, MB. */
  rssMbIdle: number;
  /** The same after enrolling the scene's concepts (the models' working memory is now allocated), MB. */
  rssMbIdleAfterEnrol: number;
  /** Round trips with no camera and one client. */
  wsIdle: WsRtt;
  oneCamera: CameraRun;
  threeCameras: CameraRun | null;
  /** `count` sightings recorded into the store, then the runtime started on it with no camera. */
  sightings: { count: number; recordMs: number; rssMbIdle: number } | null;
}

export interface LiveOptions {
  config: ResolvedConfig;
  /** An empty store directory: the scene is enrolled into it here (the in-process benchmarks reuse it). */
  storeDir: string;
  /** Folder of the replayed frames. */
  framesDir: string;
  concepts: readonly SceneConcept[];
  refsPerConcept: number;
  /** Frame rate each replay camera offers (well above what the engine can take). */
  offeredFps: number;
  warmupSeconds: number;
  seconds: number;
  threeCameras: boolean;
  wsClients: number;
  /** Round-trip probes sent with no camera (the baseline). */
  idleProbes: number;
  /** Sightings to record for the memory figure (0: skip). */
  sightings: number;
  log: (line: string) => void;
}

/** Two probing clients take turns, so neither exceeds the server's per-connection command rate. */
const PROBE_CLIENTS = 2;
const PROBE_GAP_MS = 40;
const RSS_SAMPLE_MS = 250;
/** A replay camera's first frame through a freshly started engine; far beyond it, the run is broken, not slow. */
const FIRST_FRAME_TIMEOUT_MS = 120_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rssMb = () => process.memoryUsage.rss() / 2 ** 20;

/**
 * The live runtime end to end, as `familiar start` runs it: replay cameras → latest-frame mailboxes → engine
 * worker → tracker → scene events, with the dialogue service on loopback and real WebSocket clients.
 */
export async function benchLive(options: LiveOptions): Promise<LiveReport> {
  const { log } = options;
  const token = randomBytes(24).toString('base64url');
  const configFor = (cameras: number) => liveConfig(options, cameras, token);

  log('live: runtime with no camera (idle memory, round trips, enrolling the scene)');
  let t = performance.now();
  let rt = await Runtime.start({ config: configFor(0), log: runtimeLog(log) });
  const startMs = performance.now() - t;
  let idle: { rssMbIdle: number; rssMbIdleAfterEnrol: number; wsIdle: WsRtt };
  try {
    await sleep(500);
    const rssMbIdle = rssMb();
    const wsIdle = await probeRtt(rt.url!, token, 1, { count: options.idleProbes });
    for (const c of options.concepts) {
      const photos = await Promise.all(c.references.slice(0, options.refsPerConcept).map(async (file) => ({ bytes: new Uint8Array(await readFile(file)), origin: path.basename(file) })));
      await rt.engine.call('enrol', { name: c.key, kind: c.kind, context: '', photos });
    }
    idle = { rssMbIdle, rssMbIdleAfterEnrol: rssMb(), wsIdle };
  } finally {
    await rt.stop();
  }

  const oneCamera = await cameraRun(options, configFor(1), token, options.wsClients);
  const threeCameras = options.threeCameras ? await cameraRun(options, configFor(3), token, 0) : null;

  let sightings: LiveReport['sightings'] = null;
  if (options.sightings > 0) {
    log(`live: ${options.sightings} sightings recorded, runtime restarted on them`);
    t = performance.now();
    await recordSightings(options.config, options.storeDir, options.sightings);
    const recordMs = performance.now() - t;
    rt = await Runtime.start({ config: configFor(0), log: runtimeLog(log) });
    try {
      await sleep(500);
      sightings = { count: options.sightings, recordMs, rssMbIdle: rssMb() };
    } finally {
      await rt.stop();
    }
  }
  return { startMs, ...idle, oneCamera, threeCameras, sightings };
}

function liveConfig(options: LiveOptions, cameras: number, token: string): ResolvedConfig {
  const base = options.config;
  return {
    ...base,
    paths: { ...base.paths, storeDir: options.storeDir },
    cameras: Array.from({ length: cameras }, (_, i) =>
      CameraConfig.parse({ id: `bench-${i + 1}`, room: `room ${i + 1}`, fps: options.offeredFps, source: { kind: 'replay', uri: options.framesDir, loop: true } }),
    ),
    server: { ...base.server, host: '127.0.0.1', port: 0, tokens: [{ name: 'bench', role: 'control', token }], maxClients: Math.max(base.server.maxClients, options.wsClients + 4), maxUnauthenticatedPerAddress: Math.max(base.server.maxUnauthenticatedPerAddress, options.wsClients + 4) },
    pipeline: { ...base.pipeline, devToken: false },
  };
}

function runtimeLog(log: (line: string) => void): Logger {
  return (level, msg, fields) => {
    if (level === 'warn' || level === 'error') log(`runtime ${level}: ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}`);
  };
}

async function cameraRun(options: LiveOptions, config: ResolvedConfig, token: string, wsClients: number): Promise<CameraRun> {
  const cameras = config.cameras.length;
  options.log(`live: ${cameras} camera(s) offering ${options.offeredFps} fps for ${options.seconds} s${wsClients ? `, ${wsClients} WebSocket clients subscribed` : ''}`);
  const rt = await Runtime.start({ config, log: runtimeLog(options.log) });
  const latency: number[] = [];
  const engine: number[] = [];
  const rss: number[] = [];
  let counting = false;
  let firstFrameAt: number | null = null;
  const firstName = new Map<string, number>();
  let firstFrame!: () => void;
  const firstFrameDone = new Promise<void>((resolve) => (firstFrame = resolve));
  const off = rt.onFrame((r) => {
    firstFrameAt ??= r.capturedAt;
    firstFrame();
    for (const e of r.events) if (e.type === 'appeared' && e.name && !firstName.has(e.name)) firstName.set(e.name, Date.now() - firstFrameAt);
    if (!counting) return;
    latency.push(Date.now() - r.capturedAt);
    engine.push(r.totalMs);
  });
  try {
    // Warm-up counts from the first frame through the engine: on a loaded machine the first frame (every ONNX
    // session's first run) can take longer than the whole measurement window of a small run.
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new FamiliarError('CAMERA_TIMEOUT', `bench: no frame reached the engine within ${FIRST_FRAME_TIMEOUT_MS / 1000} s`)), FIRST_FRAME_TIMEOUT_MS);
    });
    await Promise.race([firstFrameDone, timedOut]).finally(() => clearTimeout(timer));
    await sleep(options.warmupSeconds * 1000);
    const before = counters(rt);
    const statsBefore = await rt.engine.call('stats');
    counting = true;
    const t0 = performance.now();
    const sampler = setInterval(() => rss.push(rssMb()), RSS_SAMPLE_MS);
    const ws = wsClients > 0 ? probeRtt(rt.url!, token, wsClients, { untilMs: options.seconds * 1000 }) : null;
    await sleep(options.seconds * 1000);
    counting = false;
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    const after = counters(rt);
    const statsAfter = await rt.engine.call('stats');
    const wsResult = ws ? await ws : null;
    const frames = latency.length;
    const rssSummary = summarise(rss);
    const modelMsPerFrame = sumModelMs(statsAfter, statsBefore) / Math.max(1, statsAfter.frames - statsBefore.frames);
    const wallMsPerFrame = (1000 * seconds) / Math.max(1, frames);
    return {
      cameras,
      offeredFps: options.offeredFps,
      seconds,
      frames,
      fps: frames / seconds,
      fpsPerCamera: frames / seconds / cameras,
      latencyMs: summarise(latency),
      engineMs: summarise(engine),
      modelMsPerFrame,
      overheadRatio: (wallMsPerFrame - modelMsPerFrame) / modelMsPerFrame,
      reuseRate: reuseRate(statsAfter, statsBefore),
      maskRate: (statsAfter.masks.computed - statsBefore.masks.computed) / Math.max(1, statsAfter.frames - statsBefore.frames),
      firstNameMs: summarise([...firstName.values()]),
      named: firstName.size,
      concepts: options.concepts.length,
      offered: after.captured - before.captured,
      dropped: after.dropped - before.dropped,
      failedFrames: after.failed - before.failed,
      rssMb: { p50: rssSummary.p50, max: rssSummary.max },
      ws: wsResult,
    };
  } finally {
    off();
    await rt.stop();
  }
}

function counters(rt: Runtime): { captured: number; dropped: number; failed: number } {
  const out = { captured: 0, dropped: 0, failed: 0 };
  for (const c of rt.cameraStatus()) {
    out.captured += c.counters.captured;
    out.dropped += c.counters.dropped;
    out.failed += c.failedFrames;
  }
  return out;
}

/**
 * Connects `clients` clients, subscribes each to scene events, and has the first two take turns sending
 * `ping` and `status`, one at a time, until `count` probes or `untilMs` have passed.
 */
async function probeRtt(url: string, token: string, clients: number, until: { count?: number; untilMs?: number }): Promise<WsRtt> {
  const conns = await Promise.all(Array.from({ length: clients }, () => WsProbe.connect(url, token)));
  const ping: number[] = [];
  const status: number[] = [];
  let failed = 0;
  try {
    for (const c of conns) {
      const r = await c.request({ type: 'scene/subscribe' });
      if (!r.success) throw new Error(`scene/subscribe failed: ${JSON.stringify(r)}`);
    }
    const probes = conns.slice(0, PROBE_CLIENTS);
    const deadline = performance.now() + (until.untilMs ?? Infinity);
    for (let i = 0; i < (until.count ?? Infinity) && performance.now() < deadline; i++) {
      const kind = i % 2 === 0 ? 'ping' : 'status';
      const t = performance.now();
      try {
        const reply = await probes[i % probes.length]!.request({ type: kind });
        if (reply.type === 'result' && reply.success !== true) failed++;
        else (kind === 'ping' ? ping : status).push(performance.now() - t);
      } catch {
        failed++;
      }
      await sleep(PROBE_GAP_MS);
    }
  } finally {
    for (const c of conns) c.close();
  }
  return {
    clients,
    pingMs: summarise(ping),
    statusMs: summarise(status),
    allMs: summarise([...ping, ...status]),
    eventsDelivered: conns.reduce((a, c) => a + c.events, 0),
    failed,
  };
}

/** Records `count` closed visits of the enrolled concepts, spread over the last days, into the store. */
async function recordSightings(config: ResolvedConfig, storeDir: string, count: number): Promise<void> {
  const { hnswAbove, hnswM, hnswEfConstruction, hnswEfSearch } = config.store;
  const memory = await Memory.open(storeDir, { config: config.memory, concepts: { hnswAbove, hnswM, hnswEfConstruction, hnswEfSearch } });
  try {
    const ids = memory.concepts.list().map((c) => c.id);
    const now = Date.now();
    for (let i = 0; i < count; i++) {
      const at = now - (count - i) * 30_000;
      const s = memory.sightings.begin({
        conceptId: ids[i % ids.length] ?? null,
        trackId: `bench-track-${i}`,
        cameraId: `bench-${(i % 3) + 1}`,
        room: `room ${(i % 3) + 1}`,
        at,
        box: { xmin: 10, ymin: 20, xmax: 110 + (i % 50), ymax: 220 },
        confidence: 0.9,
      });
      memory.sightings.end(s.id, { at: at + 20_000 });
    }
  } finally {
    await memory.close();
  }
}
