import { createHash } from 'node:crypto';
import { FamiliarError, type EmbeddingSpace, type ViewHit } from '@familiar/contracts';
import { HnswIndex, type HnswParams } from './hnsw-index.ts';
import { assertDim, assertIndexDim, assertK, ExactIndex, type VectorIndex } from './vector-index.ts';

/** What a gallery entry points back to. The vector is shared with the concept, not copied. */
export interface GalleryEntry {
  conceptId: string;
  viewId: string;
  negative: boolean;
  vector: Float32Array;
}

/** How a gallery's index came to be at open. */
export type IndexOrigin = 'exact' | 'hnsw-loaded' | 'hnsw-built';

export interface GalleryOptions {
  /** Switch to HNSW when more than this many views are indexed. */
  hnswAbove: number;
  hnsw: HnswParams;
  /** Fixed dimension of the space; otherwise the first vector decides (and an empty gallery forgets it). */
  dim?: number;
}

/** Caller data stored with a persisted HNSW index: how labels map back to views, and what they held. */
interface CacheExtra {
  labels: Record<string, number>;
  contentSha256: string;
}

// Switching back to exact search happens a little below the threshold so a gallery hovering around it
// does not rebuild on every add/remove.
const HYSTERESIS = 0.9;
const MAX_LABEL = 2 ** 32 - 1;

function entryKey(conceptId: string, viewId: string): string {
  return `${conceptId}/${viewId}`;
}

/**
 * The searchable views of one embedding space: a {@link VectorIndex} plus the label ↔ view mapping.
 * Uses exact search up to `hnswAbove` views and HNSW above, switching automatically.
 */
export class SpaceGallery {
  readonly space: EmbeddingSpace;
  readonly #options: GalleryOptions;
  #dim: number | undefined;
  #index: VectorIndex | undefined;
  readonly #entries = new Map<number, GalleryEntry>();
  readonly #labelOf = new Map<string, number>();
  #nextLabel = 0;
  /** Changed since the persisted HNSW cache was loaded or saved. */
  #changed = false;

  constructor(space: EmbeddingSpace, options: GalleryOptions) {
    if (options.dim !== undefined) assertIndexDim(options.dim);
    this.space = space;
    this.#options = options;
    this.#dim = options.dim;
  }

  /** The dimension of the space, once known. */
  get dim(): number | undefined {
    return this.#dim;
  }

  get size(): number {
    return this.#entries.size;
  }

  get kind(): 'exact' | 'hnsw' {
    return this.#index?.kind ?? 'exact';
  }

  /** True when a persisted HNSW cache no longer matches this gallery. */
  get changed(): boolean {
    return this.#changed;
  }

  /** Throws INDEX_DIM_MISMATCH unless `v` fits this space (any dimension while the space is empty and unfixed). */
  checkVector(v: Float32Array): void {
    if (this.#dim !== undefined) assertDim(v, this.#dim);
  }

  /** Indexes one view. The vector must have passed {@link checkVector}. */
  add(entry: GalleryEntry): void {
    this.checkVector(entry.vector);
    const key = entryKey(entry.conceptId, entry.viewId);
    if (this.#labelOf.has(key)) throw new FamiliarError('INTERNAL', `view ${key} is already indexed`);
    if (this.#nextLabel > MAX_LABEL) this.#relabel();
    this.#dim ??= entry.vector.length;
    const label = this.#nextLabel++;
    this.#entries.set(label, entry);
    this.#labelOf.set(key, label);
    this.#changed = true;
    if (this.#index === undefined || (this.#index.kind === 'exact' && this.size > this.#options.hnswAbove)) this.#rebuild();
    else this.#index.add(label, entry.vector);
  }

  /** Unindexes one view; false when it was not indexed. */
  remove(conceptId: string, viewId: string): boolean {
    const key = entryKey(conceptId, viewId);
    const label = this.#labelOf.get(key);
    if (label === undefined) return false;
    this.#labelOf.delete(key);
    this.#entries.delete(label);
    this.#changed = true;
    if (this.size === 0) {
      this.#index = undefined;
      this.#dim = this.#options.dim;
    } else if (this.#index?.kind === 'hnsw' && this.size < Math.floor(this.#options.hnswAbove * HYSTERESIS)) {
      this.#rebuild();
    } else {
      this.#index?.remove(label);
    }
    return true;
  }

  /** The k best views for each query, best first. */
  search(queries: readonly Float32Array[], k: number): ViewHit[][] {
    assertK(k);
    if (!Array.isArray(queries)) throw new FamiliarError('INPUT_INVALID', 'queries must be an array of Float32Array');
    if (this.#index === undefined || this.#dim === undefined) {
      for (const q of queries) if (!(q instanceof Float32Array)) throw new FamiliarError('INPUT_INVALID', 'queries must be Float32Array');
      return queries.map(() => []);
    }
    return this.#index.searchBatch(queries, k).map((hits) =>
      hits.map((hit) => {
        const e = this.#entries.get(hit.label)!;
        return { conceptId: e.conceptId, viewId: e.viewId, similarity: hit.similarity, negative: e.negative };
      }),
    );
  }

  /**
   * Fills an empty gallery at open. Above `hnswAbove` views it adopts the persisted HNSW index in
   * `cacheFile` when that matches these views exactly, and builds one otherwise. Returns how the index
   * came to be and, when a cache was present but unusable, why.
   */
  async load(entries: readonly GalleryEntry[], cacheFile: string): Promise<{ origin: IndexOrigin; cacheProblem?: FamiliarError }> {
    if (this.size > 0) throw new FamiliarError('INTERNAL', 'load() needs an empty gallery');
    for (const entry of entries) {
      this.checkVector(entry.vector);
      this.#dim ??= entry.vector.length;
      const label = this.#nextLabel++;
      this.#entries.set(label, entry);
      this.#labelOf.set(entryKey(entry.conceptId, entry.viewId), label);
    }
    if (this.size === 0) return { origin: 'exact' };
    let cacheProblem: FamiliarError | undefined;
    if (this.size > this.#options.hnswAbove) {
      try {
        const loaded = await HnswIndex.load(cacheFile, this.#dim!, this.#options.hnsw);
        if (loaded !== undefined) {
          if (this.#adoptCache(loaded.index, loaded.extra)) return { origin: 'hnsw-loaded' };
          cacheProblem = new FamiliarError('STORE_CORRUPT', `${cacheFile}: stale (the views changed since it was saved)`, { details: { reason: 'mismatch' } });
        }
      } catch (err) {
        cacheProblem = err instanceof FamiliarError ? err : new FamiliarError('STORE_CORRUPT', String(err), { cause: err });
      }
    }
    this.#rebuild();
    this.#changed = true;
    const origin: IndexOrigin = this.kind === 'hnsw' ? 'hnsw-built' : 'exact';
    return cacheProblem === undefined ? { origin } : { origin, cacheProblem };
  }

  /** Persists the HNSW index as a cache. Only call when {@link kind} is 'hnsw'. */
  async saveCache(cacheFile: string): Promise<void> {
    const index = this.#index;
    if (!(index instanceof HnswIndex)) throw new FamiliarError('INTERNAL', 'only an HNSW gallery has a cache');
    const labels: Record<string, number> = {};
    for (const [key, label] of this.#labelOf) labels[key] = label;
    const extra: CacheExtra = { labels, contentSha256: this.#contentSha256(this.#labelOf) };
    await index.save(cacheFile, extra);
    this.#changed = false;
  }

  /** Whether the in-memory HNSW index still holds vectors of removed views (which must not reach disk). */
  get holdsDeleted(): boolean {
    return this.#index instanceof HnswIndex && this.#index.deletedCount > 0;
  }

  #adoptCache(index: HnswIndex, extra: unknown): boolean {
    const x = extra as Partial<CacheExtra> | null;
    if (typeof x !== 'object' || x === null || typeof x.labels !== 'object' || x.labels === null || typeof x.contentSha256 !== 'string') return false;
    const labels = new Map<string, number>();
    for (const key of this.#labelOf.keys()) {
      const label = (x.labels as Record<string, unknown>)[key];
      if (typeof label !== 'number' || !index.has(label)) return false;
      labels.set(key, label);
    }
    if (labels.size !== index.size || this.#contentSha256(labels) !== x.contentSha256) return false;
    const entries = new Map<number, GalleryEntry>();
    for (const [key, label] of labels) entries.set(label, this.#entries.get(this.#labelOf.get(key)!)!);
    this.#entries.clear();
    this.#labelOf.clear();
    let next = 0;
    for (const [label, entry] of entries) {
      this.#entries.set(label, entry);
      this.#labelOf.set(entryKey(entry.conceptId, entry.viewId), label);
      next = Math.max(next, label + 1);
    }
    this.#nextLabel = next;
    this.#index = index;
    this.#changed = false;
    return true;
  }

  /** sha256 over every view's key, label and vector bytes, in key order: a cache is valid only for exactly this. */
  #contentSha256(labels: ReadonlyMap<string, number>): string {
    const hash = createHash('sha256');
    const keys = [...labels.keys()].sort();
    const labelBytes = Buffer.alloc(4);
    for (const key of keys) {
      const label = labels.get(key)!;
      const entry = this.#entries.get(this.#labelOf.get(key)!)!;
      labelBytes.writeUInt32LE(label);
      hash.update(key).update('\0').update(labelBytes);
      hash.update(new Uint8Array(entry.vector.buffer, entry.vector.byteOffset, entry.vector.byteLength));
      hash.update(entry.negative ? '-' : '+');
    }
    return hash.digest('hex');
  }

  /** Recreates the index (exact or HNSW by size) from the entries. */
  #rebuild(): void {
    const dim = this.#dim!;
    const index: VectorIndex =
      this.size > this.#options.hnswAbove ? new HnswIndex(dim, this.#options.hnsw, Math.max(1024, this.size * 2)) : new ExactIndex(dim, Math.max(64, this.size * 2));
    for (const [label, entry] of this.#entries) index.add(label, entry.vector);
    this.#index = index;
  }

  /** Renumbers labels densely from 0 (only after 2^32 adds in one session). */
  #relabel(): void {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    this.#labelOf.clear();
    entries.forEach((entry, label) => {
      this.#entries.set(label, entry);
      this.#labelOf.set(entryKey(entry.conceptId, entry.viewId), label);
    });
    this.#nextLabel = entries.length;
    this.#changed = true;
    if (this.#index !== undefined) this.#rebuild();
  }
}
