import { describe, expect, it } from 'vitest';
import { FamiliarError, type Box, type ConceptKind, type Observation } from '@familiar/contracts';
import { iou } from '@familiar/contracts';
import { assignMinCost, regionOf, SceneTracker, type TrackEvent, type TrackerFrame } from './tracker.ts';

const W = 640;
const H = 480;
const STEP_MS = 100;

const unit = (v: number[]): Float32Array => {
  const n = Math.hypot(...v);
  return Float32Array.from(v.map((x) => x / n));
};

const box = (cx: number, cy: number, w = 80, h = 160): Box => ({ xmin: cx - w / 2, ymin: cy - h / 2, xmax: cx + w / 2, ymax: cy + h / 2 });

function obs(b: Box, conceptId: string | null, extra: Partial<Observation> = {}): Observation {
  const kind: ConceptKind = extra.kind ?? (conceptId === 'billy' ? 'pet' : 'person');
  return { box: b, kind, conceptId, name: conceptId ? conceptId.toUpperCase() : null, similarity: conceptId ? 0.8 : 0, confidence: 0.8, ...extra };
}

/** Drives one camera frame by frame, 100 ms apart, collecting every event. */
class Scenario {
  readonly tracker: SceneTracker;
  readonly events: TrackEvent[] = [];
  seq = 0;
  constructor(config: ConstructorParameters<typeof SceneTracker>[0] = {}, readonly cameraId = 'cam1') {
    this.tracker = new SceneTracker(config);
  }
  get now(): number {
    return 1_700_000_000_000 + this.seq * STEP_MS;
  }
  frame(observations: Observation[]) {
    this.seq += 1;
    const f: TrackerFrame = { cameraId: this.cameraId, room: 'living room', seq: this.seq, capturedAt: this.now, width: W, height: H, observations };
    const update = this.tracker.update(f);
    this.events.push(...update.events);
    return update;
  }
  run(n: number, make: (i: number) => Observation[]): void {
    for (let i = 0; i < n; i++) this.frame(make(i));
  }
  summary(): string[] {
    return this.events.map((e) => `${e.type}:${e.name ?? 'unknown'}:${e.trackId}`);
  }
}

describe('SceneTracker', () => {
  it('enter, stay, leave: one appeared after k frames, one left after the dropout allowance', () => {
    const s = new Scenario({ maxMissedFrames: 3, maxMissedMs: 500 });
    s.run(2, () => []);
    s.run(2, () => [obs(box(200, 240), 'billy')]);
    expect(s.events).toEqual([]); // 2 of 5 frames: not yet
    s.frame([obs(box(200, 240), 'billy')]);
    expect(s.summary()).toEqual(['appeared:BILLY:cam1#1']);
    const appeared = s.events[0]!;
    expect(appeared).toMatchObject({ cameraId: 'cam1', room: 'living room', conceptId: 'billy', kind: 'pet', region: 'left', at: s.now });
    expect(appeared.confidence).toBeCloseTo((3 * 0.8) / 5);
    s.run(10, () => [obs(box(202, 241), 'billy')]);
    expect(s.tracker.scene('cam1')).toHaveLength(1);
    expect(s.tracker.scene('cam1')[0]).toMatchObject({ trackId: 'cam1#1', name: 'BILLY', kind: 'pet' });
    const lastSeen = s.now;
    let leftAt = 0;
    for (let i = 0; i < 20 && !leftAt; i++) {
      s.frame([]);
      if (s.events.at(-1)?.type === 'left') leftAt = s.now;
    }
    expect(s.summary()).toEqual(['appeared:BILLY:cam1#1', 'left:BILLY:cam1#1']);
    // Missed in more than 3 frames and for more than 500 ms.
    expect(leftAt - lastSeen).toBeGreaterThan(500);
    expect(s.events[1]!.box).toEqual(box(202, 241));
    expect(s.tracker.scene('cam1')).toEqual([]);
  });

  it('one mis-recognised frame neither flips the name nor splits the track', () => {
    const s = new Scenario();
    s.run(6, () => [obs(box(300, 240), 'alice')]);
    const update = s.frame([obs(box(302, 240), 'carol', { confidence: 0.95 })]);
    expect(update.trackIds).toEqual(['cam1#1']);
    expect(update.tracks[0]!.name).toBe('ALICE');
    s.run(6, () => [obs(box(300, 240), 'alice')]);
    expect(s.summary()).toEqual(['appeared:ALICE:cam1#1']);
  });

  it('a name that keeps winning does replace the old one (same track, new appeared)', () => {
    const s = new Scenario();
    s.run(5, () => [obs(box(300, 240), null)]);
    expect(s.summary()).toEqual(['appeared:unknown:cam1#1']);
    s.run(5, () => [obs(box(300, 240), 'grandma')]);
    expect(s.summary()).toEqual(['appeared:unknown:cam1#1', 'appeared:GRANDMA:cam1#1']);
    // Once recognised, frames where the face is not visible (unknown votes) keep the name.
    s.run(8, () => [obs(box(300, 240), null)]);
    expect(s.tracker.scene('cam1')[0]!.name).toBe('GRANDMA');
    expect(s.events).toHaveLength(2);
  });

  it('a single missing or corrupted frame creates no left/appeared pair', () => {
    const s = new Scenario();
    s.run(5, () => [obs(box(300, 240), 'alice')]);
    s.frame([]); // nothing detected
    s.run(3, () => [obs(box(300, 240), 'alice')]);
    // A corrupted frame: garbage boxes, NaNs and a box elsewhere with another name.
    const bad = s.frame([
      obs({ xmin: Number.NaN, ymin: 0, xmax: 10, ymax: 10 }, 'alice'),
      obs({ xmin: 50, ymin: 50, xmax: 40, ymax: 60 }, 'alice'),
      obs(box(560, 80, 40, 40), 'bob'),
    ]);
    expect(bad.trackIds.slice(0, 2)).toEqual([null, null]);
    s.run(5, () => [obs(box(300, 240), 'alice')]);
    expect(s.summary()).toEqual(['appeared:ALICE:cam1#1']);
    expect(s.tracker.scene('cam1').map((t) => t.name)).toEqual(['ALICE']);
  });

  it('two people crossing keep their ids (names known)', () => {
    const s = new Scenario();
    const ids = new Set<string>();
    s.run(24, (i) => {
      const a = obs(box(100 + i * 20, 240), 'alice');
      const b = obs(box(560 - i * 20, 250), 'bob');
      return [a, b];
    });
    for (const t of s.tracker.scene('cam1')) ids.add(`${t.trackId}=${t.name}`);
    expect([...ids].sort()).toEqual(['cam1#1=ALICE', 'cam1#2=BOB']);
    expect(s.events.filter((e) => e.type !== 'moved').map((e) => `${e.type}:${e.name}`)).toEqual(['appeared:ALICE', 'appeared:BOB']);
    // Alice ends on the right, Bob on the left.
    const scene = s.tracker.scene('cam1');
    expect(scene.find((t) => t.name === 'ALICE')!.region).toBe('right');
    expect(scene.find((t) => t.name === 'BOB')!.region).toBe('left');
  });

  it('two unknown people crossing keep their ids by motion, and by appearance', () => {
    for (const withEmbeddings of [false, true]) {
      const s = new Scenario();
      const trackOfA = new Set<string | null>();
      const trackOfB = new Set<string | null>();
      // Same height, same size, opposite directions; at frame 11 the two boxes coincide exactly, which
      // only appearance can tell apart. The observation order swaps after the crossing, so a tie broken
      // by order (rather than by predicted motion) would swap the ids.
      for (let i = 0; i < 24; i++) {
        const a = obs(box(100 + i * 20, 240), null, withEmbeddings ? { embedding: unit([1, 0.1, 0]) } : {});
        const b = obs(box(540 - i * 20, 240), null, withEmbeddings ? { embedding: unit([0, 0.1, 1]) } : {});
        const flip = i >= 12;
        const u = s.frame(flip ? [b, a] : [a, b]);
        if (i === 11 && !withEmbeddings) continue;
        trackOfA.add(u.trackIds[flip ? 1 : 0]!);
        trackOfB.add(u.trackIds[flip ? 0 : 1]!);
      }
      expect(trackOfA.size, `embeddings: ${withEmbeddings}`).toBe(1);
      expect(trackOfB.size, `embeddings: ${withEmbeddings}`).toBe(1);
      expect([...trackOfA, ...trackOfB].sort()).toEqual(['cam1#1', 'cam1#2']);
      expect(s.events.filter((e) => e.type === 'appeared')).toHaveLength(2);
      expect(s.events.filter((e) => e.type === 'left')).toHaveLength(0);
    }
  });

  it('a fast mover whose boxes no longer overlap keeps its id by appearance', () => {
    const s = new Scenario();
    const ids = new Set<string | null>();
    const look = unit([0.2, 1, 0.3]);
    // 120 px per frame with an 80 px box: no IoU between frames, so only appearance can link them.
    for (let i = 0; i < 5; i++) ids.add(s.frame([obs(box(80 + i * 120, 240), null, { embedding: look })]).trackIds[0]!);
    expect([...ids]).toEqual(['cam1#1']);
    // Without an embedding the same motion would start a new track every frame.
    const plain = new Scenario();
    const plainIds = new Set<string | null>();
    for (let i = 0; i < 3; i++) plainIds.add(plain.frame([obs(box(80 + i * 120, 240), null)]).trackIds[0]!);
    expect(plainIds.size).toBe(3);
  });

  it('an unknown person becomes `appeared` with conceptId null; an unknown object stays silent', () => {
    const s = new Scenario();
    s.run(4, () => [obs(box(320, 240), null), obs(box(100, 400, 40, 40), null, { kind: 'object' })]);
    expect(s.events).toHaveLength(1);
    expect(s.events[0]).toMatchObject({ type: 'appeared', conceptId: null, name: null, kind: 'person' });
    expect(s.tracker.scene('cam1')).toHaveLength(1);
    // The object becomes reportable once recognised.
    s.run(3, () => [obs(box(320, 240), null), obs(box(100, 400, 40, 40), 'keys', { kind: 'object' })]);
    expect(s.summary().at(-1)).toBe('appeared:KEYS:cam1#2');
  });

  it('reports `moved` for a real displacement or a region change, not for jitter', () => {
    const s = new Scenario();
    s.run(5, (i) => [obs(box(320 + (i % 2) * 6, 240 + (i % 2) * 4), 'alice')]);
    expect(s.events.map((e) => e.type)).toEqual(['appeared']);
    // Walk right 15 px a frame: the first report comes once the centre is more than 15% of the width
    // (96 px) from where it was reported; the next when it crosses into the right third.
    s.run(10, (i) => [obs(box(320 + 15 * (i + 1), 240), 'alice')]);
    const moved = s.events.filter((e) => e.type === 'moved');
    expect(moved.map((e) => `${e.box.xmin + 40}:${e.region}`)).toEqual(['425:centre', '455:right']);
    expect(moved.every((e) => e.name === 'ALICE' && e.trackId === 'cam1#1')).toBe(true);
  });

  it('a track that misses too many frames ends, and a later re-entry is a new track', () => {
    const s = new Scenario({ maxMissedFrames: 2, maxMissedMs: 0 });
    s.run(4, () => [obs(box(320, 240), 'alice')]);
    s.run(3, () => []);
    s.run(4, () => [obs(box(320, 240), 'alice')]);
    expect(s.summary()).toEqual(['appeared:ALICE:cam1#1', 'left:ALICE:cam1#1', 'appeared:ALICE:cam1#2']);
  });

  it('keeps cameras apart, ignores late frames, ends a camera with left events', () => {
    const s = new Scenario();
    const other = new Scenario({}, 'cam2');
    s.run(4, () => [obs(box(320, 240), 'alice')]);
    other.run(4, () => [obs(box(320, 240), 'bob')]);
    expect(s.tracker.scene('cam2')).toEqual([]);
    const late = s.tracker.update({ cameraId: 'cam1', room: 'living room', seq: 1, capturedAt: s.now - 5000, width: W, height: H, observations: [] });
    expect(late.events).toEqual([]);
    expect(late.tracks).toHaveLength(1);
    const left = s.tracker.end('cam1', s.now + 1);
    expect(left.map((e) => `${e.type}:${e.name}`)).toEqual(['left:ALICE']);
    expect(s.tracker.cameras()).toEqual([]);
  });

  it('stays bounded under a flood of detections, and validates its input', () => {
    const s = new Scenario({ maxTracksPerCamera: 10 });
    const flood = Array.from({ length: 200 }, (_, i) => obs(box(10 + (i % 20) * 30, 20 + Math.floor(i / 20) * 45, 20, 20), null, { kind: 'object' }));
    const u = s.frame(flood);
    expect(u.trackIds.filter((t) => t !== null)).toHaveLength(10);
    expect(() => s.tracker.update({ cameraId: 'x', room: 'r', seq: 1, capturedAt: 1, width: 0, height: 480, observations: [] })).toThrow(FamiliarError);
    expect(() => new SceneTracker({ voteWindow: 3, voteMinFrames: 4 })).toThrow(/voteMinFrames/);
  });
});

describe('tracker geometry', () => {
  it('assignMinCost finds the optimum where greedy would not', () => {
    // Greedy takes (0,0)=1 then (1,1)=10 → 11; optimal is (0,1)+(1,0) = 2+2 = 4.
    expect(assignMinCost([[1, 2], [2, 10]])).toEqual([1, 0]);
    expect(assignMinCost([[5], [1], [3]])).toEqual([-1, 0, -1]);
    expect(assignMinCost([[3, 1, 2]])).toEqual([1]);
    expect(assignMinCost([])).toEqual([]);
  });

  it('iou and regions', () => {
    expect(iou(box(100, 100, 100, 100), box(100, 100, 100, 100))).toBe(1);
    expect(iou(box(100, 100, 100, 100), box(150, 100, 100, 100))).toBeCloseTo(1 / 3);
    expect(iou(box(100, 100, 10, 10), box(300, 100, 10, 10))).toBe(0);
    expect(regionOf(box(10, 10, 10, 10), W, H, null)).toBe('top-left');
    expect(regionOf(box(320, 240), W, H, null)).toBe('centre');
    // Just past the line into the right third, but within the hysteresis margin: still centre.
    expect(regionOf(box(430, 240), W, H, 'centre')).toBe('centre');
    expect(regionOf(box(430, 240), W, H, null)).toBe('right');
  });
});
