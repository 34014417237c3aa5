import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FamiliarError, snakeCaseKeys, toFamiliarError, type Box, type Logger, type ReminderEvent, type RgbImage, type SceneEvent, type SceneTrack } from '@familiar/contracts';
import { REPO_ROOT, type AccessTokenConfig, type CameraConfig, type ResolvedConfig } from '@familiar/config';
import { createFrameSource, FrameMailbox, type FrameSource, type MailboxCounters, type SourceStatus } from '@familiar/camera';
import { startDialogueServer, isEnrolFromPhotos, type DialogueBackend, type DialogueServer, type EnrolRequest, type LastSeen, type LocalSession, type View } from '@familiar/dialogue';
import { cropRgb, decodeImage } from '@familiar/image';
import { extractPreferences } from '@familiar/language';
import { MqttBridge } from '@familiar/mqtt';
import type { TrackEvent } from '@familiar/perception';
import { EngineClient, type RemoteEngine } from './engine-client.ts';
import { sceneEntities, snapshotEntities, viewMatches } from './in-view.ts';
import { ReminderInboxFile } from './reminder-inbox-file.ts';
import type { FrameResult } from './engine.ts';

export interface RuntimeOptions {
  config: ResolvedConfig;
  log?: Logger;
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
  readonly #log: Logger;
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
  #server: DialogueServer | null = null;
  #mqtt: MqttBridge | null = null;
  #mqttSession: LocalSession | null = null;
  #devToken: string | null = null;

  private constructor(config: ResolvedConfig, engine: EngineClient, log: Logger) {
    this.config = config;
    this.#engine = engine;
    this.#log = log;
    this.backend = this.#backend(engine.api);
    engine.on('crashed', (err) => log('error', 'engine worker crashed; restarting', { code: err.code, message: err.message }));
    engine.on('restarted', () => log('info', 'engine worker restarted'));
  }

  static async start(options: RuntimeOptions): Promise<Runtime> {
    const { config } = options;
    const log = options.log ?? (() => {});
    await mkdir(config.paths.storeDir, { recursive: true, mode: 0o700 });
    const engine = await EngineClient.start(config, log);
    const rt = new Runtime(config, engine, log);
    try {
      for (const [id, s] of Object.entries(await engine.api.lastSeenAll())) rt.#lastSeen.set(id, { cameraId: s.cameraId, room: s.room, at: s.lastSeen, box: s.box });
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
      reminderInbox: new ReminderInboxFile(path.join(this.config.paths.storeDir, 'reminder-inbox.json'), this.#log),
      imageLimits: this.config.limits,
      ...(httpHandler && { httpHandler }),
      log: this.#log,
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
        const changed = () => this.#call(listener, undefined);
        this.#engine.on('concepts', changed);
        return () => this.#engine.off('concepts', changed);
      },
      ...(session && { runCommand: (command: Record<string, unknown>) => session.run(command) }),
      swVersion: FAMILIAR_VERSION,
      log: this.#log,
    });
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
          const result = await this.#engine.api.processFrame({
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
      const events = await this.#engine.api.endCamera(cam.config.id, Date.now());
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

  /** The dialogue service's view of Familiar: the engine's methods, plus what the cameras and this thread know. */
  readonly backend: DialogueBackend;

  #backend(api: RemoteEngine): DialogueBackend {
    return {
      listConcepts: () => this.#engine.concepts,
      enrol: async (req: EnrolRequest) => {
        const res = isEnrolFromPhotos(req)
          ? await api.enrol({ name: req.name, kind: req.kind, context: req.context, photos: req.photos.map((bytes, i) => ({ bytes, origin: `upload-${i + 1}` })) })
          : await api.enrolFromImage({ name: req.name, kind: req.kind, context: req.context, image: await this.#cameraCrop(req.cameraId, req.box), origin: `camera:${req.cameraId}` });
        return res.concept;
      },
      updateConcept: (id, patch) => api.update(id, { ...(patch.name !== undefined && { name: patch.name }), ...(patch.context !== undefined && { context: patch.context }) }),
      forget: async (id) => {
        await api.forget(id);
        this.#lastSeen.delete(id);
      },
      currentView: async (cameraId) => {
        const cam = this.#camera(cameraId);
        if (!cam.latest) return null;
        return this.#view(cam, cam.latest.jpeg, cam.latest.result);
      },
      recognise: (image: RgbImage) => api.recogniseImage(image),
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
      sightings: api.sightings,
      addNote: api.addNote,
      notes: api.notes,
      lastMention: api.lastMention,
      addTrigger: api.addTrigger,
      triggers: api.triggers,
      cancelTrigger: api.cancelTrigger,
      subscribeReminders: (listener) => {
        this.#reminderListeners.add(listener);
        return () => this.#reminderListeners.delete(listener);
      },
      preferences: api.preferences,
      setPreferences: api.setPreferences,
      mergePreferences: api.mergePreferences,
      extractPreferences: (comment) => extractPreferences(comment),
      correct: async (req) => {
        const jpeg = req.image ?? this.#camera(req.cameraId).latest?.jpeg;
        if (!jpeg) throw new FamiliarError('NOT_FOUND', `camera ${req.cameraId ?? '(default)'} has no frame yet`);
        return api.correct({ conceptId: req.conceptId, verdict: req.verdict, jpeg, ...(req.box && { box: req.box }) });
      },
      unknowns: api.unknowns,
      nameUnknown: api.nameUnknown,
      dismissUnknown: api.dismissUnknown,
      thumbnail: api.thumbnail,
      // snake_case like the rest of the status result.
      status: () =>
        snakeCaseKeys({
          uptimeS: Math.round((Date.now() - this.startedAt) / 1000),
          concepts: this.#engine.concepts.length,
          cameras: this.cameraStatus(),
          engineQueue: this.#engine.pending,
          profile: this.config.device.profile,
          lvlm: this.config.lvlm.baseUrl ? 'configured' : 'none (grounded responder)',
          mqtt: this.#mqtt?.status() ?? null,
        }) as Record<string, unknown>,
    };
  }

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
