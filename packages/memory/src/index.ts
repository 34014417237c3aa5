export * from './atomic.ts';
export * from './vector-index.ts';
export * from './hnsw-index.ts';
export type { ViewHit, IndexOrigin } from './gallery.ts';
export { CONCEPT_LIMITS, type NewConcept, type NewConceptView } from './concept-codec.ts';
export * from './concept-store.ts';
export * from './sightings.ts';
export * from './log.ts';
