import type { ConceptSummary, SceneChangeEvent, SceneEvent, WireConcept, WireLastSeen } from '@familiar/contracts';
import type { LastSeen } from './backend.ts';

/** Internal camelCase records → the protocol's snake_case payloads. */
export function toWireConcept(c: ConceptSummary): WireConcept {
  return { id: c.id, name: c.name, kind: c.kind, context: c.context, created_at: c.createdAt, updated_at: c.updatedAt, view_count: c.viewCount };
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
  };
}
