import { randomUUID } from 'node:crypto';
import { CONCEPT_CONTEXT_MAX, CONCEPT_KINDS, CONCEPT_NAME_MAX, EMBEDDING_SPACES, FamiliarError, type Concept, type ConceptKind, type ConceptView, type EmbeddingSpace, type NewConceptView, type Thresholds } from '@familiar/contracts';
import { base64ToFloat32, corruptError, float32ToBase64 } from './atomic.ts';

/** A concept to enrol: id, timestamps and view ids are filled in when absent. */
export interface NewConcept {
  id?: string;
  name: string;
  kind: ConceptKind;
  context?: string;
  views?: readonly NewConceptView[];
  thresholds?: Thresholds;
  createdAt?: number;
}

const CONCEPT_LIMITS = Object.freeze({
  maxNameLength: CONCEPT_NAME_MAX,
  maxContextLength: CONCEPT_CONTEXT_MAX,
  maxOriginLength: 500,
  maxViewsPerConcept: 10_000,
  maxDim: 65_536,
  /** Allowed |‖v‖ − 1|: embedders normalise in float32, so anything further off is a bug upstream. */
  unitTolerance: 1e-3,
});

/** Ids double as file names: no path separators, dots or whitespace. */
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

function invalid(message: string, details?: Record<string, unknown>): FamiliarError {
  return new FamiliarError('INPUT_INVALID', message, details === undefined ? undefined : { details });
}

export function checkId(id: unknown, what: string): string {
  if (typeof id !== 'string' || !ID_RE.test(id)) throw invalid(`${what} must match ${ID_RE.source}, got ${JSON.stringify(id)}`);
  return id;
}

/** A trimmed, non-empty name of bounded length. */
export function checkName(name: unknown): string {
  if (typeof name !== 'string') throw invalid('name must be a string');
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > CONCEPT_LIMITS.maxNameLength) throw invalid(`name must have 1..${CONCEPT_LIMITS.maxNameLength} characters`);
  return trimmed;
}

function checkKind(kind: unknown): ConceptKind {
  if (!CONCEPT_KINDS.includes(kind as ConceptKind)) throw invalid(`kind must be one of ${CONCEPT_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
  return kind as ConceptKind;
}

export function checkContext(context: unknown): string {
  if (typeof context !== 'string' || context.length > CONCEPT_LIMITS.maxContextLength) throw invalid(`context must be a string of at most ${CONCEPT_LIMITS.maxContextLength} characters`);
  return context;
}

function checkTime(t: unknown, what: string): number {
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) throw invalid(`${what} must be a non-negative number of epoch milliseconds`);
  return t;
}

export function checkSpace(space: unknown): EmbeddingSpace {
  if (!EMBEDDING_SPACES.includes(space as EmbeddingSpace)) throw invalid(`space must be one of ${EMBEDDING_SPACES.join(', ')}, got ${JSON.stringify(space)}`);
  return space as EmbeddingSpace;
}

export function checkThresholds(t: unknown): Thresholds {
  if (typeof t !== 'object' || t === null || Array.isArray(t)) throw invalid('thresholds must be an object keyed by embedding space');
  const out: Thresholds = {};
  for (const [space, value] of Object.entries(t)) {
    checkSpace(space);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < -1 || value > 1) throw invalid(`threshold for ${space} must be a number in [-1, 1]`);
    out[space as EmbeddingSpace] = value;
  }
  return out;
}

/** Throws INPUT_INVALID unless `v` is a finite, unit-length Float32Array. */
export function checkUnitVector(v: unknown): Float32Array {
  if (!(v instanceof Float32Array)) throw invalid('view vector must be a Float32Array');
  if (v.length === 0 || v.length > CONCEPT_LIMITS.maxDim) throw invalid(`view vector must have 1..${CONCEPT_LIMITS.maxDim} components`);
  let norm = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (!Number.isFinite(x)) throw invalid(`view vector component ${i} is not finite`);
    norm += x * x;
  }
  if (Math.abs(Math.sqrt(norm) - 1) > CONCEPT_LIMITS.unitTolerance) throw invalid(`view vector must be unit length (norm ${Math.sqrt(norm).toFixed(4)})`);
  return v;
}

/** Validates a view to enrol; the vector is copied so later changes by the caller cannot reach the store. */
export function toView(input: NewConceptView, now: number): ConceptView {
  if (typeof input !== 'object' || input === null) throw invalid('a view must be an object');
  const origin = input.origin;
  if (typeof origin !== 'string' || origin.length > CONCEPT_LIMITS.maxOriginLength) throw invalid(`view origin must be a string of at most ${CONCEPT_LIMITS.maxOriginLength} characters`);
  if (input.negative !== undefined && typeof input.negative !== 'boolean') throw invalid('view negative must be a boolean');
  const view: ConceptView = {
    id: input.id === undefined ? randomUUID() : checkId(input.id, 'view id'),
    space: checkSpace(input.space),
    vector: Float32Array.from(checkUnitVector(input.vector)),
    origin,
    addedAt: input.addedAt === undefined ? now : checkTime(input.addedAt, 'view addedAt'),
  };
  if (input.negative === true) view.negative = true;
  return view;
}

/** Throws INPUT_INVALID when view ids repeat or a concept has too many views. */
export function checkViewSet(views: readonly ConceptView[]): void {
  if (views.length > CONCEPT_LIMITS.maxViewsPerConcept) throw invalid(`a concept may have at most ${CONCEPT_LIMITS.maxViewsPerConcept} views`);
  const seen = new Set<string>();
  for (const v of views) {
    if (seen.has(v.id)) throw invalid(`duplicate view id ${v.id}`);
    seen.add(v.id);
  }
}

/** Validates a concept to enrol and fills in ids and timestamps. */
export function toConcept(input: NewConcept, now: number): Concept {
  if (typeof input !== 'object' || input === null) throw invalid('a concept must be an object');
  const createdAt = input.createdAt === undefined ? now : checkTime(input.createdAt, 'createdAt');
  if (input.views !== undefined && !Array.isArray(input.views)) throw invalid('views must be an array');
  const views = (input.views ?? []).map((v) => toView(v, now));
  checkViewSet(views);
  return {
    id: input.id === undefined ? randomUUID() : checkId(input.id, 'concept id'),
    name: checkName(input.name),
    kind: checkKind(input.kind),
    context: input.context === undefined ? '' : checkContext(input.context),
    createdAt,
    updatedAt: Math.max(createdAt, now),
    views,
    thresholds: input.thresholds === undefined ? {} : checkThresholds(input.thresholds),
  };
}

/** The on-disk shape of a view: the vector as base64 of little-endian float32. */
interface StoredView {
  id: string;
  space: EmbeddingSpace;
  dim: number;
  vector: string;
  origin: string;
  negative?: true;
  addedAt: number;
}

/** The payload of `concepts/<id>.json`. */
export function encodeConcept(c: Concept): unknown {
  return {
    id: c.id,
    name: c.name,
    kind: c.kind,
    context: c.context,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
    thresholds: c.thresholds,
    views: c.views.map(
      (v): StoredView => ({
        id: v.id,
        space: v.space,
        dim: v.vector.length,
        vector: float32ToBase64(v.vector),
        origin: v.origin,
        ...(v.negative === true ? { negative: true as const } : {}),
        addedAt: v.addedAt,
      }),
    ),
  };
}

/** Parses a verified payload back into a concept; STORE_CORRUPT (reason 'schema') when anything is off. */
export function decodeConcept(payload: unknown, file: string): Concept {
  try {
    const p = payload as Record<string, unknown>;
    if (typeof p !== 'object' || p === null || !Array.isArray(p.views)) throw invalid('not a concept object');
    const views = p.views.map((raw: unknown): ConceptView => {
      const s = raw as Partial<StoredView>;
      if (typeof s !== 'object' || s === null || typeof s.vector !== 'string') throw invalid('view without vector');
      const vector = base64ToFloat32(s.vector);
      if (vector === undefined || vector.length !== s.dim) throw invalid(`view ${String(s.id)} vector length differs from its dim`);
      const view: ConceptView = {
        id: checkId(s.id, 'view id'),
        space: checkSpace(s.space),
        vector: checkUnitVector(vector),
        origin: typeof s.origin === 'string' ? s.origin : '',
        addedAt: checkTime(s.addedAt, 'view addedAt'),
      };
      if (s.negative === true) view.negative = true;
      return view;
    });
    checkViewSet(views);
    return {
      id: checkId(p.id, 'concept id'),
      name: checkName(p.name),
      kind: checkKind(p.kind),
      context: checkContext(p.context),
      createdAt: checkTime(p.createdAt, 'createdAt'),
      updatedAt: checkTime(p.updatedAt, 'updatedAt'),
      views,
      thresholds: checkThresholds(p.thresholds),
    };
  } catch (err) {
    throw corruptError(file, 'schema', err instanceof Error ? err.message : String(err));
  }
}
