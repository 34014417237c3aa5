import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  FamiliarError,
  toFamiliarError,
  type Box,
  type ConceptSummary,
  type RgbImage,
  type SceneEvent,
  type SceneTrack,
} from '@familiar/contracts';
import { REPO_ROOT, type AccessTokenConfig, type CameraConfig, type ResolvedConfig } from '@familiar/config';
import { createFrameSource, FrameMailbox, type FrameSource, type MailboxCounters, type SourceStatus } from '@familiar/camera';
import { startDialogueServer, isEnrolFromPhotos, type DialogueBackend, type DialogueServer, type LocalSession, type MemoryBackend, type EnrolRequest, type LastSeen, type ReminderEvent, type View } from '@familiar/dialogue';
import { cropRgb, decodeImage } from '@familiar/image';
import { extractPreferences } from '@familiar/language';
import { MqttBridge } from '@familiar/mqtt';
import type { TrackEvent } from '@familiar/perception';
import { EngineClient } from './engine-client.ts';
import { sceneEntities, snapshotEntities, viewMatches } from './in-view.ts';
import type { FrameResult } from './engine.ts';

export type RuntimeLog = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export interface RuntimeOptions {
  config: ResolvedConfig;
  log?: RuntimeLog;
  /** Serve plain HTTP on the same port (the web console). */
  httpHandler?: Parameters<typeof startDialogueServer>[0]['httpHandler'];
  /** Start the WebSocket service (default true). */
  serve?: boolean;
}

/** Per-camera live state. */
interface Camera {
  config: CameraConfig;
  source: FrameSource;
  mailbox: FrameMailbox;
  status: SourceStatus | null;
  latest: { jpeg: Uint8Array; result: FrameResult } | null;
  /** Times (ms) the last frames finished processing, for the measured frame rate. */
  done: number[];
  failedFrames: number;
  lastError: string | null;
}

export interface CameraStatus {
  id: string;
  room: string;
  state: string;
  fps: number;
  counters: MailboxCounters;
  failedFrames: number;
  lastFrameAt: number | null;
  lastError: string | null;
  tracks: number;
}

const FPS_WINDOW = 20;
/** Familiar's version, as Home Assistant shows it on the device. */
const FAMILIAR_VERSION = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
/** Decoded size of a camera frame handed to the dialogue service (LVLMs downscale anyway). */
const VIEW_MAX_SIDE = 1280;

/**
 * The live runtime on the main thread: cameras feed latest-frame mailboxes; one frame per camera at a time goes
 * to the engine worker; results become scene events, sightings and the current view; the dialogue service serves
 * clients. Nothing here runs a model, so a busy pipeline never delays a client.
 */
export class Runtime {
  readonly config: ResolvedConfig;
  readonly #log: RuntimeLog;
  readonly #engine: EngineClient;
  readonly #cameras = new Map<string, Camera>();
  readonly #listeners = new Set<(e: SceneEvent) => void>();
  readonly #reminderListeners = new Set<(r: ReminderEvent) => void>();
  readonly #frameListeners = new Set<(r: FrameResult) => void>();
  /** conceptId → where it was last seen; kept current from frame results so `lastSeen` answers without a round trip. */
  readonly #lastSeen = new Map<string, LastSeen>();
  readonly #abort = new AbortController();
  readonly #loops: Promise<void>[] = [];
  readonly startedAt = Date.now();
  #concepts: ConceptSummary[];
  #server: DialogueServer | null = null;
  #mqtt: MqttBridge | null = null;
  #mqttSession: LocalSession | null = null;
  readonly #conceptListeners = new Set<() => void>();
  #devToken: string | null = null;

  private constructor(config: ResolvedConfig, engine: EngineClient, concepts: ConceptSummary[], log: RuntimeLog) {
    this.config = config;
    this.#engine = engine;
    this.#concepts = concepts;
    this.#log = log;
    engine.on('crashed', (err) => log('error', 'engine worker crashed; restarting', { code: err.code, message: err.message }));
    engine.on('restarted', (list) => {
      this.#setConcepts(list);
      log('info', 'engine worker restarted');
    });
  }

  static async start(options: RuntimeOptions): Promise<Runtime> {
    const { config } = options;
    const log = options.log ?? (() => {});
    await mkdir(config.paths.storeDir, { recursive: true, mode: 0o700 });
    const { engine, concepts } = await EngineClient.start(config);
    const rt = new Runtime(config, engine, concepts, log);
    try {
      for (const [id, s] of Object.entries(await engine.call('lastSeenAll'))) rt.#lastSeen.set(id, { cameraId: s.cameraId, room: s.room, at: s.lastSeen, box: s.box });
      for (const cam of config.cameras) rt.#startCamera(cam);
      if (options.serve !== false) await rt.#serve(options.httpHandler);
      if (config.mqtt.url) rt.#startMqtt();
    } catch (err) {
      await rt.stop();
      throw err;
    }
    return rt;
  }

  /** ws://host:port of the dialogue service (null when not serving). */
  get url(): string | null {
    return this.#server?.url ?? null;
  }

  get port(): number | null {
    return this.#server?.port ?? null;
  }

  /** Applies new access tokens to the running server (see DialogueServer.reloadTokens); the dev token stays when none are configured. */
  reloadTokens(tokens: readonly AccessTokenConfig[]): void {
    if (!this.#server) return;
    this.#server.reloadTokens(tokens.length === 0 && this.#devToken ? [{ name: 'dev', role: 'control', token: this.#devToken }] : tokens);
  }

  /** The generated development token, when no token was configured. */
  get devToken(): string | null {
    return this.#devToken;
  }

  get engine(): EngineClient {
    return this.#engine;
  }

  async #serve(httpHandler: RuntimeOptions['httpHandler']): Promise<void> {
    let tokens: AccessTokenConfig[] = [...this.config.server.tokens];
    if (tokens.length === 0 && this.config.pipeline.devToken) {
      this.#devToken = await this.#loadOrCreateDevToken();
      tokens = [{ name: 'dev', role: 'control', token: this.#devToken }];
    }
    if (tokens.length === 0) this.#log('warn', 'no access token is configured: no client can authenticate');
    this.#server = await startDialogueServer({
      backend: this.backend,
      server: { ...this.config.server, tokens },
      lvlm: this.config.lvlm,
      reminderInboxFile: path.join(this.config.paths.storeDir, 'reminder-inbox.json'),
      imageLimits: this.config.limits,
      ...(httpHandler && { httpHandler }),
      log: (e) => this.#log(e.level, e.msg, e),
    });
  }

  /** The Home Assistant bridge; its commands run through the dialogue service's rules as the configured role. */
  #startMqtt(): void {
    const cfg = this.config.mqtt;
    const session = this.#server?.openSession({ name: 'mqtt', role: cfg.commandRole, member: cfg.commandMember ?? undefined });
    this.#mqttSession = session ?? null;
    this.#mqtt = new MqttBridge({
      config: cfg,
      host: this.backend,
      cameras: this.config.cameras.map((c) => ({ id: c.id, room: c.room })),
      onConceptsChanged: (listener) => {
        this.#conceptListeners.add(listener);
        return () => this.#conceptListeners.delete(listener);
      },
      ...(session && { runCommand: (command: Record<string, unknown>) => session.run(command) }),
      swVersion: FAMILIAR_VERSION,
      log: (level, msg, fields) => this.#log(level, msg, fields),
    });
  }

  #setConcepts(list: ConceptSummary[]): void {
    this.#concepts = list;
    for (const l of this.#conceptListeners) this.#call(l, undefined);
  }

  async #loadOrCreateDevToken(): Promise<string> {
    const file = path.join(this.config.paths.storeDir, 'dev-token');
    try {
      const existing = (await readFile(file, 'utf8')).trim();
      if (existing.length >= 16) return existing;
    } catch {
      // created below
    }
    const token = randomBytes(24).toString('base64url');
    await writeFile(file, `${token}\n`, { mode: 0o600 });
    return token;
  }

  // ------------------------------------------------------------------ cameras

  #startCamera(config: CameraConfig): void {
    const source = createFrameSource(config, { onWarning: (w) => this.#log('warn', 'replay file skipped', { camera: config.id, ...w }) });
    const mailbox = new FrameMailbox({ fps: config.fps, source });
    const cam: Camera = { config, source, mailbox, status: null, latest: null, done: [], failedFrames: 0, lastError: null };
    this.#cameras.set(config.id, cam);
    source.on('status', (s) => {
      cam.status = s;
      if (s.error) cam.lastError = `${s.error.code}: ${s.error.message}`;
      this.#log(s.state === 'failed' || s.state === 'stalled' ? 'warn' : 'info', `camera ${config.id} ${s.state}`, { error: s.error?.message });
      // A camera that stopped delivering cannot tell the tracker that people left: end its tracks now.
      if (s.state === 'stalled' || s.state === 'restarting' || s.state === 'failed' || s.state === 'stopped') void this.#endCamera(cam);
    });
    source.start();
    this.#loops.push(this.#cameraLoop(cam));
  }

  async #cameraLoop(cam: Camera): Promise<void> {
    const signal = this.#abort.signal;
    try {
      for await (const frame of cam.mailbox.frames(signal)) {
        try {
          const result = await this.#engine.call('processFrame', {
            cameraId: cam.config.id,
            room: cam.config.room,
            seq: frame.seq,
            capturedAt: frame.capturedAt,
            jpeg: frame.jpeg,
          });
          cam.latest = { jpeg: frame.jpeg, result };
          cam.done.push(performance.now());
          if (cam.done.length > FPS_WINDOW) cam.done.shift();
          this.#onResult(result);
          for (const l of this.#frameListeners) this.#call(l, result);
        } catch (err) {
          const e = toFamiliarError(err);
          if (e.code === 'CANCELLED') break;
          // A corrupt frame or a worker restart costs this frame only.
          cam.failedFrames++;
          cam.lastError = `${e.code}: ${e.message}`;
          this.#log('warn', `camera ${cam.config.id}: frame ${frame.seq} failed`, { code: e.code, message: e.message });
        }
      }
    } catch (err) {
      const e = toFamiliarError(err);
      if (e.code !== 'CANCELLED' && !signal.aborted) this.#log('error', `camera ${cam.config.id} loop ended`, { code: e.code, message: e.message });
    }
  }

  async #endCamera(cam: Camera): Promise<void> {
    try {
      const events = await this.#engine.call('endCamera', cam.config.id, Date.now());
      if (events.length) this.#dispatch(events);
    } catch {
      // The engine is restarting or stopping: its tracker state is gone anyway.
    }
  }

  #onResult(result: FrameResult): void {
    for (const t of result.tracks) {
      if (t.conceptId) this.#lastSeen.set(t.conceptId, { cameraId: t.cameraId, room: t.room, at: t.lastSeenAt, box: t.box });
    }
    this.#dispatch(result.events);
    for (const r of result.reminders) {
      this.#log('info', 'reminder fired', { trigger: r.triggerId, camera: r.cameraId });
      for (const l of this.#reminderListeners) this.#call(l, r);
    }
  }

  #dispatch(events: readonly TrackEvent[]): void {
    for (const e of events) {
      if (e.conceptId && e.type !== 'appeared') this.#lastSeen.set(e.conceptId, { cameraId: e.cameraId, room: e.room, at: e.at, box: e.box });
      for (const l of this.#listeners) this.#call(l, e);
    }
  }

  #call<T>(listener: (v: T) => void, value: T): void {
    try {
      listener(value);
    } catch (err) {
      this.#log('warn', 'listener threw', { message: (err as Error).message });
    }
  }

  #camera(cameraId?: string): Camera {
    const id = cameraId ?? this.config.pipeline.defaultCamera ?? this.config.cameras[0]?.id;
    const cam = id === undefined ? undefined : this.#cameras.get(id);
    if (!cam) throw new FamiliarError('NOT_FOUND', cameraId ? `no camera "${cameraId}"` : 'no camera is configured');
    return cam;
  }

  cameraStatus(): CameraStatus[] {
    return [...this.#cameras.values()].map((c) => {
      const span = c.done.length > 1 ? (c.done.at(-1)! - c.done[0]!) / 1000 : 0;
      return {
        id: c.config.id,
        room: c.config.room,
        state: c.status?.state ?? c.source.state,
        fps: span > 0 ? Math.round(((c.done.length - 1) / span) * 10) / 10 : 0,
        counters: c.mailbox.counters,
        failedFrames: c.failedFrames,
        lastFrameAt: c.latest?.result.capturedAt ?? null,
        lastError: c.lastError,
        tracks: c.latest?.result.tracks.length ?? 0,
      };
    });
  }

  /** The confirmed tracks of a camera's last processed frame. */
  scene(cameraId?: string): SceneTrack[] {
    return this.#camera(cameraId).latest?.result.tracks ?? [];
  }

  /** Calls `listener` with every processed frame of every camera (the benchmark's latency probe); returns the unsubscribe. */
  onFrame(listener: (result: FrameResult) => void): () => void {
    this.#frameListeners.add(listener);
    return () => this.#frameListeners.delete(listener);
  }

  /** Waits for the next processed frame of a camera (tests and the benchmark). */
  async nextResult(cameraId: string, timeoutMs: number): Promise<FrameResult> {
    const cam = this.#camera(cameraId);
    const before = cam.latest?.result;
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (cam.latest && cam.latest.result !== before) return cam.latest.result;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new FamiliarError('CAMERA_TIMEOUT', `camera ${cameraId} produced no frame in ${timeoutMs} ms`);
  }


  // ------------------------------------------------------------------ the dialogue service's view of Familiar

  readonly backend: DialogueBackend & MemoryBackend = {
    listConcepts: () => this.#concepts,
    enrol: async (req: EnrolRequest) => {
      const res = isEnrolFromPhotos(req)
        ? await this.#engine.call('enrol', { name: req.name, kind: req.kind, context: req.context, photos: req.photos.map((bytes, i) => ({ bytes, origin: `upload-${i + 1}` })) })
        : await this.#engine.call('enrolFromImage', { name: req.name, kind: req.kind, context: req.context, image: await this.#cameraCrop(req.cameraId, req.box), origin: `camera:${req.cameraId}` });
      this.#setConcepts(await this.#engine.call('list'));
      return res.concept;
    },
    updateConcept: async (id, patch) => {
      const clean = { ...(patch.name !== undefined && { name: patch.name }), ...(patch.context !== undefined && { context: patch.context }) };
      const c = await this.#engine.call('update', id, clean);
      this.#setConcepts(await this.#engine.call('list'));
      return c;
    },
    forget: async (id) => {
      await this.#engine.call('forget', id);
      this.#setConcepts(await this.#engine.call('list'));
      this.#lastSeen.delete(id);
    },
    currentView: async (cameraId) => {
      const cam = this.#camera(cameraId);
      if (!cam.latest) return null;
      return this.#view(cam, cam.latest.jpeg, cam.latest.result);
    },
    recognise: async (image: RgbImage) => this.#engine.call('recogniseImage', image),
    lastSeen: (conceptId) => this.#lastSeen.get(conceptId) ?? null,
    subscribe: (listener) => {
      this.#listeners.add(listener);
      return () => this.#listeners.delete(listener);
    },
    cameras: () => this.cameraStatus(),
    snapshot: async (cameraId) => {
      const cam = this.#camera(cameraId);
      if (!cam.latest) return null;
      const { jpeg, result } = cam.latest;
      const entities = snapshotEntities(result);
      return { cameraId: cam.config.id, room: cam.config.room, capturedAt: result.capturedAt, jpeg, width: result.width, height: result.height, entities };
    },
    houseScene: () =>
      [...this.#cameras.values()].map((cam) => ({
        cameraId: cam.config.id,
        room: cam.config.room,
        capturedAt: cam.latest?.result.capturedAt ?? null,
        entities: cam.latest ? sceneEntities(cam.latest.result) : [],
      })),
    sightings: (query) => this.#engine.call('sightings', query),
    addNote: (note) => this.#engine.call('addNote', note),
    notes: (conceptId, limit, reader) => this.#engine.call('notes', conceptId, limit, reader),
    lastMention: (conceptId, reader) => this.#engine.call('lastMention', conceptId, reader),
    addTrigger: (req) => this.#engine.call('addTrigger', req),
    triggers: () => this.#engine.call('triggers'),
    cancelTrigger: (id) => this.#engine.call('cancelTrigger', id),
    subscribeReminders: (listener) => {
      this.#reminderListeners.add(listener);
      return () => this.#reminderListeners.delete(listener);
    },
    preferences: (conceptId) => this.#engine.call('preferences', conceptId),
    setPreferences: (conceptId, lists) => this.#engine.call('setPreferences', conceptId, lists),
    mergePreferences: (conceptId, lists) => this.#engine.call('mergePreferences', conceptId, lists),
    extractPreferences: (comment) => extractPreferences(comment),
    correct: async (req) => {
      const jpeg = req.image ?? this.#camera(req.cameraId).latest?.jpeg;
      if (!jpeg) throw new FamiliarError('NOT_FOUND', `camera ${req.cameraId ?? '(default)'} has no frame yet`);
      const res = await this.#engine.call('correct', { conceptId: req.conceptId, verdict: req.verdict, jpeg, ...(req.box && { box: req.box }) });
      this.#setConcepts(await this.#engine.call('list'));
      return res;
    },
    unknowns: () => this.#engine.call('unknowns'),
    nameUnknown: async (id, req) => {
      const c = await this.#engine.call('nameUnknown', id, req);
      this.#setConcepts(await this.#engine.call('list'));
      return c;
    },
    dismissUnknown: (id) => this.#engine.call('dismissUnknown', id),
    thumbnail: (id) => this.#engine.call('thumbnail', id),
    status: () => ({
      uptimeS: Math.round((Date.now() - this.startedAt) / 1000),
      concepts: this.#concepts.length,
      cameras: this.cameraStatus(),
      engineQueue: this.#engine.pending,
      profile: this.config.device.profile,
      lvlm: this.config.lvlm.baseUrl ? 'configured' : 'none (grounded responder)',
      mqtt: this.#mqtt?.status() ?? null,
    }),
  };

  async #view(cam: Camera, jpeg: Uint8Array, result: FrameResult): Promise<View> {
    const { image, scale } = await decodeImage(jpeg, { limits: this.config.limits, maxSide: VIEW_MAX_SIDE });
    const matches = viewMatches(result, scale);
    return { cameraId: cam.config.id, room: cam.config.room, capturedAt: result.capturedAt, image, matches };
  }

  async #cameraCrop(cameraId: string, box: Box | undefined): Promise<RgbImage> {
    const cam = this.#camera(cameraId);
    if (!cam.latest) throw new FamiliarError('CAMERA_UNAVAILABLE', `camera ${cameraId} has no frame yet`);
    const { image } = await decodeImage(cam.latest.jpeg, { limits: this.config.limits });
    return box ? cropRgb(image, box) : image;
  }

  // ------------------------------------------------------------------ shutdown

  /** Stops cameras, the service and the engine; flushes memory. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.#abort.signal.aborted) return;
    this.#abort.abort();
    for (const cam of this.#cameras.values()) cam.mailbox.close();
    await Promise.allSettled([...this.#cameras.values()].map((c) => c.source.stop()));
    await Promise.allSettled(this.#loops);
    // Before the service: the bridge marks Familiar offline while its connection is still there.
    await this.#mqtt?.stop();
    this.#mqttSession?.close();
    await this.#server?.close();
    // Closing the engine ends open visits and flushes memory in the worker.
    await this.#engine.close();
  }
}
