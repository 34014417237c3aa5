import { TrackingConfig } from '@familiar/config';
import { cosine, FamiliarError, iou, type Box, type ConceptKind, type Observation, type SceneEvent, type SceneRegion, type SceneTrack } from '@familiar/contracts';

/** Everything the tracker needs from one processed frame. */
export interface TrackerFrame {
  cameraId: string;
  room: string;
  seq: number;
  /** Epoch milliseconds. */
  capturedAt: number;
  width: number;
  height: number;
  observations: readonly Observation[];
}

/** A scene change with the track it concerns (a {@link SceneEvent} as the dialogue protocol carries it, plus track data). */
export interface TrackEvent extends SceneEvent {
  trackId: string;
  kind: ConceptKind;
  /** The last observed box (for `left`: where it was last seen). */
  box: Box;
  region: SceneRegion;
}

export interface TrackerUpdate {
  /** In order: left, appeared, moved. */
  events: TrackEvent[];
  /** The camera's confirmed tracks after this frame. */
  tracks: SceneTrack[];
  /** Per input observation (same order): the track it was assigned to, or null (invalid, or no room for a track). */
  trackIds: (string | null)[];
}

const UNKNOWN = '\u0000unknown';
// Association bonus/penalty for agreeing/disagreeing recognised names: enough to settle ambiguous
// overlaps (a crossing), too small to beat geometry when one frame is mis-recognised.
const LABEL_TERM = 0.15;
const FORBIDDEN = 1e6;
const VELOCITY_SMOOTHING = 0.5;
const EMBEDDING_SMOOTHING = 0.2;
/** A region only changes once the centre is this far (fraction of the frame) past the grid line, so jitter on a line is no movement. */
const REGION_HYSTERESIS = 0.04;
/** Motion is extrapolated over at most this long, so a long-missing track is looked for near where it was. */
const MAX_PREDICT_MS = 1000;

interface Vote {
  frame: number;
  key: string;
  weight: number;
  conceptId: string | null;
  name: string | null;
}

interface Identity {
  key: string;
  conceptId: string | null;
  name: string | null;
}

interface Track {
  id: string;
  kind: ConceptKind;
  box: Box;
  /** Centre velocity, pixels per millisecond. */
  vx: number;
  vy: number;
  firstSeenAt: number;
  lastSeenAt: number;
  /** Frames the track was observed in. */
  hits: number;
  missedFrames: number;
  votes: Vote[];
  identity: Identity | null;
  /** Reported in the scene (appeared sent, left pending). */
  confirmed: boolean;
  confidence: number;
  region: SceneRegion;
  reportedBox: Box;
  reportedRegion: SceneRegion;
  embedding: Float32Array | null;
}

interface CameraState {
  room: string;
  /** Frames processed: the clock of the voting window (seq has gaps where the mailbox dropped frames). */
  frame: number;
  lastAt: number;
  width: number;
  height: number;
  nextId: number;
  tracks: Track[];
}

/**
 * Multi-object tracker with temporal identity voting, per camera. Pure logic: no I/O, no clocks (time
 * comes from the frames), deterministic.
 *
 * Association: the Hungarian method on a cost built from IoU with each track's motion-predicted box,
 * appearance cosine when both sides carry an embedding, and a small bonus for an agreeing recognised
 * name; pairs of different kinds, or with no overlap and no appearance match, are never joined.
 *
 * Identity: every observation votes (its concept, or "unknown") with its confidence. Over the last
 * `voteWindow` frames, an identity needs `voteMinFrames` frames to be adopted, and to replace a
 * recognised identity it must also outweigh it — so one mis-recognised frame cannot create or flip a
 * name. "Unknown" votes never replace a recognised identity (a face turning away is not evidence of
 * someone else). A confirmed track survives dropouts of up to `maxMissedFrames` frames or
 * `maxMissedMs`, whichever is longer, so one bad frame cannot drop it either.
 *
 * Events: `appeared` when a track is first confirmed — a recognised concept, or an unknown of a kind in
 * `unknownKinds` — and again, same trackId, when voting settles on a different identity (an unknown who
 * turns out to be Grandma); `moved` when the centre moved more than `moveFraction` of the frame since
 * the last report or changed grid region; `left` when a confirmed track ends.
 */
export class SceneTracker {
  readonly config: TrackingConfig;
  readonly #cameras = new Map<string, CameraState>();

  constructor(config: Partial<TrackingConfig> = {}) {
    const parsed = TrackingConfig.safeParse(config);
    if (!parsed.success) {
      throw new FamiliarError('CONFIG_INVALID', `tracking config: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    this.config = parsed.data;
  }

  /** Feeds one frame's observations; returns the scene events it caused and the camera's scene. */
  update(frame: TrackerFrame): TrackerUpdate {
    const { cameraId, capturedAt, width, height } = frame;
    if (!(width > 0 && height > 0 && Number.isFinite(width) && Number.isFinite(height) && Number.isFinite(capturedAt))) {
      throw new FamiliarError('INPUT_INVALID', `tracker frame of camera ${cameraId} has invalid size ${width}x${height} or time ${capturedAt}`);
    }
    let cam = this.#cameras.get(cameraId);
    if (!cam) {
      cam = { room: frame.room, frame: 0, lastAt: -Infinity, width, height, nextId: 1, tracks: [] };
      this.#cameras.set(cameraId, cam);
    }
    const trackIds: (string | null)[] = frame.observations.map(() => null);
    // A frame older than one already processed (a late worker result) would rewind motion and votes.
    if (capturedAt < cam.lastAt) return { events: [], tracks: this.#scene(cameraId, cam), trackIds };
    cam.room = frame.room;
    cam.frame += 1;
    cam.width = width;
    cam.height = height;
    cam.lastAt = capturedAt;

    const valid = frame.observations.map((o, i) => ({ o, i })).filter(({ o }) => isValidObservation(o));
    const matches = this.#associate(cam, valid.map(({ o }) => o), capturedAt);
    const events: TrackEvent[] = [];
    const matchedTracks = new Set<Track>();
    const unmatched: number[] = [];
    valid.forEach(({ o, i }, vi) => {
      const track = matches[vi];
      if (track) {
        this.#observe(cam, track, o, capturedAt);
        matchedTracks.add(track);
        trackIds[i] = track.id;
      } else {
        unmatched.push(vi);
      }
    });
    // New tracks, most confident first, within the per-camera bound.
    unmatched.sort((a, b) => valid[b]!.o.confidence - valid[a]!.o.confidence);
    for (const vi of unmatched) {
      if (cam.tracks.length >= this.config.maxTracksPerCamera) break;
      const { o, i } = valid[vi]!;
      const track = this.#newTrack(cameraId, cam, o, capturedAt);
      this.#observe(cam, track, o, capturedAt);
      matchedTracks.add(track);
      trackIds[i] = track.id;
    }

    const { voteWindow, voteMinFrames, maxMissedFrames, maxMissedMs } = this.config;
    const survivors: Track[] = [];
    for (const track of cam.tracks) {
      track.votes = track.votes.filter((v) => v.frame > cam.frame - voteWindow);
      if (!matchedTracks.has(track)) {
        track.missedFrames += 1;
        const gone = track.confirmed
          ? track.missedFrames > maxMissedFrames && capturedAt - track.lastSeenAt > maxMissedMs
          : track.missedFrames > voteWindow - voteMinFrames;
        if (gone) {
          if (track.confirmed) events.push(this.#event('left', cameraId, cam, track, capturedAt));
          continue;
        }
      }
      survivors.push(track);
    }
    cam.tracks = survivors;

    const later: TrackEvent[] = [];
    for (const track of cam.tracks) {
      if (!matchedTracks.has(track)) continue;
      const changed = this.#vote(track);
      const reportable = track.identity !== null && (track.identity.conceptId !== null || this.config.unknownKinds.includes(track.kind));
      if (changed && reportable) {
        track.confirmed = true;
        track.reportedBox = track.box;
        track.reportedRegion = track.region;
        later.push(this.#event('appeared', cameraId, cam, track, capturedAt));
      } else if (track.confirmed && this.#hasMoved(cam, track)) {
        track.reportedBox = track.box;
        track.reportedRegion = track.region;
        later.push(this.#event('moved', cameraId, cam, track, capturedAt));
      }
    }
    later.sort((a, b) => (a.type === b.type ? 0 : a.type === 'appeared' ? -1 : 1));
    events.push(...later);
    return { events, tracks: this.#scene(cameraId, cam), trackIds };
  }

  /** The confirmed tracks of a camera (empty for an unknown camera). */
  scene(cameraId: string): SceneTrack[] {
    const cam = this.#cameras.get(cameraId);
    return cam ? this.#scene(cameraId, cam) : [];
  }

  /** Ends a camera (it stopped or failed): every confirmed track leaves, the state is dropped. */
  end(cameraId: string, at: number): TrackEvent[] {
    const cam = this.#cameras.get(cameraId);
    if (!cam) return [];
    this.#cameras.delete(cameraId);
    return cam.tracks.filter((t) => t.confirmed).map((t) => this.#event('left', cameraId, cam, t, at));
  }

  /** Cameras with state. */
  cameras(): string[] {
    return [...this.#cameras.keys()];
  }

  #scene(cameraId: string, cam: CameraState): SceneTrack[] {
    return cam.tracks
      .filter((t) => t.confirmed)
      .map((t) => ({
        trackId: t.id,
        cameraId,
        room: cam.room,
        conceptId: t.identity?.conceptId ?? null,
        name: t.identity?.name ?? null,
        kind: t.kind,
        box: { ...t.box },
        region: t.region,
        confidence: t.confidence,
        firstSeenAt: t.firstSeenAt,
        lastSeenAt: t.lastSeenAt,
      }));
  }

  /** For each observation, the track it continues (or undefined). */
  #associate(cam: CameraState, observations: Observation[], at: number): (Track | undefined)[] {
    const tracks = cam.tracks;
    const result: (Track | undefined)[] = observations.map(() => undefined);
    if (tracks.length === 0 || observations.length === 0) return result;
    const { minIou, appearanceWeight, appearanceMatch, maxJump } = this.config;
    const diag = Math.hypot(cam.width, cam.height);
    const cost = tracks.map((track) => {
      const predicted = predict(track, at);
      return observations.map((o) => {
        if (o.kind !== track.kind) return FORBIDDEN;
        const overlap = iou(predicted, o.box);
        const app = track.embedding && o.embedding && o.embedding.length === track.embedding.length ? cosine(track.embedding, o.embedding) : null;
        const jump = centreDistance(predicted, o.box) / diag;
        if (overlap < minIou && !(app !== null && app >= appearanceMatch && jump <= maxJump)) return FORBIDDEN;
        let score = app === null ? overlap : (1 - appearanceWeight) * overlap + appearanceWeight * Math.max(0, app);
        const known = track.identity?.conceptId ?? null;
        if (known !== null && o.conceptId !== null) score += known === o.conceptId ? LABEL_TERM : -LABEL_TERM;
        return 1 - score;
      });
    });
    const rows = assignMinCost(cost);
    rows.forEach((col, r) => {
      if (col >= 0 && cost[r]![col]! < FORBIDDEN) result[col] = tracks[r];
    });
    return result;
  }

  #newTrack(cameraId: string, cam: CameraState, o: Observation, at: number): Track {
    const region = regionOf(o.box, cam.width, cam.height, null);
    const track: Track = {
      id: `${cameraId}#${cam.nextId++}`,
      kind: o.kind,
      box: { ...o.box },
      vx: 0,
      vy: 0,
      firstSeenAt: at,
      lastSeenAt: at,
      hits: 0,
      missedFrames: 0,
      votes: [],
      identity: null,
      confirmed: false,
      confidence: 0,
      region,
      reportedBox: { ...o.box },
      reportedRegion: region,
      embedding: null,
    };
    cam.tracks.push(track);
    return track;
  }

  #observe(cam: CameraState, track: Track, o: Observation, at: number): void {
    const dt = at - track.lastSeenAt;
    if (dt > 0 && track.hits > 0) {
      const vx = (centreX(o.box) - centreX(track.box)) / dt;
      const vy = (centreY(o.box) - centreY(track.box)) / dt;
      const a = track.hits === 1 ? 1 : VELOCITY_SMOOTHING;
      track.vx = a * vx + (1 - a) * track.vx;
      track.vy = a * vy + (1 - a) * track.vy;
    }
    track.box = { ...o.box };
    track.lastSeenAt = at;
    track.hits += 1;
    track.missedFrames = 0;
    track.region = regionOf(o.box, cam.width, cam.height, track.region);
    if (o.embedding) track.embedding = track.embedding && track.embedding.length === o.embedding.length ? blend(track.embedding, o.embedding, EMBEDDING_SMOOTHING) : Float32Array.from(o.embedding);
    const weight = Math.min(1, Math.max(0, Number.isFinite(o.confidence) ? o.confidence : 0));
    track.votes.push({ frame: cam.frame, key: o.conceptId ?? UNKNOWN, weight, conceptId: o.conceptId, name: o.name });
  }

  /** Re-decides a track's identity from its votes; true when it changed. */
  #vote(track: Track): boolean {
    const { voteMinFrames, voteWindow } = this.config;
    const tally = new Map<string, { frames: number; weight: number; last: Vote }>();
    for (const v of track.votes) {
      const t = tally.get(v.key);
      if (t) {
        t.frames += 1;
        t.weight += v.weight;
        t.last = v;
      } else tally.set(v.key, { frames: 1, weight: v.weight, last: v });
    }
    const current = track.identity;
    const currentWeight = current ? (tally.get(current.key)?.weight ?? 0) : 0;
    let best: { key: string; weight: number; last: Vote } | null = null;
    for (const [key, t] of tally) {
      if (key === UNKNOWN || t.frames < voteMinFrames) continue;
      if (!best || t.weight > best.weight) best = { key, weight: t.weight, last: t.last };
    }
    let next = current;
    if (best && best.key !== current?.key && (current === null || current.key === UNKNOWN || best.weight > currentWeight)) {
      next = { key: best.key, conceptId: best.last.conceptId, name: best.last.name };
    } else if (!current) {
      const unknown = tally.get(UNKNOWN);
      if (unknown && unknown.frames >= voteMinFrames) next = { key: UNKNOWN, conceptId: null, name: null };
    }
    const changed = next !== current;
    track.identity = next;
    track.confidence = next ? Math.min(1, (tally.get(next.key)?.weight ?? 0) / voteWindow) : 0;
    return changed;
  }

  #hasMoved(cam: CameraState, track: Track): boolean {
    if (track.region !== track.reportedRegion) return true;
    const dx = (centreX(track.box) - centreX(track.reportedBox)) / cam.width;
    const dy = (centreY(track.box) - centreY(track.reportedBox)) / cam.height;
    return Math.hypot(dx, dy) > this.config.moveFraction;
  }

  #event(type: TrackEvent['type'], cameraId: string, cam: CameraState, track: Track, at: number): TrackEvent {
    return {
      type,
      cameraId,
      room: cam.room,
      at,
      trackId: track.id,
      conceptId: track.identity?.conceptId ?? null,
      name: track.identity?.name ?? null,
      kind: track.kind,
      box: { ...track.box },
      region: track.region,
      confidence: track.confidence,
    };
  }
}

/**
 * Minimum-cost assignment (Hungarian method, O(n²m)) of rows to columns of a rectangular cost matrix.
 * Returns, per row, its column or -1 (more rows than columns).
 */
export function assignMinCost(cost: readonly (readonly number[])[]): number[] {
  const rows = cost.length;
  const cols = rows === 0 ? 0 : cost[0]!.length;
  if (rows === 0 || cols === 0) return new Array<number>(rows).fill(-1);
  if (rows > cols) {
    const transposed = Array.from({ length: cols }, (_, c) => cost.map((row) => row[c]!));
    const byCol = assignMinCost(transposed);
    const out = new Array<number>(rows).fill(-1);
    byCol.forEach((r, c) => {
      if (r >= 0) out[r] = c;
    });
    return out;
  }
  // e-maxx formulation with potentials; 1-based, column 0 is a sentinel.
  const u = new Float64Array(rows + 1);
  const v = new Float64Array(cols + 1);
  const p = new Int32Array(cols + 1);
  const way = new Int32Array(cols + 1);
  for (let i = 1; i <= rows; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Float64Array(cols + 1).fill(Infinity);
    const used = new Uint8Array(cols + 1);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= cols; j++) {
        if (used[j]) continue;
        const cur = cost[i0 - 1]![j - 1]! - u[i0]! - v[j]!;
        if (cur < minv[j]!) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j]! < delta) {
          delta = minv[j]!;
          j1 = j;
        }
      }
      for (let j = 0; j <= cols; j++) {
        if (used[j]) {
          u[p[j]!] = u[p[j]!]! + delta;
          v[j] = v[j]! - delta;
        } else {
          minv[j] = minv[j]! - delta;
        }
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0]!;
      p[j0] = p[j1]!;
      j0 = j1;
    } while (j0 !== 0);
  }
  const out = new Array<number>(rows).fill(-1);
  for (let j = 1; j <= cols; j++) if (p[j]! > 0) out[p[j]! - 1] = j - 1;
  return out;
}

/** The 3×3 grid cell of a box centre; with `previous`, the cell only changes past a small hysteresis margin. */
export function regionOf(box: Box, width: number, height: number, previous: SceneRegion | null): SceneRegion {
  const fx = Math.min(1, Math.max(0, centreX(box) / width));
  const fy = Math.min(1, Math.max(0, centreY(box) / height));
  let col = Math.min(2, Math.floor(fx * 3));
  let row = Math.min(2, Math.floor(fy * 3));
  if (previous) {
    const prev = REGION_CELLS.indexOf(previous);
    const pc = prev % 3;
    const pr = Math.floor(prev / 3);
    if (fx >= pc / 3 - REGION_HYSTERESIS && fx <= (pc + 1) / 3 + REGION_HYSTERESIS) col = pc;
    if (fy >= pr / 3 - REGION_HYSTERESIS && fy <= (pr + 1) / 3 + REGION_HYSTERESIS) row = pr;
  }
  return REGION_CELLS[row * 3 + col]!;
}

const REGION_CELLS: readonly SceneRegion[] = ['top-left', 'top', 'top-right', 'left', 'centre', 'right', 'bottom-left', 'bottom', 'bottom-right'];

function isValidObservation(o: Observation): boolean {
  const b = o.box;
  return (
    b !== null &&
    typeof b === 'object' &&
    [b.xmin, b.ymin, b.xmax, b.ymax, o.confidence].every(Number.isFinite) &&
    b.xmax > b.xmin &&
    b.ymax > b.ymin &&
    (o.kind === 'person' || o.kind === 'pet' || o.kind === 'object')
  );
}

function predict(track: Track, at: number): Box {
  const dt = Math.min(MAX_PREDICT_MS, Math.max(0, at - track.lastSeenAt));
  const dx = track.vx * dt;
  const dy = track.vy * dt;
  return { xmin: track.box.xmin + dx, ymin: track.box.ymin + dy, xmax: track.box.xmax + dx, ymax: track.box.ymax + dy };
}

const centreX = (b: Box): number => (b.xmin + b.xmax) / 2;
const centreY = (b: Box): number => (b.ymin + b.ymax) / 2;
const centreDistance = (a: Box, b: Box): number => Math.hypot(centreX(a) - centreX(b), centreY(a) - centreY(b));


/** (1-a)·old + a·new, renormalised to unit length. */
function blend(old: Float32Array, next: Float32Array, a: number): Float32Array {
  const out = new Float32Array(old.length);
  let norm = 0;
  for (let i = 0; i < old.length; i++) {
    out[i] = (1 - a) * old[i]! + a * next[i]!;
    norm += out[i]! * out[i]!;
  }
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < out.length; i++) out[i] = out[i]! / norm;
  return out;
}
