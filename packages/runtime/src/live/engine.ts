import { toFamiliarError, type Box, type ConceptKind, type ConceptSummary, type FrameInput, type Logger, type Match, type Observation, type ReminderEvent, type RgbImage, type SceneTrack, type StageTimings } from '@familiar/contracts';
import { loadConfig, type LoadConfigOptions, type ResolvedConfig } from '@familiar/config';
import { EmbeddingReuse, LiveMask, SceneTracker, type EnrolmentRequest, type EnrolmentResult, type TrackEvent } from '@familiar/perception';
import { encodeJpeg } from '@familiar/image';
import { modelStats } from '@familiar/vision';
import { FamiliarCore, type PhotoInput } from '../core.ts';
import { Household } from '../household.ts';

/** A face nobody enrolled matched, with the track it belongs to (for grouping unknown visitors). */
export interface UnknownFaceSighting {
  trackId: string | null;
  box: Box;
  vector: Float32Array;
}

/** What one frame produced. Boxes are in the frame's own (original) pixels. */
export interface FrameResult {
  cameraId: string;
  seq: number;
  capturedAt: number;
  width: number;
  height: number;
  matches: Match[];
  tracks: SceneTrack[];
  events: TrackEvent[];
  unknownFaces: UnknownFaceSighting[];
  timings: StageTimings;
  /** Reminders that this frame's appearances fired. */
  reminders: ReminderEvent[];
  /** Wall time of the whole frame inside the engine, ms. */
  totalMs: number;
}

export interface EngineStats {
  frames: number;
  /** Memory writes that failed (and were skipped) during live processing. */
  memoryErrors: number;
  lastMemoryError: string | null;
  models: Record<string, { runs: number; ms: number; provider: string }>;
  /** Sum of per-stage times over all frames, ms. */
  stages: Record<string, number>;
  totalMs: number;
  /** Region embeddings reused from a recent frame (hits) or computed (misses), over the cameras now running. */
  reuse: { hits: number; misses: number };
  /** Live salient masks computed (the scene changed) or reused (it did not), over the cameras now running. */
  masks: { computed: number; reused: number };
}

/**
 * What the engine offers across the thread boundary: every public method of {@link Engine} (its own and the
 * household's). The worker's method union, the client's forwarding and the worker's dispatch all derive from it.
 */
export type EngineApi = { [K in keyof Engine as Engine[K] extends (...args: never[]) => unknown ? K : never]: Engine[K] };

/** Whether `name` is an {@link EngineApi} method (the worker refuses anything else). */
export function isEngineMethod(engine: Engine, name: unknown): name is keyof EngineApi {
  return typeof name === 'string' && !Object.hasOwn(Object.prototype, name) && typeof (engine as unknown as Record<string, unknown>)[name] === 'function';
}

/**
 * Everything that runs models, owned by one thread: the recognition core, the concept store and the tracker.
 * The live runtime runs it in a worker thread; tests and the benchmark may run it in-process.
 */
export class Engine extends Household {
  readonly tracker: SceneTracker;
  readonly #stats: Omit<EngineStats, 'reuse' | 'masks'> = { frames: 0, memoryErrors: 0, lastMemoryError: null, models: {}, stages: {}, totalMs: 0 };
  /** Per camera: embeddings of regions that have not moved, reused instead of recomputed (most of a live frame). */
  readonly #reuse = new Map<string, EmbeddingReuse>();
  /** Per camera: the salient mask, recomputed when the scene changes (new tracks get the photo path's analysis). */
  readonly #masks = new Map<string, LiveMask>();
  /** trackId → open sighting (visit) id. */
  readonly #visits = new Map<string, string>();

  private constructor(core: FamiliarCore) {
    super(core);
    this.tracker = new SceneTracker(core.config.tracking);
  }

  /** `log` receives what the store repaired on opening and what it could not write later. */
  static async open(options: LoadConfigOptions | ResolvedConfig, log?: Logger): Promise<Engine> {
    const config = 'paths' in options ? options : loadConfig(options);
    return new Engine(await FamiliarCore.open(config, config.paths.storeDir, log ? { log } : {}));
  }

  /** An engine over a core that is already open (the evaluation's temporary store); closing stays with the caller. */
  static over(core: FamiliarCore): Engine {
    return new Engine(core);
  }

  get config(): ResolvedConfig {
    return this.core.config;
  }

  /** Changes whenever a concept is added, changed or removed (the worker then sends the changes with its reply). */
  get conceptRevision(): number {
    return this.core.store.revision;
  }

  list(): ConceptSummary[] {
    return this.core.list();
  }

  enrol(input: EnrolmentRequest<PhotoInput>): Promise<EnrolmentResult> {
    return this.core.enrol(input);
  }

  async enrolFromImage(input: { name: string; kind: ConceptKind; context: string; image: RgbImage; origin: string }): Promise<EnrolmentResult> {
    return this.core.enrol({ ...input, photos: [{ bytes: await encodeJpeg(input.image, 92), origin: input.origin }] });
  }

  update(id: string, patch: { name?: string; context?: string }): Promise<ConceptSummary> {
    return this.core.update(id, patch);
  }

  async forget(id: string): Promise<ConceptSummary> {
    const concept = await this.core.forget(id);
    for (const [trackId, visit] of this.#visits) if (!this.memory.sightings.get(visit)) this.#visits.delete(trackId);
    return concept;
  }

  /** Recognises an already decoded image (uploaded to the dialogue service). */
  async recogniseImage(image: RgbImage): Promise<Match[]> {
    return (await this.core.recognizer.recognise(image)).matches;
  }

  /** One live frame: decode, recognise, track. */
  async processFrame(frame: FrameInput): Promise<FrameResult> {
    const t0 = performance.now();
    let reuse = this.#reuse.get(frame.cameraId);
    if (!reuse) this.#reuse.set(frame.cameraId, (reuse = new EmbeddingReuse()));
    reuse.nextFrame();
    const { liveMask: maskMode, liveMaskMaxAgeFrames, liveMaskBudget } = this.config.pipeline;
    let liveMask = maskMode === 'off' ? undefined : this.#masks.get(frame.cameraId);
    if (maskMode !== 'off' && !liveMask) this.#masks.set(frame.cameraId, (liveMask = new LiveMask({ maxAgeFrames: liveMaskMaxAgeFrames, budget: liveMaskBudget })));
    const rec = await this.core.recognise({ bytes: frame.jpeg, origin: `${frame.cameraId}#${frame.seq}` }, liveMask ? { liveMask, reuse } : { salient: false, reuse });
    // Only faces on a person's body may become unknown visitors (YuNet also fires on dogs, toys and clock dials).
    const unknownFaces = rec.unknownFaces.filter((f) => f.onPerson);
    const t1 = performance.now();
    const observations: Observation[] = [
      ...rec.matches.map((m) => ({ box: m.box, kind: m.kind, conceptId: m.conceptId, name: m.name, similarity: m.similarity, confidence: m.confidence })),
      ...unknownFaces.map((f) => ({ box: f.box, kind: 'person' as const, conceptId: null, name: null, similarity: 0, confidence: 0.5, embedding: f.vector })),
    ];
    const update = this.tracker.update({
      cameraId: frame.cameraId,
      room: frame.room,
      seq: frame.seq,
      capturedAt: frame.capturedAt,
      width: rec.width,
      height: rec.height,
      observations,
    });
    const t2 = performance.now();
    const reminders = await this.#remember(update.events, update.tracks);
    // The grouping is decided synchronously inside observe(); its disk write is left to run beside the next frames,
    // where writes coalesce (awaiting it here cost a durable rewrite per unknown face per frame). Memory.close waits for it.
    if (this.memory.unknowns.enabled) for (const f of unknownFaces) void this.#safely(() => this.memory.unknowns.observe({ vector: f.vector, at: frame.capturedAt, cameraId: frame.cameraId }));
    const timings: StageTimings = { ...rec.timings, tracking: t2 - t1, memory: performance.now() - t2 };
    const totalMs = performance.now() - t0;
    this.#stats.frames++;
    this.#stats.totalMs += totalMs;
    for (const [k, v] of Object.entries(timings)) this.#stats.stages[k] = (this.#stats.stages[k] ?? 0) + v;
    const offset = rec.matches.length;
    return {
      cameraId: frame.cameraId,
      seq: frame.seq,
      capturedAt: frame.capturedAt,
      width: rec.width,
      height: rec.height,
      matches: rec.matches,
      tracks: update.tracks,
      events: update.events,
      unknownFaces: unknownFaces.map((f, i) => ({ trackId: update.trackIds[offset + i] ?? null, box: f.box, vector: f.vector })),
      timings,
      reminders,
      totalMs,
    };
  }

  /**
   * Scene changes into memory: one sighting per visit (opened on `appeared`, kept current while the track lives,
   * closed on `left`), and the triggers an appearance fires. A concept forgotten a moment ago may still have a track:
   * its events are not recorded.
   */
  async #remember(events: readonly TrackEvent[], tracks: readonly SceneTrack[]): Promise<ReminderEvent[]> {
    const reminders: ReminderEvent[] = [];
    const known = (id: string | null) => id === null || this.core.store.has(id);
    for (const e of events) {
      if (!known(e.conceptId) || (e.conceptId === null && e.kind !== 'person')) continue;
      const visit = this.#visits.get(e.trackId);
      if (e.type === 'appeared') {
        if (visit) await this.#safely(() => this.memory.sightings.update(visit, { at: e.at, box: e.box, confidence: e.confidence, conceptId: e.conceptId }));
        else
          await this.#safely(() => {
            const s = this.memory.sightings.begin({ conceptId: e.conceptId, trackId: e.trackId, cameraId: e.cameraId, room: e.room, at: e.at, box: e.box, confidence: e.confidence });
            this.#visits.set(e.trackId, s.id);
          });
        if (e.conceptId) {
          const fired = (await this.#safely(() => this.memory.triggers.onAppeared({ conceptId: e.conceptId!, cameraId: e.cameraId, room: e.room, at: e.at }))) ?? [];
          for (const t of fired) {
            reminders.push({ triggerId: t.id, conceptId: t.conceptId, name: e.name ?? '', message: t.message, cameraId: e.cameraId, room: e.room, at: e.at, createdBy: t.createdBy });
          }
        }
      } else if (e.type === 'left' && visit) {
        this.#visits.delete(e.trackId);
        await this.#safely(() => this.memory.sightings.end(visit, { at: e.at }));
      }
    }
    // Every live track keeps its visit current, 'moved' ones included (their event carries the same box and time).
    for (const t of tracks) {
      const visit = this.#visits.get(t.trackId);
      if (visit && known(t.conceptId)) await this.#safely(() => this.memory.sightings.update(visit, { at: t.lastSeenAt, box: t.box, confidence: t.confidence }));
    }
    return reminders;
  }

  /** Memory writes never stop the pipeline: a full disk or a just-forgotten concept costs that record only. */
  async #safely<T>(fn: () => T | Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      const e = toFamiliarError(err);
      this.#stats.memoryErrors++;
      this.#stats.lastMemoryError = `${e.code}: ${e.message}`;
      return undefined;
    }
  }

  /** Ends every track of a camera that stopped (its `left` events), closing their visits. */
  async endCamera(cameraId: string, at: number): Promise<TrackEvent[]> {
    this.#reuse.delete(cameraId);
    this.#masks.delete(cameraId);
    const events = this.tracker.end(cameraId, at);
    await this.#remember(events, []);
    return events;
  }

  stats(): EngineStats {
    const reuse = { hits: 0, misses: 0 };
    for (const r of this.#reuse.values()) {
      reuse.hits += r.stats.hits;
      reuse.misses += r.stats.misses;
    }
    const masks = { computed: 0, reused: 0 };
    for (const m of this.#masks.values()) {
      masks.computed += m.stats.computed;
      masks.reused += m.stats.reused;
    }
    return { ...this.#stats, models: modelStats(this.core.models), stages: { ...this.#stats.stages }, reuse, masks };
  }

  close(): Promise<void> {
    return this.core.close();
  }
}
