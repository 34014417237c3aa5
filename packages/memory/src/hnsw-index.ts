import { createReadStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { StoreConfig } from '@familiar/config';
import { corruptError, fsyncDir, fsyncFile, readVerified, sha256Hex, storeIoError, tempPathFor, writeVerified, type EnvelopeSpec } from './atomic.ts';
import { assertDim, assertIndexDim, assertK, assertLabel, assertVector, type VectorHit, type VectorIndex } from './vector-index.ts';

// hnswlib-node is a CommonJS addon (module.exports = the native binding): require it rather than
// relying on ESM named-export detection.
const hnswlib = createRequire(import.meta.url)('hnswlib-node') as typeof import('hnswlib-node');
type NativeHnsw = import('hnswlib-node').HierarchicalNSW;

/** Graph parameters of an {@link HnswIndex}. */
export interface HnswParams {
  /** Graph degree. */
  m: number;
  /** Beam width while inserting. */
  efConstruction: number;
  /** Beam width while searching (raised to k when k is larger). */
  efSearch: number;
}

const STORE_DEFAULTS = StoreConfig.parse({});

/** The store section's defaults: M 16, efConstruction 200, efSearch 256. */
const DEFAULT_HNSW_PARAMS: Readonly<HnswParams> = Object.freeze({
  m: STORE_DEFAULTS.hnswM,
  efConstruction: STORE_DEFAULTS.hnswEfConstruction,
  efSearch: STORE_DEFAULTS.hnswEfSearch,
});

const META_SPEC: EnvelopeSpec = { format: 'familiar.hnsw-meta', version: 1 };
/** Fixed so the same inserts build the same graph (reproducible answers across rebuilds). */
const RANDOM_SEED = 100;
/** Deleted entries are compacted away once they outnumber the live ones (and at least this many). */
const COMPACT_MIN_DELETED = 1024;

/** What the sidecar `<index>.meta` records; a cached index is used only when all of it matches. */
interface HnswMeta {
  dim: number;
  space: 'ip';
  m: number;
  efConstruction: number;
  /** Elements in the file, deleted ones included (hnswlib's getCurrentCount). */
  count: number;
  /** Labels marked deleted in the file. */
  deleted: number[];
  /** sha256 of the sorted live labels as little-endian uint32. */
  labelsSha256: string;
  fileBytes: number;
  fileSha256: string;
  /** Opaque caller data stored with the index (e.g. how labels map to the caller's records). */
  extra: unknown;
}

/** A loaded index plus the caller data saved with it. */
export interface LoadedHnsw {
  index: HnswIndex;
  extra: unknown;
}

/**
 * Approximate nearest-neighbour search with hnswlib (inner product on unit vectors = cosine). Wraps the
 * addon's pitfalls: labels are validated before hnswlib can wrap them to uint32, capacity grows by
 * itself, deleted labels are tracked (hnswlib keeps counting them), ef is re-applied after loading,
 * and save/load are atomic and verified (hnswlib would happily read a file of another dimension).
 */
export class HnswIndex implements VectorIndex {
  readonly kind = 'hnsw' as const;
  readonly dim: number;
  readonly params: Readonly<HnswParams>;
  #h: NativeHnsw;
  readonly #live = new Set<number>();
  readonly #deleted = new Set<number>();
  #ef = 0;

  constructor(dim: number, params: Partial<HnswParams> = {}, initialCapacity = 1024) {
    assertIndexDim(dim);
    this.dim = dim;
    this.params = Object.freeze({ ...DEFAULT_HNSW_PARAMS, ...params });
    this.#h = this.#create(Math.max(16, Math.floor(initialCapacity)));
  }

  get size(): number {
    return this.#live.size;
  }

  /** Entries marked deleted but still occupying the graph. */
  get deletedCount(): number {
    return this.#deleted.size;
  }

  has(label: number): boolean {
    return this.#live.has(label);
  }

  add(label: number, v: Float32Array): void {
    assertLabel(label);
    assertVector(v, this.dim);
    const point = Array.from(v);
    if (this.#live.has(label) || this.#deleted.has(label)) {
      // Re-adding an existing label (even a deleted one) updates it in place and unmarks it.
      this.#h.addPoint(point, label);
      this.#deleted.delete(label);
      this.#live.add(label);
      return;
    }
    const used = this.#live.size + this.#deleted.size;
    if (used >= this.#h.getMaxElements()) this.#h.resizeIndex(Math.max(16, this.#h.getMaxElements() * 2));
    this.#h.addPoint(point, label);
    this.#live.add(label);
  }

  remove(label: number): boolean {
    if (!this.#live.has(label)) return false;
    this.#h.markDelete(label);
    this.#live.delete(label);
    this.#deleted.add(label);
    if (this.#deleted.size >= COMPACT_MIN_DELETED && this.#deleted.size > this.#live.size) this.compact();
    return true;
  }

  /** Rebuilds the graph from the live entries only, dropping deleted ones (memory and their vectors). */
  compact(): void {
    if (this.#deleted.size === 0) return;
    const fresh = this.#create(Math.max(16, this.#live.size * 2));
    for (const label of this.#live) fresh.addPoint(this.#h.getPoint(label), label);
    this.#h = fresh;
    this.#deleted.clear();
  }

  search(q: Float32Array, k: number): VectorHit[] {
    return this.searchBatch([q], k)[0]!;
  }

  searchBatch(qs: readonly Float32Array[], k: number): VectorHit[][] {
    assertK(k);
    for (const q of qs) assertDim(q, this.dim);
    const kk = Math.min(k, this.#live.size);
    if (kk === 0) return qs.map(() => []);
    const ef = Math.max(this.params.efSearch, kk);
    if (ef !== this.#ef) {
      this.#h.setEf(ef);
      this.#ef = ef;
    }
    return qs.map((q) => {
      const res = this.#h.searchKnn(Array.from(q), kk);
      const hits: VectorHit[] = res.neighbors.map((label, i) => ({ label, similarity: 1 - res.distances[i]! }));
      return hits.sort((a, b) => b.similarity - a.similarity);
    });
  }

  /**
   * Persists the index to `file` plus a verified sidecar `<file>.meta` holding its parameters, label
   * set, the file's checksum and `extra`. Both are replaced atomically; a crash in between leaves a
   * pair that {@link HnswIndex.load} rejects, never one it misreads.
   */
  async save(file: string, extra: unknown = null): Promise<void> {
    const tmp = tempPathFor(file);
    // hnswlib writes in place and takes no lock; the sync write captures one consistent state since
    // nothing else runs on this thread meanwhile.
    let meta: Omit<HnswMeta, 'fileBytes' | 'fileSha256'>;
    try {
      this.#h.writeIndexSync(tmp);
      meta = {
        dim: this.dim,
        space: 'ip',
        m: this.params.m,
        efConstruction: this.params.efConstruction,
        count: this.#h.getCurrentCount(),
        deleted: [...this.#deleted],
        labelsSha256: labelSetSha256(this.#live),
        extra,
      };
      const { bytes, sha256 } = await hashFile(tmp);
      await fsyncFile(tmp);
      await rename(tmp, file);
      await fsyncDir(path.dirname(file));
      await writeVerified(metaPath(file), META_SPEC, { ...meta, fileBytes: bytes, fileSha256: sha256 } satisfies HnswMeta);
    } catch (cause) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw storeIoError('save index', file, cause);
    }
  }

  /**
   * Loads an index saved by {@link save}. Resolves undefined when the index or its meta is missing;
   * rejects with STORE_CORRUPT when anything disagrees (dimension, parameters, checksum, label set),
   * in which case the caller should rebuild from its authoritative data.
   */
  static async load(file: string, dim: number, params: Partial<HnswParams> = {}): Promise<LoadedHnsw | undefined> {
    const p: HnswParams = { ...DEFAULT_HNSW_PARAMS, ...params };
    const raw = await readVerified(metaPath(file), META_SPEC);
    if (raw === undefined) return undefined;
    const meta = parseMeta(raw, metaPath(file));
    if (meta.dim !== dim) throw corruptError(file, 'mismatch', `index dimension ${meta.dim}, expected ${dim}`);
    if (meta.m !== p.m || meta.efConstruction !== p.efConstruction) throw corruptError(file, 'mismatch', 'index built with other HNSW parameters');
    let actual: { bytes: number; sha256: string };
    try {
      actual = await hashFile(file);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw storeIoError('read', file, cause);
    }
    if (actual.bytes !== meta.fileBytes || actual.sha256 !== meta.fileSha256) throw corruptError(file, 'checksum', 'index file does not match its meta');
    const index = new HnswIndex(dim, p, 16);
    const h = new hnswlib.HierarchicalNSW('ip', dim);
    try {
      h.readIndexSync(file);
    } catch (cause) {
      throw corruptError(file, 'parse', `hnswlib cannot read the index: ${(cause as Error).message}`);
    }
    if (h.getCurrentCount() !== meta.count) throw corruptError(file, 'mismatch', 'element count differs from meta');
    const deleted = new Set(meta.deleted);
    for (const label of h.getIdsList()) {
      if (deleted.has(label)) index.#deleted.add(label);
      else index.#live.add(label);
    }
    if (index.#deleted.size !== deleted.size || labelSetSha256(index.#live) !== meta.labelsSha256) {
      throw corruptError(file, 'mismatch', 'label set differs from meta');
    }
    index.#h = h;
    index.#ef = 0;
    return { index, extra: meta.extra };
  }

  /** Deletes a saved index and its meta (e.g. because it holds vectors of a forgotten concept). */
  static async remove(file: string): Promise<void> {
    try {
      await rm(metaPath(file), { force: true });
      await rm(file, { force: true });
    } catch (cause) {
      throw storeIoError('delete', file, cause);
    }
    await fsyncDir(path.dirname(file));
  }

  #create(capacity: number): NativeHnsw {
    const h = new hnswlib.HierarchicalNSW('ip', this.dim);
    h.initIndex({ maxElements: capacity, m: this.params.m, efConstruction: this.params.efConstruction, randomSeed: RANDOM_SEED });
    this.#ef = 0;
    return h;
  }
}

function metaPath(file: string): string {
  return `${file}.meta`;
}

function labelSetSha256(labels: Iterable<number>): string {
  const sorted = Uint32Array.from(labels).sort();
  const bytes = Buffer.alloc(sorted.length * 4);
  sorted.forEach((label, i) => bytes.writeUInt32LE(label, i * 4));
  return sha256Hex(bytes);
}

async function hashFile(file: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).byteLength;
  }
  return { bytes, sha256: hash.digest('hex') };
}

function parseMeta(raw: unknown, file: string): HnswMeta {
  const m = raw as Partial<HnswMeta> | null;
  const ok =
    typeof m === 'object' &&
    m !== null &&
    Number.isInteger(m.dim) &&
    m.space === 'ip' &&
    Number.isInteger(m.m) &&
    Number.isInteger(m.efConstruction) &&
    Number.isInteger(m.count) &&
    Array.isArray(m.deleted) &&
    m.deleted.every((l) => Number.isInteger(l)) &&
    typeof m.labelsSha256 === 'string' &&
    Number.isInteger(m.fileBytes) &&
    typeof m.fileSha256 === 'string';
  if (!ok) throw corruptError(file, 'schema', 'index meta has missing or mistyped fields');
  return m as HnswMeta;
}
