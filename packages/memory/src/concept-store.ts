import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { conceptSummary, EMBEDDING_SPACES, FamiliarError, silentLogger, type Concept, type ConceptKind, type ConceptSummary, type ConceptView, type EmbeddingSpace, type Logger, type NewConceptView, type ViewHit } from '@familiar/contracts';
import { StoreConfig } from '@familiar/config';
import { cleanTempFiles, fsyncDir, isQuarantineOf, quarantineFile, readVerified, removeFileDurable, storeIoError, writeVerified, type EnvelopeSpec } from './atomic.ts';
import {
  checkContext,
  checkId,
  checkName,
  checkSpace,
  checkThresholds,
  checkViewSet,
  decodeConcept,
  encodeConcept,
  toConcept,
  toView,
  type NewConcept,
} from './concept-codec.ts';
import { SpaceGallery, type IndexOrigin } from './gallery.ts';
import { HnswIndex } from './hnsw-index.ts';
import { StoreLock } from './lock.ts';

/** Changes to a concept. `views` replaces all views and cannot be combined with `addViews`/`removeViewIds`. */
export interface ConceptPatch {
  name?: string;
  context?: string;
  /** Replaces all thresholds. */
  thresholds?: Concept['thresholds'];
  views?: readonly NewConceptView[];
  addViews?: readonly NewConceptView[];
  removeViewIds?: readonly string[];
}

export interface ConceptStoreOptions extends Partial<Pick<StoreConfig, 'hnswAbove' | 'hnswM' | 'hnswEfConstruction' | 'hnswEfSearch'>> {
  /** Expected vector dimension per space (from the models); views of another dimension are rejected. */
  dims?: Partial<Record<EmbeddingSpace, number>>;
  /** What to do with a concept file that fails its integrity check: move it aside and open without it (default), or fail. */
  onCorrupt?: 'quarantine' | 'fail';
  log?: Logger;
  /** Clock for timestamps (tests). */
  now?: () => number;
  /** Bound of the writer queue; further writes are rejected with RATE_LIMITED. Default 1024. */
  maxPendingWrites?: number;
  /**
   * Take the store directory's lock (`familiar.lock`) so no other process can open it for writing (default
   * true). Pass false only when the caller holds the lock itself (the {@link Memory} facade does).
   */
  lock?: boolean;
  /**
   * Open a snapshot without the lock, repairing nothing and writing nothing (it may run beside a writer);
   * every change is rejected with STORE_IO. Corrupt files are skipped and listed in `report.skippedFiles`.
   */
  readOnly?: boolean;
}

/** A view that is kept on disk but not searchable because its dimension differs from its space's. */
export interface SkippedView {
  conceptId: string;
  viewId: string;
  space: EmbeddingSpace;
  dim: number;
  expected: number;
}

/** What {@link ConceptStore.open} found and repaired. */
export interface StoreOpenReport {
  concepts: number;
  /** Paths that corrupt files were moved to. */
  quarantined: string[];
  /** Leftover temp files (crash mid-write) that were deleted. */
  tempFilesRemoved: string[];
  indexes: Partial<Record<EmbeddingSpace, IndexOrigin>>;
  skippedViews: SkippedView[];
  /** Read-only opens: corrupt files left in place and not loaded. */
  skippedFiles: string[];
}

const CONCEPT_SPEC: EnvelopeSpec = { format: 'familiar.concept', version: 1 };
const STORE_DEFAULTS = StoreConfig.parse({});

function nameKey(name: string, kind: ConceptKind): string {
  return `${kind}:${name.normalize('NFKC').toLowerCase()}`;
}

/** A copy safe to hand out: arrays and objects are fresh; vectors are shared and must be treated as read-only. */
function cloneConcept(c: Concept): Concept {
  return { ...c, thresholds: { ...c.thresholds }, views: c.views.map((v) => ({ ...v })) };
}

export function notFound(id: string): FamiliarError {
  return new FamiliarError('CONCEPT_NOT_FOUND', `no concept with id ${id}`, { details: { id } });
}

/**
 * The enrolled concepts: one file per concept (`concepts/<id>.json`, written atomically), all of them in
 * memory, and one searchable gallery per embedding space kept in sync with them. Writes go through one
 * queue; when a write's promise resolves, the change is on disk and visible to searches. HNSW indexes are
 * cached under `index/` and rebuilt whenever they are missing, stale or corrupt.
 */
export class ConceptStore {
  readonly dir: string;
  readonly report: StoreOpenReport;
  readonly readOnly: boolean;
  readonly #conceptsDir: string;
  readonly #indexDir: string;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #maxPending: number;
  readonly #dims: Partial<Record<EmbeddingSpace, number>>;
  readonly #concepts = new Map<string, Concept>();
  #revision = 0;
  readonly #names = new Map<string, string>();
  readonly #galleries: Record<EmbeddingSpace, SpaceGallery>;
  #tail: Promise<unknown> = Promise.resolve();
  #pending = 0;
  #closed = false;
  #lock: StoreLock | undefined;

  private constructor(dir: string, options: ConceptStoreOptions) {
    this.dir = dir;
    this.readOnly = options.readOnly === true;
    this.#conceptsDir = path.join(dir, 'concepts');
    this.#indexDir = path.join(dir, 'index');
    this.#log = options.log ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.#maxPending = options.maxPendingWrites ?? 1024;
    this.#dims = options.dims ?? {};
    const hnsw = {
      m: options.hnswM ?? STORE_DEFAULTS.hnswM,
      efConstruction: options.hnswEfConstruction ?? STORE_DEFAULTS.hnswEfConstruction,
      efSearch: options.hnswEfSearch ?? STORE_DEFAULTS.hnswEfSearch,
    };
    const hnswAbove = options.hnswAbove ?? STORE_DEFAULTS.hnswAbove;
    const gallery = (space: EmbeddingSpace): SpaceGallery => {
      const dim = this.#dims[space];
      return new SpaceGallery(space, dim === undefined ? { hnswAbove, hnsw } : { hnswAbove, hnsw, dim });
    };
    this.#galleries = { face: gallery('face'), object: gallery('object'), body: gallery('body') };
    this.report = { concepts: 0, quarantined: [], tempFilesRemoved: [], indexes: {}, skippedViews: [], skippedFiles: [] };
  }

  /**
   * Opens (creating if needed) the store in `dir`: removes leftover temp files, loads and verifies every
   * concept file (a corrupt one is quarantined and reported, or fails the open with STORE_CORRUPT when
   * `onCorrupt: 'fail'`), and builds the galleries. A file written by a newer Familiar always fails the open.
   * Unless `readOnly` or `lock: false`, it first takes the directory's lock: STORE_IO when another live
   * process holds it.
   */
  static async open(dir: string, options: ConceptStoreOptions = {}): Promise<ConceptStore> {
    const store = new ConceptStore(path.resolve(dir), options);
    if (!store.readOnly && options.lock !== false) store.#lock = await StoreLock.acquire(store.dir, options.log === undefined ? {} : { log: options.log });
    try {
      await store.#load(options.onCorrupt ?? 'quarantine');
    } catch (err) {
      await store.#lock?.release().catch(() => undefined);
      throw err;
    }
    return store;
  }

  /** Number of concepts. */
  get size(): number {
    return this.#concepts.size;
  }

  /** Bumped by every change to a concept, so a holder of a copy of the list knows when to refresh it. */
  get revision(): number {
    return this.#revision;
  }

  /** Every concept (vectors shared with the store: do not modify them). */
  list(): Concept[] {
    return [...this.#concepts.values()].map(cloneConcept);
  }

  /** Every concept without vectors. */
  summaries(): ConceptSummary[] {
    return [...this.#concepts.values()].map(conceptSummary);
  }

  /** The concept with its views, or undefined. */
  concept(id: string): Concept | undefined {
    return this.has(id) ? this.get(id) : undefined;
  }

  has(id: string): boolean {
    return this.#concepts.has(id);
  }

  /** The kind of the concept with this id, or undefined (cheap: no copy). */
  kindOf(id: string): ConceptKind | undefined {
    return this.#concepts.get(id)?.kind;
  }

  /** The concept with this id; CONCEPT_NOT_FOUND otherwise. */
  get(id: string): Concept {
    const c = this.#concepts.get(id);
    if (c === undefined) throw notFound(id);
    return cloneConcept(c);
  }

  /**
   * The concept with this name (case-insensitive). Without `kind`, and when the name is used by several
   * kinds, the first of person, pet, object wins.
   */
  findByName(name: string, kind?: ConceptKind): Concept | undefined {
    if (typeof name !== 'string') throw new FamiliarError('INPUT_INVALID', 'name must be a string');
    const kinds: readonly ConceptKind[] = kind === undefined ? ['person', 'pet', 'object'] : [kind];
    for (const k of kinds) {
      const id = this.#names.get(nameKey(name.trim(), k));
      if (id !== undefined) return cloneConcept(this.#concepts.get(id)!);
    }
    return undefined;
  }

  /** Number of searchable views in a space. */
  viewCount(space: EmbeddingSpace): number {
    return this.#galleries[checkSpace(space)].size;
  }

  /** Which index serves a space right now. */
  indexKind(space: EmbeddingSpace): 'exact' | 'hnsw' {
    return this.#galleries[checkSpace(space)].kind;
  }

  /** The k most similar views in `space` for each query, best first. */
  search(space: EmbeddingSpace, queries: readonly Float32Array[], k: number): ViewHit[][] {
    return this.#galleries[checkSpace(space)].search(queries, k);
  }

  /**
   * Enrols a concept. Rejects with CONCEPT_EXISTS when its name is taken for its kind (case-insensitive)
   * or its id exists, INDEX_DIM_MISMATCH when a view does not fit its space, INPUT_INVALID for bad fields.
   */
  add(input: NewConcept): Promise<Concept> {
    let concept: Concept;
    try {
      // Validate (and copy the vectors) now, so later changes by the caller cannot reach the store.
      concept = toConcept(input, this.#now());
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#enqueue(async () => {
      if (this.#concepts.has(concept.id)) throw new FamiliarError('CONCEPT_EXISTS', `a concept with id ${concept.id} exists`, { details: { id: concept.id } });
      this.#checkNameFree(concept.name, concept.kind, undefined);
      this.#checkDims(concept.views, undefined);
      await this.#write(concept);
      this.#apply(undefined, concept);
      return cloneConcept(concept);
    });
  }

  /** Changes a concept; CONCEPT_NOT_FOUND for an unknown id. Resolves with the updated concept. */
  update(id: string, patch: ConceptPatch): Promise<Concept> {
    let change: ValidPatch;
    try {
      change = validatePatch(patch, this.#now());
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#enqueue(async () => {
      const old = this.#concepts.get(id);
      if (old === undefined) throw notFound(id);
      let views = old.views;
      if (change.views !== undefined) views = change.views;
      if (change.removeViewIds !== undefined) {
        const remove = new Set(change.removeViewIds);
        for (const viewId of remove) {
          if (!old.views.some((v) => v.id === viewId)) throw new FamiliarError('INPUT_INVALID', `concept ${id} has no view ${viewId}`, { details: { viewId } });
        }
        views = views.filter((v) => !remove.has(v.id));
      }
      if (change.addViews !== undefined) views = [...views, ...change.addViews];
      checkViewSet(views);
      const next: Concept = {
        ...old,
        name: change.name ?? old.name,
        context: change.context ?? old.context,
        thresholds: change.thresholds ?? old.thresholds,
        views,
        updatedAt: Math.max(this.#now(), old.updatedAt),
      };
      if (nameKey(next.name, next.kind) !== nameKey(old.name, old.kind)) this.#checkNameFree(next.name, next.kind, id);
      this.#checkDims(views.filter((v) => !old.views.includes(v)), old);
      await this.#write(next);
      this.#apply(old, next);
      return cloneConcept(next);
    });
  }

  /**
   * Forgets a concept: deletes its file (and any quarantined copies of it) and every persisted index
   * cache that holds its vectors, then drops it from memory. CONCEPT_NOT_FOUND for an unknown id.
   */
  remove(id: string): Promise<void> {
    return this.#enqueue(async () => {
      const old = this.#concepts.get(id);
      if (old === undefined) throw notFound(id);
      // Caches first: if we crash in between, the concept is still enrolled and the caches are merely rebuilt.
      for (const space of new Set(old.views.map((v) => v.space))) await HnswIndex.remove(this.#indexFile(space));
      await this.#removeQuarantined(id);
      await removeFileDurable(this.#conceptFile(id));
      this.#apply(old, undefined);
    });
  }

  /**
   * Persists the HNSW indexes that changed as caches (so the next open skips rebuilding them) and deletes
   * caches that are stale. An index still holding vectors of removed views is never written.
   */
  saveIndexes(): Promise<void> {
    return this.#enqueue(() => this.#saveIndexes());
  }

  /** Waits for queued writes, saves the index caches, rejects further writes and releases the lock. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.readOnly) {
      this.#closed = true;
      return;
    }
    const last = this.#enqueue(() => this.#saveIndexes());
    this.#closed = true;
    try {
      await last;
    } finally {
      await this.#lock?.release();
    }
  }

  async #saveIndexes(): Promise<void> {
    for (const space of EMBEDDING_SPACES) {
      const gallery = this.#galleries[space];
      const file = this.#indexFile(space);
      try {
        if (gallery.kind === 'hnsw' && !gallery.holdsDeleted) {
          if (gallery.changed) await gallery.saveCache(file);
        } else {
          await HnswIndex.remove(file);
        }
      } catch (err) {
        // The cache is derived data: failing to write it costs a rebuild at the next open, nothing more.
        this.#log('warn', `could not persist the ${space} index cache`, { error: (err as Error).message });
      }
    }
  }

  async #load(onCorrupt: 'quarantine' | 'fail'): Promise<void> {
    if (!this.readOnly) {
      try {
        await mkdir(this.#conceptsDir, { recursive: true, mode: 0o700 });
        await mkdir(this.#indexDir, { recursive: true, mode: 0o700 });
      } catch (cause) {
        throw storeIoError('create', this.dir, cause);
      }
      this.report.tempFilesRemoved.push(...(await cleanTempFiles(this.#conceptsDir)), ...(await cleanTempFiles(this.#indexDir)));
      if (this.report.tempFilesRemoved.length > 0) this.#log('info', 'removed leftover temp files', { files: this.report.tempFilesRemoved });
    }

    let names: string[];
    try {
      names = (await readdir(this.#conceptsDir)).filter((n) => n.endsWith('.json')).sort();
    } catch (cause) {
      if (!this.readOnly || (cause as NodeJS.ErrnoException).code !== 'ENOENT') throw storeIoError('list', this.#conceptsDir, cause);
      names = [];
    }
    for (const name of names) {
      const file = path.join(this.#conceptsDir, name);
      let concept: Concept;
      try {
        concept = decodeConcept(await readVerified(file, CONCEPT_SPEC), file);
        if (`${concept.id}.json` !== name) throw new FamiliarError('STORE_CORRUPT', `${file}: holds concept ${concept.id}`, { details: { file, reason: 'mismatch' } });
      } catch (err) {
        if (!(err instanceof FamiliarError) || err.code !== 'STORE_CORRUPT') throw err;
        if (onCorrupt === 'fail' || err.details?.reason === 'version') throw err;
        if (this.readOnly) {
          this.report.skippedFiles.push(file);
          this.#log('warn', 'skipped a corrupt concept file (read-only)', { file, error: err.message });
          continue;
        }
        const moved = await quarantineFile(file, this.#now());
        this.report.quarantined.push(moved);
        this.#log('warn', 'quarantined a corrupt concept file', { file, moved_to: moved, error: err.message });
        continue;
      }
      const key = nameKey(concept.name, concept.kind);
      if (this.#names.has(key)) this.#log('warn', `two concepts are named ${concept.name} (${concept.kind}); name lookups find the first`, { ids: [this.#names.get(key), concept.id] });
      else this.#names.set(key, concept.id);
      this.#concepts.set(concept.id, concept);
    }
    this.report.concepts = this.#concepts.size;

    for (const space of EMBEDDING_SPACES) {
      const views = [...this.#concepts.values()].flatMap((c) => c.views.filter((v) => v.space === space).map((v) => ({ c, v })));
      const expected = this.#dims[space] ?? mostCommonDim(views.map(({ v }) => v.vector.length));
      const entries = [];
      for (const { c, v } of views) {
        if (v.vector.length === expected) entries.push({ conceptId: c.id, viewId: v.id, negative: v.negative === true, vector: v.vector });
        else this.report.skippedViews.push({ conceptId: c.id, viewId: v.id, space, dim: v.vector.length, expected: expected! });
      }
      const { origin, cacheProblem } = await this.#galleries[space].load(entries, this.#indexFile(space));
      if (entries.length > 0) this.report.indexes[space] = origin;
      if (cacheProblem !== undefined) this.#log('info', `rebuilt the ${space} index: its cache was unusable`, { error: cacheProblem.message });
      if (origin === 'exact' && !this.readOnly) await HnswIndex.remove(this.#indexFile(space));
    }
    if (this.report.skippedViews.length > 0) {
      this.#log('warn', 'some views have another dimension than their space and are not searchable (re-enrol them with the current models)', {
        count: this.report.skippedViews.length,
      });
    }
  }

  #enqueue<T>(op: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new FamiliarError('STORE_IO', `the store in ${this.dir} is closed`));
    if (this.readOnly) return Promise.reject(new FamiliarError('STORE_IO', `the store in ${this.dir} is opened read-only`));
    if (this.#pending >= this.#maxPending) return Promise.reject(new FamiliarError('RATE_LIMITED', `the store's write queue is full (${this.#maxPending} pending)`));
    this.#pending++;
    const run = this.#tail.then(op).finally(() => {
      this.#pending--;
    });
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #write(concept: Concept): Promise<void> {
    await writeVerified(this.#conceptFile(concept.id), CONCEPT_SPEC, encodeConcept(concept));
  }

  /** Replaces `old` by `next` in memory (either may be absent) and keeps the galleries in step. */
  #apply(old: Concept | undefined, next: Concept | undefined): void {
    this.#revision++;
    if (old !== undefined) {
      this.#concepts.delete(old.id);
      const key = nameKey(old.name, old.kind);
      if (this.#names.get(key) === old.id) this.#names.delete(key);
      for (const v of old.views) if (!next?.views.includes(v)) this.#galleries[v.space].remove(old.id, v.id);
    }
    if (next !== undefined) {
      this.#concepts.set(next.id, next);
      this.#names.set(nameKey(next.name, next.kind), next.id);
      for (const v of next.views) {
        if (old?.views.includes(v)) continue;
        const gallery = this.#galleries[v.space];
        // Views skipped at open for their dimension stay unsearchable; new views were checked by #checkDims.
        if (gallery.dim === undefined || gallery.dim === v.vector.length) gallery.add({ conceptId: next.id, viewId: v.id, negative: v.negative === true, vector: v.vector });
      }
    }
  }

  #checkNameFree(name: string, kind: ConceptKind, self: string | undefined): void {
    const holder = this.#names.get(nameKey(name, kind));
    if (holder !== undefined && holder !== self) {
      throw new FamiliarError('CONCEPT_EXISTS', `a ${kind} named ${name} is already enrolled`, { details: { id: holder, name, kind } });
    }
  }

  /** Throws INDEX_DIM_MISMATCH unless every new view fits its space (given that `replacing`'s views go away). */
  #checkDims(newViews: readonly ConceptView[], replacing: Concept | undefined): void {
    const chosen = new Map<EmbeddingSpace, number>();
    for (const v of newViews) {
      const gallery = this.#galleries[v.space];
      let expected = chosen.get(v.space);
      if (expected === undefined) {
        const leaving = replacing?.views.filter((o) => o.space === v.space && o.vector.length === gallery.dim).length ?? 0;
        expected = gallery.size - leaving > 0 ? gallery.dim : this.#dims[v.space];
      }
      expected ??= v.vector.length;
      chosen.set(v.space, expected);
      if (v.vector.length !== expected) {
        throw new FamiliarError('INDEX_DIM_MISMATCH', `a ${v.space} view has ${v.vector.length} dimensions; the ${v.space} space has ${expected}`, {
          details: { space: v.space, expected, actual: v.vector.length },
        });
      }
    }
  }

  async #removeQuarantined(id: string): Promise<void> {
    try {
      const names = await readdir(this.#conceptsDir);
      const copies = names.filter((n) => isQuarantineOf(n, `${id}.json`));
      for (const n of copies) await rm(path.join(this.#conceptsDir, n), { force: true });
      if (copies.length > 0) await fsyncDir(this.#conceptsDir);
    } catch (cause) {
      throw storeIoError('delete quarantined copies of', this.#conceptFile(id), cause);
    }
  }

  #conceptFile(id: string): string {
    return path.join(this.#conceptsDir, `${checkId(id, 'concept id')}.json`);
  }

  #indexFile(space: EmbeddingSpace): string {
    return path.join(this.#indexDir, `${space}.hnsw`);
  }
}

interface ValidPatch {
  name?: string;
  context?: string;
  thresholds?: Concept['thresholds'];
  views?: ConceptView[];
  addViews?: ConceptView[];
  removeViewIds?: string[];
}

const PATCH_KEYS = new Set(['name', 'context', 'thresholds', 'views', 'addViews', 'removeViewIds']);

function validatePatch(patch: ConceptPatch, now: number): ValidPatch {
  if (typeof patch !== 'object' || patch === null) throw new FamiliarError('INPUT_INVALID', 'patch must be an object');
  for (const key of Object.keys(patch)) if (!PATCH_KEYS.has(key)) throw new FamiliarError('INPUT_INVALID', `unknown patch field ${key}`);
  if (patch.views !== undefined && (patch.addViews !== undefined || patch.removeViewIds !== undefined)) {
    throw new FamiliarError('INPUT_INVALID', 'views replaces all views and cannot be combined with addViews or removeViewIds');
  }
  const views = (list: unknown, what: string): ConceptView[] => {
    if (!Array.isArray(list)) throw new FamiliarError('INPUT_INVALID', `${what} must be an array`);
    return list.map((v: NewConceptView) => toView(v, now));
  };
  const out: ValidPatch = {};
  if (patch.name !== undefined) out.name = checkName(patch.name);
  if (patch.context !== undefined) out.context = checkContext(patch.context);
  if (patch.thresholds !== undefined) out.thresholds = checkThresholds(patch.thresholds);
  if (patch.views !== undefined) out.views = views(patch.views, 'views');
  if (patch.addViews !== undefined) out.addViews = views(patch.addViews, 'addViews');
  if (patch.removeViewIds !== undefined) {
    if (!Array.isArray(patch.removeViewIds)) throw new FamiliarError('INPUT_INVALID', 'removeViewIds must be an array');
    out.removeViewIds = patch.removeViewIds.map((id) => checkId(id, 'view id'));
  }
  return out;
}

function mostCommonDim(dims: readonly number[]): number | undefined {
  const counts = new Map<number, number>();
  let best: number | undefined;
  for (const d of dims) {
    const n = (counts.get(d) ?? 0) + 1;
    counts.set(d, n);
    if (best === undefined || n > counts.get(best)!) best = d;
  }
  return best;
}
