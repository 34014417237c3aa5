import type { Box, ConceptKind, ConceptSummary, Match, RgbImage, SceneTrack, StageTimings } from '@familiar/contracts';
import { loadConfig, type LoadConfigOptions, type ResolvedConfig } from '@familiar/config';
import { SceneTracker, type Observation, type TrackEvent } from '@familiar/perception';
import { encodeJpeg } from '@familiar/image';
import { modelStats } from '@familiar/vision';
import { FamiliarCore, type EnrolResult } from '../core.ts';

/** A camera frame handed to the engine. */
export interface FrameInput {
  cameraId: string;
  room: string;
  seq: number;
  capturedAt: number;
  jpeg: Uint8Array;
}

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
  /** Wall time of the whole frame inside the engine, ms. */
  totalMs: number;
}

export interface EnrolInput {
  name: string;
  kind: ConceptKind;
  context: string;
  photos: { bytes: Uint8Array; origin: string }[];
}

export interface EngineStats {
  frames: number;
  models: Record<string, { runs: number; ms: number; provider: string }>;
  /** Sum of per-stage times over all frames, ms. */
  stages: Record<string, number>;
  totalMs: number;
}

/**
 * Everything that runs models, owned by one thread: the recognition core, the concept store and the tracker.
 * The live runtime runs it in a worker thread; tests and the benchmark may run it in-process.
 */
export class Engine {
  readonly core: FamiliarCore;
  readonly tracker: SceneTracker;
  readonly #stats: EngineStats = { frames: 0, models: {}, stages: {}, totalMs: 0 };
  readonly #framesSeen = new Map<string, number>();

  private constructor(core: FamiliarCore) {
    this.core = core;
    this.tracker = new SceneTracker(core.config.tracking);
  }

  static async open(options: LoadConfigOptions | ResolvedConfig): Promise<Engine> {
    const config = 'paths' in options ? options : loadConfig(options);
    return new Engine(await FamiliarCore.open(config));
  }

  get config(): ResolvedConfig {
    return this.core.config;
  }

  list(): ConceptSummary[] {
    return this.core.list();
  }

  enrol(input: EnrolInput): Promise<EnrolResult> {
    return this.core.enrol(input);
  }

  async enrolFromImage(input: { name: string; kind: ConceptKind; context: string; image: RgbImage; origin: string }): Promise<EnrolResult> {
    return this.core.enrol({ ...input, photos: [{ bytes: await encodeJpeg(input.image, 92), origin: input.origin }] });
  }

  update(id: string, patch: { name?: string; context?: string }): Promise<ConceptSummary> {
    return this.core.update(id, patch);
  }

  async forget(id: string): Promise<ConceptSummary> {
    return this.core.forget(id);
  }

  /** Recognises an already decoded image (uploaded to the dialogue service). */
  async recogniseImage(image: RgbImage): Promise<Match[]> {
    return (await this.core.recognizer.recognise(image)).matches;
  }

  /** One live frame: decode, recognise, track. */
  async processFrame(frame: FrameInput): Promise<FrameResult> {
    const t0 = performance.now();
    const n = (this.#framesSeen.get(frame.cameraId) ?? 0) + 1;
    this.#framesSeen.set(frame.cameraId, n);
    const every = this.config.pipeline.salientEveryFrames;
    const salient = every > 0 && n % every === 1 % every;
    const rec = await this.core.recognise({ bytes: frame.jpeg, origin: `${frame.cameraId}#${frame.seq}` }, { salient });
    const t1 = performance.now();
    const observations: Observation[] = [
      ...rec.matches.map((m) => ({ box: m.box, kind: m.kind, conceptId: m.conceptId, name: m.name, similarity: m.similarity, confidence: m.confidence })),
      ...rec.unknownFaces.map((f) => ({ box: f.box, kind: 'person' as const, conceptId: null, name: null, similarity: 0, confidence: 0.5, embedding: f.vector })),
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
    const timings: StageTimings = { ...rec.timings, tracking: performance.now() - t1 };
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
      unknownFaces: rec.unknownFaces.map((f, i) => ({ trackId: update.trackIds[offset + i] ?? null, box: f.box, vector: f.vector })),
      timings,
      totalMs,
    };
  }

  /** Ends every track of a camera that stopped (its `left` events). */
  endCamera(cameraId: string, at: number): TrackEvent[] {
    return this.tracker.end(cameraId, at);
  }

  stats(): EngineStats {
    return { ...this.#stats, models: modelStats(this.core.models), stages: { ...this.#stats.stages } };
  }

  close(): Promise<void> {
    return this.core.close();
  }
}
