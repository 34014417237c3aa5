import { scaleBox, type Match, type SceneTrack } from '@familiar/contracts';

/**
 * The one notion of "who is in view": the tracker's confirmed tracks with their voted identities — what scene
 * events report. Asks, snapshots and the whole-house scene all read a frame result through these three
 * functions, so they never disagree (a frame's raw matches, before voting, are not "in view").
 */

/** What a processed frame says about who is in view. */
export interface InViewFrame {
  capturedAt: number;
  tracks: readonly SceneTrack[];
  /** The frame's own recognitions (only their similarity figures are used). */
  matches: readonly Match[];
}

/** The whole-house scene of a camera: every recognised track, including one in a short dropout (nobody left). */
export function sceneEntities(frame: InViewFrame): SceneTrack[] {
  return frame.tracks.filter((t) => t.conceptId !== null);
}

/** A snapshot's entities: only tracks observed in this very frame, so no box comes from another frame. */
export function snapshotEntities(frame: InViewFrame): SceneTrack[] {
  return frame.tracks.filter((t) => t.lastSeenAt === frame.capturedAt);
}

/**
 * The recognised entities an ask is grounded on, boxed where this frame saw them (`scale`: frame pixels per
 * view pixel); the frame's match of the same concept supplies the similarity figures.
 */
export function viewMatches(frame: InViewFrame, scale = 1): Match[] {
  return snapshotEntities(frame)
    .filter((t) => t.conceptId !== null)
    .map((t) => {
      const same = frame.matches.find((m) => m.conceptId === t.conceptId);
      return {
        conceptId: t.conceptId!,
        name: t.name ?? same?.name ?? '',
        kind: t.kind,
        box: scaleBox(t.box, 1 / scale),
        similarity: same?.similarity ?? 0,
        threshold: same?.threshold ?? 0,
        confidence: t.confidence,
        space: same?.space ?? (t.kind === 'person' ? 'face' : 'object'),
      };
    });
}
