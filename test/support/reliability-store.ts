/**
 * What the crash-test writer (reliability-writer.ts, a child process) and the test that kills it share: how the
 * store is opened, the real embeddings it writes, and the line protocol by which it acknowledges writes.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import type { ConceptView } from '@familiar/contracts';
import { base64ToFloat32, float32ToBase64, type MemoryOptions } from '@familiar/memory';

/** Small enough that a lane's face gallery switches to HNSW after a dozen enrolments, so index caches are written and killed too. */
const HNSW_ABOVE = 24;

/** How both the writer and the verifier open a store: the runtime's layout, HNSW early, sightings flushed fast. */
export function memoryOptions(): MemoryOptions {
  return { concepts: { hnswAbove: HNSW_ABOVE }, config: { sightingFlushMs: 10, sightingUpdatePersistMs: 100 } };
}

/** The write paths the kill test spreads its kills over. */
export const WRITE_PATHS = ['enrol', 'update', 'forget', 'sighting', 'trigger', 'index'] as const;
export type WritePath = (typeof WRITE_PATHS)[number];

/** Real embeddings (computed by the models from the shared photos), one set per embedding space. */
export interface Seeds {
  face: Float32Array[];
  object: Float32Array[];
}

export async function saveSeeds(file: string, seeds: Seeds): Promise<void> {
  await writeFile(file, JSON.stringify({ face: seeds.face.map(float32ToBase64), object: seeds.object.map(float32ToBase64) }));
}

export async function loadSeeds(file: string): Promise<Seeds> {
  const raw = JSON.parse(await readFile(file, 'utf8')) as { face: string[]; object: string[] };
  return { face: raw.face.map((b) => base64ToFloat32(b)!), object: raw.object.map((b) => base64ToFloat32(b)!) };
}

/** A real embedding moved by a little noise and renormalised: every view unique, still a realistic vector. */
export function jitter(v: Float32Array, rand: () => number, amount = 0.05): Float32Array {
  const out = new Float32Array(v.length);
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    out[i] = v[i]! + (rand() - 0.5) * 2 * amount * Math.sqrt(3 / v.length);
    n += out[i]! * out[i]!;
  }
  n = Math.sqrt(n);
  for (let i = 0; i < v.length; i++) out[i]! /= n;
  return out;
}

/** sha256 over a concept's views (ids, spaces, vector bytes) in order: equal digests mean bit-identical views. */
export function viewsDigest(views: readonly Pick<ConceptView, 'id' | 'space' | 'vector'>[]): string {
  const h = createHash('sha256');
  for (const v of views) {
    h.update(`${v.id}/${v.space}/`);
    h.update(new Uint8Array(v.vector.buffer, v.vector.byteOffset, v.vector.byteLength));
  }
  return h.digest('hex');
}

/** What the writer found when it opened the store (after the previous writer was killed), for the test to check. */
export interface StoreState {
  /** Files that failed their integrity check, per part (must all be 0: nothing half-written may load). */
  corrupt: { concepts: number; sightings: number; triggers: number };
  skippedViews: number;
  /** Torn sightings lines skipped (at most the one being written at the kill). */
  droppedLines: number;
  tempFilesRemoved: number;
  /** A forget journal was there: a forget was interrupted and the open finished it. */
  forgetResumed: boolean;
  concepts: { id: string; name: string; context: string; views: number; digest: string }[];
  sightings: { id: string; conceptId: string | null; open: boolean }[];
  triggers: { id: string; conceptId: string; once: boolean }[];
  /** How the face index came to be, and whether every face view finds itself as the top hit. */
  index: { origin: string | null; kind: 'exact' | 'hnsw'; checked: number; mismatches: number };
}

/**
 * One line of the writer's stdout. `S` reports the store as opened, `R` says writing starts, `B` is written
 * before a write starts and `A` once its promise resolved (the write is durable: that is the acknowledgement).
 * Pipes are synchronous on Linux, so a line written before SIGKILL is never lost.
 */
export type WriterLine =
  | ({ t: 'S' } & StoreState)
  | { t: 'R' }
  | { t: 'B'; op: WritePath; info: Record<string, unknown> }
  | { t: 'A'; op: WritePath; info: Record<string, unknown> };
