import type { ConceptSummary, SceneChangeEvent, SceneEvent, SnapshotResult, WireCameraStats, WireConcept, WireLastSeen, WireSceneEntity } from '@familiar/contracts';
import type { CameraStats, LastSeen, Snapshot, SnapshotEntity } from './backend.ts';
import { clientSafeMessage } from './redact.ts';

/** Internal camelCase records → the protocol's snake_case payloads. */
export function toWireConcept(c: ConceptSummary): WireConcept {
  return {
    id: c.id,
    name: c.name,
    kind: c.kind,
    context: c.context,
    created_at: c.createdAt,
    updated_at: c.updatedAt,
    view_count: c.viewCount,
    thresholds: { ...c.thresholds },
  };
}

export function toWireLastSeen(s: LastSeen): WireLastSeen {
  return { camera_id: s.cameraId, room: s.room, at: s.at, box: s.box };
}

export function toWireSceneEvent(e: SceneEvent): SceneChangeEvent {
  return {
    kind: 'scene',
    change: e.type,
    camera_id: e.cameraId,
    room: e.room,
    at: e.at,
    concept_id: e.conceptId,
    name: e.name,
    concept_kind: e.kind,
    box: e.box,
    confidence: e.confidence,
    ...(e.trackId !== undefined && { track_id: e.trackId }),
  };
}

export function toWireCameraStats(c: CameraStats): WireCameraStats {
  return {
    id: c.id,
    room: c.room,
    state: c.state,
    fps: c.fps,
    frames_captured: c.counters.captured,
    frames_processed: c.counters.processed,
    frames_dropped: c.counters.dropped,
    last_frame_at: c.lastFrameAt,
    // A camera's error may name its URI (rtsp://user:pass@…) or a file path: neither goes to clients as is.
    last_error: c.lastError === null ? null : clientSafeMessage(c.lastError),
  };
}

function toWireSceneEntity(e: SnapshotEntity): WireSceneEntity {
  return {
    ...(e.trackId !== undefined && { track_id: e.trackId }),
    concept_id: e.conceptId,
    name: e.name,
    concept_kind: e.kind,
    box: { xmin: e.box.xmin, ymin: e.box.ymin, xmax: e.box.xmax, ymax: e.box.ymax },
    confidence: e.confidence,
  };
}

export function toWireSnapshot(s: Snapshot): SnapshotResult {
  return {
    camera_id: s.cameraId,
    room: s.room,
    captured_at: s.capturedAt,
    width: s.width,
    height: s.height,
    jpeg: Buffer.from(s.jpeg.buffer, s.jpeg.byteOffset, s.jpeg.byteLength).toString('base64'),
    entities: s.entities.map(toWireSceneEntity),
  };
}
