/** A rectangle in source-image pixels. */
export interface Box {
  xmin: number;
  ymin: number;
  xmax: number;
  ymax: number;
}

/** A decoded image: tightly packed RGB, row-major. */
export interface RgbImage {
  width: number;
  height: number;
  /** width * height * 3 bytes, RGB. */
  data: Uint8Array;
}

export type ConceptKind = 'person' | 'pet' | 'object';
export const CONCEPT_KINDS: readonly ConceptKind[] = ['person', 'pet', 'object'];

/**
 * Longest concept name and context, in UTF-16 code units: one set for the WebSocket schema, the CLI/core and the
 * store codec. 2000 for context because the CLI has always accepted (and stored) that much; a lower limit would
 * make such stored concepts fail their check at the next start.
 */
export const CONCEPT_NAME_MAX = 64;
export const CONCEPT_CONTEXT_MAX = 2000;

/** What produced a region proposal. */
export type ProposalSource = 'detector' | 'face' | 'salient' | 'whole';

export interface Point {
  x: number;
  y: number;
}

/** Which embedding space a vector lives in; vectors from different spaces are never compared. */
export type EmbeddingSpace = 'face' | 'object' | 'body';
export const EMBEDDING_SPACES: readonly EmbeddingSpace[] = ['face', 'object', 'body'];

/** One enrolled view of a concept: the embedding of one reference photo (or augmentation of it). */
export interface ConceptView {
  id: string;
  space: EmbeddingSpace;
  vector: Float32Array;
  /** Where this view came from, e.g. the photo file name or 'ws-upload'. */
  origin: string;
  /** Negative views ("that's not Billy") repel instead of attract. */
  negative?: boolean;
  addedAt: number;
}

/** A view to add to a concept: `id` and `addedAt` are filled in when absent. */
export interface NewConceptView {
  id?: string;
  space: EmbeddingSpace;
  /** Unit length. */
  vector: Float32Array;
  origin: string;
  negative?: boolean;
  addedAt?: number;
}

/** One enrolled view matched by a search of a space's gallery. */
export interface ViewHit {
  conceptId: string;
  viewId: string;
  /** Cosine similarity. */
  similarity: number;
  /** A negative view ("that's not Billy"): a match repels instead of attracting. */
  negative: boolean;
}

/** Per-space decision thresholds of a concept, calibrated at enrolment. */
export type Thresholds = Partial<Record<EmbeddingSpace, number>>;

export interface Concept {
  id: string;
  name: string;
  kind: ConceptKind;
  context: string;
  createdAt: number;
  updatedAt: number;
  views: ConceptView[];
  thresholds: Thresholds;
}

/** A concept as listed to clients: no vectors. */
export interface ConceptSummary {
  id: string;
  name: string;
  kind: ConceptKind;
  context: string;
  createdAt: number;
  updatedAt: number;
  viewCount: number;
  thresholds: Thresholds;
}

/** A recognised concept in one image. */
export interface Match {
  conceptId: string;
  name: string;
  kind: ConceptKind;
  box: Box;
  /** Cosine similarity of the best view. */
  similarity: number;
  /** The concept's threshold in the space used. */
  threshold: number;
  /** 0..1, how far above the threshold and ahead of the runner-up the match is. */
  confidence: number;
  space: EmbeddingSpace;
}

/** The result of recognising one image. */
export interface Recognition {
  width: number;
  height: number;
  matches: Match[];
  /** Proposals that were examined (for overlays and debugging). */
  proposals: number;
  timings: StageTimings;
}

/** Milliseconds per named stage. */
export type StageTimings = Record<string, number>;

/**
 * One visit of a concept (or of an unknown person) to a camera's view: opened when it appears, updated
 * while it stays, closed when it leaves.
 */
export interface Sighting {
  id: string;
  /** null for an unknown person. */
  conceptId: string | null;
  trackId: string;
  cameraId: string;
  room: string;
  /** Epoch milliseconds. */
  firstSeen: number;
  /** Epoch milliseconds. */
  lastSeen: number;
  /** Where it was last seen, in source pixels. */
  box: Box;
  /** 0..1. */
  confidence: number;
  /** True while the visit lasts. */
  open: boolean;
}

/** Where in the frame something is: a 3×3 grid (rows top/middle/bottom × columns left/centre/right). */
export type SceneRegion = 'top-left' | 'top' | 'top-right' | 'left' | 'centre' | 'right' | 'bottom-left' | 'bottom' | 'bottom-right';

/** A confirmed track in a camera's current scene: who or what is where, with an identity decided by temporal voting. */
export interface SceneTrack {
  /** Stable while the track lives; unique across cameras. */
  trackId: string;
  cameraId: string;
  room: string;
  /** null for an unknown person (or another reported unknown kind). */
  conceptId: string | null;
  name: string | null;
  kind: ConceptKind;
  /** Last observed box, in source pixels. */
  box: Box;
  region: SceneRegion;
  /** 0..1: confidence-weighted share of the recent frames that voted for this identity. */
  confidence: number;
  /** Epoch milliseconds. */
  firstSeenAt: number;
  /** Epoch milliseconds of the last frame the track was observed in (earlier than now during a short dropout). */
  lastSeenAt: number;
}

// ---- the frame path (ARCHITECTURE.md): camera → runtime (main thread) → engine worker → tracker

/** One frame as it came off the camera: JPEG bytes, not yet decoded (decoding is the pipeline's job). */
export interface EncodedFrame {
  cameraId: string;
  /** Monotonic per source, starting at 1; gaps never happen here (drops are counted by the mailbox). */
  seq: number;
  /** Epoch milliseconds when the whole JPEG had arrived. */
  capturedAt: number;
  jpeg: Uint8Array;
}

/** A camera frame handed to the engine worker: the encoded frame plus the room its camera looks at. */
export interface FrameInput extends EncodedFrame {
  room: string;
}

/** One candidate region of a frame, already scored by the recogniser. */
export interface Observation {
  box: Box;
  kind: ConceptKind;
  /** null: nobody enrolled matched (an unknown person, an unrecognised pet or object). */
  conceptId: string | null;
  name: string | null;
  similarity: number;
  /** 0..1; the weight of this observation's identity vote. */
  confidence: number;
  /** Appearance embedding (unit length), when the recogniser has one: helps keep ids through crossings. */
  embedding?: Float32Array;
}
