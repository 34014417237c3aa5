import { describe, expect, it } from 'vitest';
import type { Match, SceneTrack } from '@familiar/contracts';
import { sceneEntities, snapshotEntities, viewMatches } from './in-view.ts';

const box = (x: number) => ({ xmin: x, ymin: 0, xmax: x + 10, ymax: 10 });
const track = (id: string, conceptId: string | null, lastSeenAt: number, x: number): SceneTrack => ({
  trackId: id,
  cameraId: 'hall',
  room: 'hallway',
  conceptId,
  name: conceptId && conceptId.toUpperCase(),
  kind: 'person',
  box: box(x),
  region: 'centre',
  confidence: 0.8,
  firstSeenAt: 0,
  lastSeenAt,
});
const match = (conceptId: string, x: number): Match => ({ conceptId, name: conceptId.toUpperCase(), kind: 'person', box: box(x), similarity: 0.7, threshold: 0.4, confidence: 0.6, space: 'face' });

describe('who is in view: one notion for asks, snapshots and the house scene', () => {
  // Frame 1000: Anna tracked and seen now; Tom tracked but missed this frame (short dropout, box from 900);
  // an unknown person seen now; Billy matched in this frame but not (yet) voted onto any track.
  const frame = {
    capturedAt: 1000,
    tracks: [track('t1', 'anna', 1000, 10), track('t2', 'tom', 900, 50), track('t3', null, 1000, 80)],
    matches: [match('anna', 12), match('billy', 30)],
  };

  it('the house scene has every voted identity, including one in a short dropout; never an unvoted match', () => {
    expect(sceneEntities(frame).map((t) => t.conceptId)).toEqual(['anna', 'tom']);
  });

  it("a snapshot never carries another frame's box", () => {
    expect(snapshotEntities(frame).map((t) => t.trackId)).toEqual(['t1', 't3']);
  });

  it("an ask is grounded on the voted identities seen in this frame, at the track's box, scaled to the view", () => {
    const m = viewMatches(frame, 2);
    expect(m.map((x) => x.conceptId)).toEqual(['anna']);
    expect(m[0]).toMatchObject({ box: { xmin: 5, xmax: 10 }, confidence: 0.8, similarity: 0.7, space: 'face' });
  });
});
