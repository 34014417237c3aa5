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

/** A frame from a camera: a decoded image plus where and when it was taken. */
export interface Frame {
  cameraId: string;
  /** Monotonic per camera. */
  seq: number;
  /** Epoch milliseconds at capture. */
  capturedAt: number;
  image: RgbImage;
  /** The encoded bytes as received, when the source delivered JPEG (kept for overlays without re-encoding). */
  jpeg?: Uint8Array;
}

export type ConceptKind = 'person' | 'pet' | 'object';
export const CONCEPT_KINDS: readonly ConceptKind[] = ['person', 'pet', 'object'];

/** What produced a proposal. */
export type ProposalSource = 'detector' | 'face' | 'salient' | 'whole';

/** One candidate region in an image. */
export interface Proposal {
  box: Box;
  score: number;
  source: ProposalSource;
  /** COCO class id from the detector, or -1 when not from the detector. */
  classId: number;
  label: string;
  /** Five face landmarks (right eye, left eye, nose, right mouth, left mouth) for face proposals. */
  landmarks?: readonly Point[];
}

export interface Point {
  x: number;
  y: number;
}

/** Which embedding space a vector lives in; vectors from different spaces are never compared. */
export type EmbeddingSpace = 'face' | 'object' | 'body';

export interface Embedding {
  space: EmbeddingSpace;
  /** Unit length. */
  vector: Float32Array;
}

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
