import type { Box, ConceptKind, ConceptSummary, Match, RgbImage, SceneEvent } from '@familiar/contracts';
import type { MemoryBackend } from './memory-backend.ts';

/** A camera's latest frame with what was recognised in it. */
export interface View {
  cameraId: string;
  room: string;
  /** Epoch milliseconds. */
  capturedAt: number;
  image: RgbImage;
  /** Recognised concepts, boxes in `image` pixels; at most one per concept. */
  matches: Match[];
}

/** A camera and how its pipeline keeps up (the runtime's per-camera status fits this shape). */
export interface CameraStats {
  id: string;
  room: string;
  /** The source's state: starting, streaming, stalled, restarting, failed, stopped. */
  state: string;
  /** Frames processed per second, measured over the last frames. */
  fps: number;
  counters: { captured: number; processed: number; dropped: number };
  /** capturedAt of the last processed frame. */
  lastFrameAt: number | null;
  lastError: string | null;
}

/** Someone or something in a camera's frame (a recognised Match fits this shape; so does a tracker's SceneTrack). */
export interface SnapshotEntity {
  trackId?: string | undefined;
  conceptId: string | null;
  name: string | null;
  kind: ConceptKind | null;
  /** In frame pixels. */
  box: Box;
  confidence: number;
}

/** Who and what a camera sees now: its tracked, voted identities (the one notion of "in view"). */
export interface CameraScene {
  cameraId: string;
  room: string;
  /** Epoch milliseconds of its last processed frame; null before the first. */
  capturedAt: number | null;
  /** Recognised concepts only (conceptId set). */
  entities: SnapshotEntity[];
}

/** A camera's latest frame as the camera delivered it, for showing to people (the web console). */
export interface Snapshot {
  cameraId: string;
  room: string;
  /** Epoch milliseconds. */
  capturedAt: number;
  /** The encoded frame; any size with the frame's aspect ratio. */
  jpeg: Uint8Array;
  /** The frame's size in the pixels `entities` (and scene events, and enrol boxes) use. */
  width: number;
  height: number;
  entities: SnapshotEntity[];
}

/** Where and when a concept was last seen (from the sightings memory). */
export interface LastSeen {
  cameraId: string;
  room: string;
  /** Epoch milliseconds. */
  at: number;
  /** In that frame's pixels. */
  box: Box;
}

interface EnrolCommon {
  name: string;
  kind: ConceptKind;
  context: string;
}

/** Enrol from encoded photos (already checked against the image limits by the server). */
export interface EnrolFromPhotos extends EnrolCommon {
  photos: Uint8Array[];
}

/** Enrol from a camera's current frame, optionally only the region in `box` (frame pixels). */
export interface EnrolFromCamera extends EnrolCommon {
  cameraId: string;
  box?: Box | undefined;
}

export type EnrolRequest = EnrolFromPhotos | EnrolFromCamera;

/**
 * What the dialogue service needs from the rest of Familiar. The runtime implements it with the live
 * pipeline and memory; tests implement it over static photos. Methods throw FamiliarError with a code
 * (CONCEPT_NOT_FOUND, CONCEPT_EXISTS, ENROL_NO_VIEWS, NOT_FOUND for an unknown camera, IMAGE_*), which the
 * server passes to the client unchanged. Memory beyond identity (sightings, notes, triggers, preferences,
 * corrections, unknown visitors) is the {@link MemoryBackend} part. Heavy work (recognition, enrolment) must not block the event loop
 * for long: the server and every other client share it.
 */
export interface DialogueBackend extends MemoryBackend {
  listConcepts(): ConceptSummary[];
  enrol(req: EnrolRequest): Promise<ConceptSummary>;
  updateConcept(id: string, patch: { name?: string | undefined; context?: string | undefined }): Promise<ConceptSummary>;
  /** Erases every trace of the concept (views, sightings, notes). */
  forget(id: string): Promise<void>;
  /** Latest frame of a camera (the default camera when omitted) with its recognised scene; null if it has no frame yet. */
  currentView(cameraId?: string): Promise<View | null>;
  /** Recognises an uploaded image; boxes in its pixels. */
  recognise(image: RgbImage, signal?: AbortSignal): Promise<Match[]>;
  lastSeen(conceptId: string): LastSeen | null;
  /** Scene events of every camera; returns the unsubscribe function. The listener must not throw and returns quickly. */
  subscribe(listener: (e: SceneEvent) => void): () => void;
  /** Anything worth showing in `status` (cameras, fps, model state...), JSON-serialisable. */
  status(): Record<string, unknown>;
  /** Every configured camera with its frame rate and counters (status.cameras; the console's live view). Without it status lists none. */
  cameras?(): CameraStats[];
  /**
   * The latest frame of a camera (the default camera when omitted) as JPEG, with who and what is in it; null
   * if it has no frame yet. Without it the server encodes currentView()'s image, which assumes that image is in
   * frame pixels: a backend whose views are downscaled should implement this (it can return the camera's own JPEG).
   */
  snapshot?(cameraId?: string): Promise<Snapshot | null>;
  /**
   * The live scene of every camera (tracked identities), for "where is…", "who is in the hallway", counts. Without
   * it the dialogue looks at currentView() of each camera cameras() lists (or of the default camera).
   */
  houseScene?(): CameraScene[];
  /** A concept's thumbnail JPEG, or null when it has none (embeddings-only mode). CONCEPT_NOT_FOUND for an unknown id. */
  thumbnail?(conceptId: string): Promise<Uint8Array | null>;
}

export function isEnrolFromPhotos(req: EnrolRequest): req is EnrolFromPhotos {
  return 'photos' in req;
}
