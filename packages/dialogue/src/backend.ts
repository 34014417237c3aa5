import type { Box, ConceptKind, ConceptSummary, Match, RgbImage, SceneEvent } from '@familiar/contracts';

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
 * server passes to the client unchanged. Heavy work (recognition, enrolment) must not block the event loop
 * for long: the server and every other client share it.
 */
export interface DialogueBackend {
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
}

export function isEnrolFromPhotos(req: EnrolRequest): req is EnrolFromPhotos {
  return 'photos' in req;
}
