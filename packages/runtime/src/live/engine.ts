import { FamiliarError, toFamiliarError, type Sighting, type Box, type ConceptKind, type ConceptSummary, type Match, type RgbImage, type SceneTrack, type StageTimings } from '@familiar/contracts';
import type { MentionRecallInfo, NoteInfo, PreferencesInfo, ReminderEvent, SightingInfo, TriggerInfo, TriggerRequest, UnknownInfo } from '@familiar/dialogue';
import { mentionedIds, parseTriggerRequest, type Memory, type Trigger } from '@familiar/memory';
import { loadConfig, type LoadConfigOptions, type ResolvedConfig } from '@familiar/config';
import { EmbeddingReuse, SceneTracker, type Observation, type TrackEvent } from '@familiar/perception';
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
  /** Reminders that this frame's appearances fired. */
  reminders: ReminderEvent[];
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
  /** Memory writes that failed (and were skipped) during live processing. */
  memoryErrors: number;
  lastMemoryError: string | null;
  models: Record<string, { runs: number; ms: number; provider: string }>;
  /** Sum of per-stage times over all frames, ms. */
  stages: Record<string, number>;
  totalMs: number;
  /** Region embeddings reused from a recent frame (hits) or computed (misses), over the cameras now running. */
  reuse: { hits: number; misses: number };
}

/**
 * Everything that runs models, owned by one thread: the recognition core, the concept store and the tracker.
 * The live runtime runs it in a worker thread; tests and the benchmark may run it in-process.
 */
export class Engine {
  readonly core: FamiliarCore;
  readonly tracker: SceneTracker;
  readonly #stats: Omit<EngineStats, 'reuse'> = { frames: 0, memoryErrors: 0, lastMemoryError: null, models: {}, stages: {}, totalMs: 0 };
  readonly #framesSeen = new Map<string, number>();
  /** Per camera: embeddings of regions that have not moved, reused instead of recomputed (most of a live frame). */
  readonly #reuse = new Map<string, EmbeddingReuse>();
  /** trackId → open sighting (visit) id. */
  readonly #visits = new Map<string, string>();

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
    const n = (this.#framesSeen.get(frame.cameraId) ?? 0) + 1;
    this.#framesSeen.set(frame.cameraId, n);
    const every = this.config.pipeline.salientEveryFrames;
    const salient = every > 0 && n % every === 1 % every;
    let reuse = this.#reuse.get(frame.cameraId);
    if (!reuse) this.#reuse.set(frame.cameraId, (reuse = new EmbeddingReuse()));
    reuse.nextFrame();
    const rec = await this.core.recognise({ bytes: frame.jpeg, origin: `${frame.cameraId}#${frame.seq}` }, { salient, reuse });
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
    const t2 = performance.now();
    const reminders = await this.#remember(update.events, update.tracks);
    for (const f of rec.unknownFaces) await this.#safely(() => this.memory.unknowns.observe({ vector: f.vector, at: frame.capturedAt, cameraId: frame.cameraId }));
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
      unknownFaces: rec.unknownFaces.map((f, i) => ({ trackId: update.trackIds[offset + i] ?? null, box: f.box, vector: f.vector })),
      timings,
      reminders,
      totalMs,
    };
  }

  get memory(): Memory {
    return this.core.memory;
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
      } else if (e.type === 'moved' && visit) {
        await this.#safely(() => this.memory.sightings.update(visit, { at: e.at, box: e.box, confidence: e.confidence }));
      } else if (e.type === 'left' && visit) {
        this.#visits.delete(e.trackId);
        await this.#safely(() => this.memory.sightings.end(visit, { at: e.at }));
      }
    }
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
    const events = this.tracker.end(cameraId, at);
    await this.#remember(events, []);
    return events;
  }

  // ------------------------------------------------------------------ memory queries and edits (MemoryBackend)

  #name(id: string | null): string | null {
    return id !== null && this.core.store.has(id) ? this.core.store.get(id).name : null;
  }

  #sightingInfo(s: Sighting): SightingInfo {
    const others = this.memory.sightings
      .during({ from: s.firstSeen, to: s.lastSeen, cameraId: s.cameraId, limit: 50 })
      .filter((o) => o.id !== s.id && o.conceptId !== null && o.conceptId !== s.conceptId)
      .map((o) => this.#name(o.conceptId))
      .filter((n): n is string => n !== null);
    return {
      id: s.id,
      conceptId: s.conceptId,
      name: this.#name(s.conceptId),
      cameraId: s.cameraId,
      room: s.room,
      firstSeen: s.firstSeen,
      lastSeen: s.lastSeen,
      box: s.box,
      confidence: s.confidence,
      ongoing: s.open,
      withOthers: [...new Set(others)],
    };
  }

  /** The latest visit of every concept seen (for the runtime's last-seen cache). */
  lastSeenAll(): Record<string, SightingInfo> {
    const out: Record<string, SightingInfo> = {};
    for (const c of this.core.store.list()) {
      const s = this.memory.sightings.lastSeen(c.id);
      if (s) out[c.id] = this.#sightingInfo(s);
    }
    return out;
  }

  sightings(query: { conceptId?: string | null; cameraId?: string; since?: number; limit: number }): SightingInfo[] {
    return this.memory.sightings.recent(query).map((s) => this.#sightingInfo(s));
  }

  async addNote(note: { text: string; speaker: string | null; conceptIds?: string[]; cameraId?: string }): Promise<NoteInfo> {
    const conceptIds = note.conceptIds ?? mentionedIds(note.text, this.core.store.list());
    if (conceptIds.length === 0) throw new FamiliarError('INPUT_INVALID', 'the note names no enrolled concept');
    return this.memory.notes.add({ conceptIds, speaker: note.speaker, text: note.text, ...(note.cameraId && { cameraId: note.cameraId }) });
  }

  notes(conceptId: string, limit: number): NoteInfo[] {
    return this.memory.notes.forConcept(this.core.resolve(conceptId).id, limit);
  }

  lastMention(conceptId: string): MentionRecallInfo | null {
    const recall = this.memory.notes.lastMention(this.core.resolve(conceptId).id, this.memory.sightings);
    if (!recall) return null;
    const v = recall.speakerVisit;
    return {
      note: recall.note,
      speakerSeen: v ? { cameraId: v.cameraId, room: v.room, at: v.lastSeen } : null,
      inView: [...new Set(recall.inView.map((s) => this.#name(s.conceptId)).filter((n): n is string => n !== null))],
    };
  }

  #triggerInfo(t: Trigger): TriggerInfo {
    return {
      id: t.id,
      conceptId: t.conceptId,
      name: this.#name(t.conceptId) ?? '',
      message: t.message,
      once: t.once,
      ...(t.room !== undefined && { room: t.room }),
      createdBy: t.createdBy,
      createdAt: t.createdAt,
      firedCount: t.firedCount,
      ...(t.lastFiredAt !== undefined && { lastFiredAt: t.lastFiredAt }),
    };
  }

  async addTrigger(req: TriggerRequest): Promise<TriggerInfo> {
    let t: { conceptId: string; message: string; once: boolean; room?: string };
    if ('text' in req) {
      const parsed = parseTriggerRequest(req.text, this.core.store.list(), { rooms: this.config.cameras.map((c) => c.room) });
      if (!parsed) throw new FamiliarError('INPUT_INVALID', 'not understood as a reminder; say e.g. "if Grandma shows up, remind me to call the doctor"');
      t = parsed;
    } else {
      t = { ...req, conceptId: this.core.resolve(req.conceptId).id };
    }
    const added = await this.memory.triggers.add({ conceptId: t.conceptId, message: t.message, once: t.once, createdBy: req.createdBy, ...(t.room !== undefined && { room: t.room }) });
    return this.#triggerInfo(added);
  }

  triggers(): TriggerInfo[] {
    return this.memory.triggers.list().map((t) => this.#triggerInfo(t));
  }

  async cancelTrigger(id: string): Promise<TriggerInfo> {
    return this.#triggerInfo(await this.memory.triggers.cancel(id));
  }

  preferences(conceptId: string): PreferencesInfo {
    return { ...this.memory.preferences.get(this.core.resolve(conceptId).id) };
  }

  async setPreferences(conceptId: string, lists: { likes: string[]; dislikes: string[] }): Promise<PreferencesInfo> {
    const id = this.core.resolve(conceptId).id;
    return { ...(await this.memory.preferences.set(id, lists)) };
  }

  async mergePreferences(conceptId: string, lists: { likes: string[]; dislikes: string[] }): Promise<PreferencesInfo> {
    const id = this.core.resolve(conceptId).id;
    return { ...(await this.memory.preferences.merge(id, lists)) };
  }

  correct(req: { conceptId: string; verdict: 'is' | 'not'; jpeg: Uint8Array; box?: Box }) {
    return this.core.correct({ concept: req.conceptId, verdict: req.verdict, photo: { bytes: req.jpeg, origin: 'correction' }, box: req.box ?? null });
  }

  unknowns(): UnknownInfo[] {
    return this.memory.unknowns.list();
  }

  nameUnknown(id: string, req: { name: string; context: string }): Promise<ConceptSummary> {
    return this.memory.unknowns.name(id, (views) => this.core.enrolViews({ name: req.name, kind: 'person', context: req.context, views }));
  }

  dismissUnknown(id: string): Promise<void> {
    return this.memory.unknowns.dismiss(id);
  }

  stats(): EngineStats {
    const reuse = { hits: 0, misses: 0 };
    for (const r of this.#reuse.values()) {
      reuse.hits += r.stats.hits;
      reuse.misses += r.stats.misses;
    }
    return { ...this.#stats, models: modelStats(this.core.models), stages: { ...this.#stats.stages }, reuse };
  }

  close(): Promise<void> {
    return this.core.close();
  }
}
