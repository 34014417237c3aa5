import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { dot, FamiliarError, normalise, silentLogger, type Logger, type NewConceptView, type UnknownSummary } from '@familiar/contracts';
import { MemoryConfig } from '@familiar/config';
import { base64ToFloat32, cleanTempFiles, float32ToBase64, removeFileDurable, storeIoError, writeVerified, type EnvelopeSpec } from './atomic.ts';
import { checkText, checkTime, DAY_MS, invalid } from './checks.ts';
import { checkUnitVector } from './concept-codec.ts';
import { CoalescedWrites, readOrQuarantine } from './snapshot.ts';

/** An unrecognised face seen by a camera: its embedding (unit length, the face space's dimension). */
export interface UnknownObservation {
  vector: Float32Array;
  /** Epoch ms; default now. */
  at?: number;
  cameraId?: string;
}

/** Where an observation went. */
export interface UnknownAssignment {
  groupId: string;
  /** A new provisional identity was opened for it. */
  isNew: boolean;
  /** It started a new visit (rather than continuing one within the visit gap). */
  newVisit: boolean;
  /** Best cosine similarity to the group's views (null for a new group). */
  similarity: number | null;
  summary: UnknownSummary;
}

export interface UnknownMatch {
  groupId: string;
  /** Best cosine similarity to one of its views. */
  similarity: number;
  /** Cosine similarity to its mean view. */
  meanSimilarity: number;
}

export interface UnknownOptions {
  /** Join a group when similar at least this to one of its views. */
  joinSimilarity?: number;
  /** ...and at least this to its mean view (no chaining of look-alikes). */
  meanSimilarity?: number;
  viewsPerGroup?: number;
  maxGroups?: number;
  retentionDays?: number;
  visitGapMs?: number;
  /** Expected embedding dimension; default: that of the first vector seen. */
  dim?: number;
  /** false: gather nothing, and erase what was gathered before (at open). Default true. */
  enabled?: boolean;
  readOnly?: boolean;
  log?: Logger;
  now?: () => number;
}

export interface UnknownsOpenReport {
  groups: number;
  quarantined: string[];
  tempFilesRemoved: string[];
  /** Groups dropped for retention or the cap at open. */
  expired: number;
}

interface View {
  vector: Float32Array;
  at: number;
  cameraId?: string;
}

interface Group {
  id: string;
  firstSeen: number;
  lastSeen: number;
  visits: number;
  /** Start of each recent visit (bounded), for "this week" counts. */
  visitTimes: number[];
  views: View[];
  /** Sum of every vector that joined (not only the kept views): the centroid anchors the group against drift. */
  sum: Float32Array;
  /** The normalised centroid (derived from `sum`). */
  mean: Float32Array;
  lastCameraId?: string;
}

const GROUP_SPEC: EnvelopeSpec = { format: 'familiar.unknown', version: 1 };
const STATE_SPEC: EnvelopeSpec = { format: 'familiar.unknowns-state', version: 1 };
const STATE_FILE = 'state.json';
const GROUP_FILE = /^unknown-(\d{1,9})\.json$/;
const DEFAULTS = MemoryConfig.parse({});
const MAX_VISIT_TIMES = 500;
const WEEK_MS = 7 * DAY_MS;
const MAINTENANCE_MS = 60 * 60 * 1000;

/**
 * Unrecognised faces grouped online into provisional identities (`unknown-1`, `unknown-2`, …), so the
 * household can be told "an unknown person was seen 4 times this week" and name them later.
 *
 * An observation joins the group whose views it resembles most, but only when its best similarity to one
 * view is at least `joinSimilarity` AND its similarity to the group's centroid (the mean of every face that
 * joined it) is at least `meanSimilarity`: max-over-views alone lets a chain of look-alikes walk one group
 * across two people (Immich's merged siblings); the centroid, anchored by all past sightings, stops the
 * walk. For a one-view group the centroid is that view, so a new identity needs `meanSimilarity` to grow.
 * Otherwise it opens a new group. Each group
 * keeps its `viewsPerGroup` most diverse views (the most redundant view is dropped), counts visits (sightings
 * closer than `visitGapMs` are one visit), and is deleted `retentionDays` after it was last seen; at most
 * `maxGroups` are kept (the least recently seen goes first). Only embeddings are stored, never images.
 *
 * One file per group (`unknown-N.json`, checksummed, replaced atomically) plus `state.json` (the next
 * number). Writes are coalesced per group, so observing is cheap; call {@link observe} once per
 * unrecognised face track (or per frame: the visit gap keeps the counts right either way).
 */
export class UnknownVisitors {
  readonly dir: string;
  readonly report: UnknownsOpenReport;
  readonly readOnly: boolean;
  /** Whether unknown faces are gathered at all (memory.unknownVisitorsEnabled). */
  readonly enabled: boolean;
  readonly #join: number;
  readonly #meanMin: number;
  readonly #viewsPerGroup: number;
  readonly #maxGroups: number;
  readonly #retentionMs: number;
  readonly #visitGapMs: number;
  readonly #log: Logger;
  readonly #now: () => number;
  #dim: number | undefined;
  readonly #groups = new Map<string, Group>();
  #nextNumber = 1;
  /** Group ids whose file must be rewritten (or deleted, when the group is gone). */
  readonly #dirty = new Set<string>();
  #stateDirty = false;
  readonly #writes = new CoalescedWrites(() => this.#writeDirty());
  #maintenance: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(dir: string, options: UnknownOptions) {
    this.dir = dir;
    this.readOnly = options.readOnly === true;
    this.enabled = options.enabled !== false;
    this.#join = options.joinSimilarity ?? DEFAULTS.unknownJoinSimilarity;
    this.#meanMin = options.meanSimilarity ?? DEFAULTS.unknownMeanSimilarity;
    this.#viewsPerGroup = options.viewsPerGroup ?? DEFAULTS.unknownViewsPerGroup;
    this.#maxGroups = options.maxGroups ?? DEFAULTS.unknownMaxGroups;
    this.#retentionMs = (options.retentionDays ?? DEFAULTS.unknownRetentionDays) * DAY_MS;
    this.#visitGapMs = options.visitGapMs ?? DEFAULTS.unknownVisitGapSeconds * 1000;
    this.#dim = options.dim;
    this.#log = options.log ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.report = { groups: 0, quarantined: [], tempFilesRemoved: [], expired: 0 };
    if (!(this.#join >= -1 && this.#join <= 1) || !(this.#meanMin >= -1 && this.#meanMin <= 1)) throw invalid('similarities must be in [-1, 1]');
    if (!(this.#viewsPerGroup >= 1) || !(this.#maxGroups >= 1) || !(this.#retentionMs > 0) || !(this.#visitGapMs >= 0)) throw invalid('unknown-visitor options out of range');
  }

  /** Opens (creating if needed) the groups in `dir`, quarantining corrupt files. */
  static async open(dir: string, options: UnknownOptions = {}): Promise<UnknownVisitors> {
    const u = new UnknownVisitors(path.resolve(dir), options);
    await u.#load();
    if (!u.enabled && !u.readOnly && u.#groups.size > 0) {
      // Switched off: strangers' face embeddings are not kept "in case" — everything gathered goes, on disk,
      // and the log says how much went (one line, only when there was something to erase).
      const groups = u.#groups.size;
      let views = 0;
      for (const g of u.#groups.values()) views += g.views.length;
      for (const id of u.#groups.keys()) u.#dirty.add(id);
      u.#groups.clear();
      await u.#flush();
      const plural = (n: number, one: string, other: string) => `${n} ${n === 1 ? one : other}`;
      u.#log('info', `unknown visitors are switched off (memory.unknownVisitorsEnabled: false): erased ${plural(groups, 'unknown visitor', 'unknown visitors')} (${plural(views, 'face view', 'face views')})`, { groups, views });
    }
    if (!u.readOnly) {
      u.#maintenance = setInterval(() => {
        u.prune().catch((err: unknown) => u.#log('error', 'unknown-visitor retention failed', { error: (err as Error).message }));
      }, MAINTENANCE_MS);
      u.#maintenance.unref();
    }
    return u;
  }

  get size(): number {
    return this.#groups.size;
  }

  /** The group an embedding would join now, without recording anything; undefined when it would open a new one. */
  match(vector: Float32Array): UnknownMatch | undefined {
    return this.#match(this.#checkVector(vector));
  }

  #match(vector: Float32Array): UnknownMatch | undefined {
    let best: UnknownMatch | undefined;
    for (const g of this.#groups.values()) {
      let similarity = -Infinity;
      for (const v of g.views) similarity = Math.max(similarity, dot(vector, v.vector));
      if (similarity < this.#join) continue;
      const meanSimilarity = dot(vector, g.mean);
      if (meanSimilarity < this.#meanMin) continue;
      if (best === undefined || similarity > best.similarity) best = { groupId: g.id, similarity, meanSimilarity };
    }
    return best;
  }

  /**
   * Records an unrecognised face: joins the matching group or opens a new one (evicting the least recently
   * seen group beyond the cap). The decision is immediate; the promise resolves once it is on disk.
   * INPUT_INVALID for a vector that is not unit length, INDEX_DIM_MISMATCH for another dimension.
   */
  async observe(observation: UnknownObservation): Promise<UnknownAssignment> {
    this.#assertWritable();
    if (!this.enabled) throw new FamiliarError('INPUT_INVALID', 'unknown visitors are switched off (memory.unknownVisitorsEnabled)');
    if (typeof observation !== 'object' || observation === null) throw invalid('an observation must be an object');
    const vector = Float32Array.from(this.#checkVector(observation.vector));
    const at = observation.at === undefined ? this.#now() : checkTime(observation.at, 'at');
    const cameraId = observation.cameraId === undefined ? undefined : checkText(observation.cameraId, 'cameraId', 200);
    this.#expire();
    const found = this.#match(vector);
    let group: Group;
    let newVisit: boolean;
    if (found !== undefined) {
      group = this.#groups.get(found.groupId)!;
      newVisit = at - group.lastSeen >= this.#visitGapMs || at < group.firstSeen - this.#visitGapMs;
      group.firstSeen = Math.min(group.firstSeen, at);
      group.lastSeen = Math.max(group.lastSeen, at);
      if (newVisit) this.#countVisit(group, at);
      for (let i = 0; i < vector.length; i++) group.sum[i]! += vector[i]!;
      group.mean = normalise(Float32Array.from(group.sum));
      this.#addView(group, { vector, at, ...(cameraId === undefined ? {} : { cameraId }) });
    } else {
      const number = this.#nextNumber++;
      this.#stateDirty = true;
      const view: View = { vector, at, ...(cameraId === undefined ? {} : { cameraId }) };
      group = { id: `unknown-${number}`, firstSeen: at, lastSeen: at, visits: 0, visitTimes: [], views: [view], sum: Float32Array.from(vector), mean: Float32Array.from(vector) };
      this.#countVisit(group, at);
      this.#groups.set(group.id, group);
      newVisit = true;
      this.#enforceCap(group.id);
    }
    if (cameraId !== undefined) group.lastCameraId = cameraId;
    this.#dirty.add(group.id);
    const assignment: UnknownAssignment = { groupId: group.id, isNew: found === undefined, newVisit, similarity: found?.similarity ?? null, summary: this.#summary(group) };
    await this.#flush();
    return assignment;
  }

  /** Every provisional identity, most recently seen first. */
  list(): UnknownSummary[] {
    return [...this.#groups.values()].sort((a, b) => b.lastSeen - a.lastSeen).map((g) => this.#summary(g));
  }

  get(id: string): UnknownSummary | undefined {
    const g = this.#groups.get(id);
    return g === undefined ? undefined : this.#summary(g);
  }

  /** A group's views as face views to enrol (vectors copied). NOT_FOUND for an unknown id. */
  views(id: string): NewConceptView[] {
    const g = this.#group(id);
    return g.views.map((v) => ({ space: 'face', vector: Float32Array.from(v.vector), origin: `${g.id} seen ${new Date(v.at).toISOString()}`, addedAt: v.at }));
  }

  /**
   * Turns a provisional identity into an enrolled person: hands its views to `enrol` (which creates the
   * concept, e.g. with a name from the user) and deletes the group once `enrol` succeeds; when it fails the
   * group stays. Resolves with what `enrol` returned. NOT_FOUND for an unknown id.
   */
  async name<T>(id: string, enrol: (views: NewConceptView[]) => Promise<T>): Promise<T> {
    this.#assertWritable();
    const views = this.views(id);
    const result = await enrol(views);
    if (this.#groups.delete(id)) {
      this.#dirty.add(id);
      await this.#flush();
    }
    return result;
  }

  /** Deletes a provisional identity ("that's just the postman"); on disk before the promise resolves. NOT_FOUND for an unknown id. */
  async dismiss(id: string): Promise<void> {
    this.#assertWritable();
    this.#group(id);
    this.#groups.delete(id);
    this.#dirty.add(id);
    await this.#flush();
  }

  /** Deletes groups past retention. Resolves with the count. */
  async prune(): Promise<number> {
    this.#assertWritable();
    const n = this.#expire();
    if (n > 0) await this.#flush();
    return n;
  }

  /** Writes pending changes and stops; further changes are rejected. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    clearInterval(this.#maintenance);
    try {
      if (!this.readOnly && (this.#dirty.size > 0 || this.#stateDirty)) await this.#flush();
    } finally {
      this.#closed = true;
      await this.#writes.settled();
    }
  }

  #summary(g: Group): UnknownSummary {
    const now = this.#now();
    const recent = g.visitTimes.filter((t) => t >= now - WEEK_MS && t <= now);
    const s: UnknownSummary = {
      id: g.id,
      firstSeen: g.firstSeen,
      lastSeen: g.lastSeen,
      visits: g.visits,
      visitsLast7Days: recent.length,
      daysLast7Days: new Set(recent.map((t) => Math.floor(t / DAY_MS))).size,
      viewCount: g.views.length,
    };
    if (g.lastCameraId !== undefined) s.lastCameraId = g.lastCameraId;
    return s;
  }

  #group(id: string): Group {
    const g = this.#groups.get(id);
    if (g === undefined) throw new FamiliarError('NOT_FOUND', `no unknown visitor ${String(id)}`, { details: { id } });
    return g;
  }

  #checkVector(vector: unknown): Float32Array {
    const v = checkUnitVector(vector);
    if (this.#dim !== undefined && v.length !== this.#dim) {
      throw new FamiliarError('INDEX_DIM_MISMATCH', `a face vector has ${v.length} dimensions; unknown visitors have ${this.#dim}`, { details: { expected: this.#dim, actual: v.length } });
    }
    return v;
  }

  #countVisit(g: Group, at: number): void {
    g.visits++;
    g.visitTimes.push(at);
    if (g.visitTimes.length > MAX_VISIT_TIMES) g.visitTimes.splice(0, g.visitTimes.length - MAX_VISIT_TIMES);
  }

  /** Adds a view, then drops the most redundant one (highest similarity to another view) beyond the cap. */
  #addView(g: Group, view: View): void {
    g.views.push(view);
    while (g.views.length > this.#viewsPerGroup) {
      let victim = 0;
      let worst = -Infinity;
      g.views.forEach((a, i) => {
        let redundancy = -Infinity;
        g.views.forEach((b, j) => {
          if (i !== j) redundancy = Math.max(redundancy, dot(a.vector, b.vector));
        });
        if (redundancy > worst) {
          worst = redundancy;
          victim = i;
        }
      });
      g.views.splice(victim, 1);
    }
  }

  #expire(): number {
    const cutoff = this.#now() - this.#retentionMs;
    let n = 0;
    for (const g of [...this.#groups.values()]) {
      if (g.lastSeen < cutoff) {
        this.#groups.delete(g.id);
        this.#dirty.add(g.id);
        n++;
      }
    }
    return n;
  }

  #enforceCap(keep: string | undefined): number {
    let n = 0;
    while (this.#groups.size > this.#maxGroups) {
      let oldest: Group | undefined;
      for (const g of this.#groups.values()) if (g.id !== keep && (oldest === undefined || g.lastSeen < oldest.lastSeen)) oldest = g;
      if (oldest === undefined) break;
      this.#groups.delete(oldest.id);
      this.#dirty.add(oldest.id);
      n++;
    }
    return n;
  }

  /** Writes every dirty group (coalesced with a flush already waiting to run). */
  #flush(): Promise<void> {
    return this.#writes.run();
  }

  async #writeDirty(): Promise<void> {
    if (this.#stateDirty) {
      this.#stateDirty = false;
      try {
        await writeVerified(path.join(this.dir, STATE_FILE), STATE_SPEC, { nextNumber: this.#nextNumber });
      } catch (err) {
        this.#stateDirty = true;
        throw err;
      }
    }
    for (const id of [...this.#dirty]) {
      this.#dirty.delete(id);
      const g = this.#groups.get(id);
      try {
        if (g === undefined) await removeFileDurable(this.#file(id));
        else await writeVerified(this.#file(id), GROUP_SPEC, encodeGroup(g));
      } catch (err) {
        this.#dirty.add(id);
        throw err;
      }
    }
  }

  async #load(): Promise<void> {
    if (!this.readOnly) {
      try {
        await mkdir(this.dir, { recursive: true, mode: 0o700 });
      } catch (cause) {
        throw storeIoError('create', this.dir, cause);
      }
      this.report.tempFilesRemoved = await cleanTempFiles(this.dir);
    }
    let names: string[] = [];
    try {
      names = await readdir(this.dir);
    } catch (cause) {
      if (!this.readOnly || (cause as NodeJS.ErrnoException).code !== 'ENOENT') throw storeIoError('list', this.dir, cause);
    }
    const state = await this.#read(STATE_FILE, STATE_SPEC, (p) => {
      const n = (p as { nextNumber?: unknown }).nextNumber;
      if (!Number.isInteger(n) || (n as number) < 1) throw new Error('bad nextNumber');
      return n as number;
    });
    for (const name of names.filter((n) => GROUP_FILE.test(n)).sort()) {
      const number = Number(GROUP_FILE.exec(name)![1]);
      const g = await this.#read(name, GROUP_SPEC, (p) => decodeGroup(p, `unknown-${number}`));
      if (g === undefined) continue;
      if (this.#dim === undefined) this.#dim = g.views[0]!.vector.length;
      if (g.views.some((v) => v.vector.length !== this.#dim)) {
        this.#log('warn', 'dropping an unknown visitor whose views have another dimension (a different face model)', { id: g.id });
        this.#dirty.add(g.id);
        continue;
      }
      this.#groups.set(g.id, g);
      this.#nextNumber = Math.max(this.#nextNumber, number + 1);
    }
    // Never reuse the number of a group that was deleted: clients may still hold it.
    if (state !== undefined && state > this.#nextNumber) this.#nextNumber = state;
    if (state === undefined ? this.#groups.size > 0 : state < this.#nextNumber) this.#stateDirty = true;
    this.report.expired = this.#expire() + this.#enforceCap(undefined);
    this.report.groups = this.#groups.size;
    if (!this.readOnly && (this.#dirty.size > 0 || this.#stateDirty)) await this.#flush();
  }

  async #read<T>(name: string, spec: EnvelopeSpec, decode: (payload: unknown) => T): Promise<T | undefined> {
    const { value, quarantined } = await readOrQuarantine(path.join(this.dir, name), spec, decode, { readOnly: this.readOnly, log: this.#log, now: this.#now });
    if (quarantined !== undefined) this.report.quarantined.push(quarantined);
    return value;
  }

  #file(id: string): string {
    return path.join(this.dir, `${id}.json`);
  }

  #assertWritable(): void {
    if (this.#closed) throw new FamiliarError('STORE_IO', `the unknown visitors in ${this.dir} are closed`);
    if (this.readOnly) throw new FamiliarError('STORE_IO', `the unknown visitors in ${this.dir} are opened read-only`);
  }
}

function encodeGroup(g: Group): unknown {
  return {
    id: g.id,
    firstSeen: g.firstSeen,
    lastSeen: g.lastSeen,
    visits: g.visits,
    visitTimes: g.visitTimes,
    ...(g.lastCameraId === undefined ? {} : { lastCameraId: g.lastCameraId }),
    sum: float32ToBase64(g.sum),
    views: g.views.map((v) => ({ dim: v.vector.length, vector: float32ToBase64(v.vector), at: v.at, ...(v.cameraId === undefined ? {} : { cameraId: v.cameraId }) })),
  };
}

function decodeGroup(payload: unknown, id: string): Group {
  const p = payload as Record<string, unknown>;
  if (typeof p !== 'object' || p === null || p.id !== id || !Array.isArray(p.views) || p.views.length === 0 || !Array.isArray(p.visitTimes)) throw new Error('not an unknown-visitor group');
  const views = p.views.map((raw: unknown): View => {
    const r = raw as { dim?: unknown; vector?: unknown; at?: unknown; cameraId?: unknown };
    const vector = typeof r.vector === 'string' ? base64ToFloat32(r.vector) : undefined;
    if (vector === undefined || vector.length !== r.dim) throw new Error('view vector length differs from its dim');
    const view: View = { vector: checkUnitVector(vector), at: checkTime(r.at, 'at') };
    if (r.cameraId !== undefined) view.cameraId = checkText(r.cameraId, 'cameraId', 200);
    return view;
  });
  if (!Number.isInteger(p.visits) || (p.visits as number) < 0) throw new Error('bad visit count');
  const sum = typeof p.sum === 'string' ? base64ToFloat32(p.sum) : undefined;
  if (sum === undefined || sum.length !== views[0]!.vector.length || !sum.every(Number.isFinite)) throw new Error('bad centroid');
  const g: Group = {
    id,
    firstSeen: checkTime(p.firstSeen, 'firstSeen'),
    lastSeen: checkTime(p.lastSeen, 'lastSeen'),
    visits: p.visits as number,
    visitTimes: p.visitTimes.map((t: unknown) => checkTime(t, 'visit time')).slice(-MAX_VISIT_TIMES),
    views,
    sum,
    mean: normalise(Float32Array.from(sum)),
  };
  if (p.lastCameraId !== undefined) g.lastCameraId = checkText(p.lastCameraId, 'lastCameraId', 200);
  return g;
}
