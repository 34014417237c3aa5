import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { FamiliarError, silentLogger, type Box, type Logger, type Sighting } from '@familiar/contracts';
import { MemoryConfig } from '@familiar/config';
import type { ConceptCheck } from './checks.ts';
import { JsonlFile, type JsonlSpec } from './jsonl.ts';

/** A concept (or unknown person) appearing: opens a visit. */
export interface SightingStart {
  /** null for an unknown person. */
  conceptId: string | null;
  trackId: string;
  cameraId: string;
  room: string;
  /** Epoch milliseconds. */
  at: number;
  box: Box;
  confidence: number;
}

/** An ongoing visit seen again (or re-identified: a new conceptId). */
export interface SightingChange {
  at: number;
  box?: Box;
  confidence?: number;
  conceptId?: string | null;
}

export interface RecentQuery {
  /** Only visits last seen at or after this time (epoch ms). */
  since?: number;
  /** Only this concept's visits; null for unknown persons; absent for all. */
  conceptId?: string | null;
  cameraId?: string;
  /** At most this many, newest first (1..10000). */
  limit: number;
}

/** Visits overlapping a time window. */
export interface DuringQuery {
  /** Epoch ms; visits last seen before this are left out. */
  from: number;
  /** Epoch ms; visits first seen after this are left out. */
  to: number;
  cameraId?: string;
  /** Only this concept's visits; null for unknown persons; absent for all. */
  conceptId?: string | null;
  /** At most this many (1..10000, default 100), earliest first. */
  limit?: number;
}

export interface SightingsOptions {
  retentionDays?: number;
  maxRecords?: number;
  flushMs?: number;
  updatePersistMs?: number;
  log?: Logger;
  /** Clock (tests). */
  now?: () => number;
  /** Open without repairing or writing anything; every change is rejected with STORE_IO. */
  readOnly?: boolean;
  /**
   * Validates the (non-null) concept id of a new or re-identified visit; the {@link Memory} facade rejects
   * ids that are not enrolled, so a track still carrying a just-forgotten concept cannot record it again.
   */
  checkConcept?: ConceptCheck;
}

/** What {@link SightingsLog.open} found and repaired. */
export interface SightingsOpenReport {
  records: number;
  /** Torn or corrupt lines skipped (a torn last line after a crash is normal). */
  droppedLines: number;
  /** Where a log with an unreadable header was moved to. */
  quarantined?: string;
  /** Visits still open at the last shutdown or crash, closed at their last persisted sighting. */
  closedOnOpen: number;
  /** Records dropped for retention or the record cap. */
  expired: number;
  tempFilesRemoved: string[];
}

const SPEC: JsonlSpec = { format: 'familiar.sightings', version: 1, key: 's' };
const MAX_RECENT = 10_000;
const MAX_TEXT = 200;
/** The log is rewritten once it has this many more lines than twice the live records. */
const COMPACT_SLACK = 1000;
/** More pending urgent records than this are written at once instead of waiting for the timer. */
const URGENT_BATCH = 256;
const MAINTENANCE_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
const CONFIG_DEFAULTS = MemoryConfig.parse({});

interface Entry {
  rec: Sighting;
  /** When the record was last written to the log (0: never). */
  persistedAt: number;
}

/**
 * An append-only, crash-safe log of visits: one record per visit, kept in memory (bounded by
 * `maxRecords`) and persisted as JSON lines, each carrying a checksum of its record. New and ended
 * visits are fsynced within `flushMs`; position updates of ongoing visits at most every
 * `updatePersistMs`. After a crash a torn last line is dropped and every earlier line survives. The
 * file is compacted (rewritten atomically with one line per record) when it grows, on retention and
 * when a concept is removed.
 */
export class SightingsLog {
  readonly file: string;
  readonly report: SightingsOpenReport;
  readonly readOnly: boolean;
  readonly #retentionMs: number;
  readonly #maxRecords: number;
  readonly #flushMs: number;
  readonly #updateMs: number;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #check: ConceptCheck | undefined;
  readonly #records = new Map<string, Entry>();
  readonly #byConcept = new Map<string | null, Set<string>>();
  /** Records with changes not yet in the file: id → urgent (begin/end/re-identification). */
  readonly #dirty = new Map<string, boolean>();
  #jsonl: JsonlFile | undefined;
  #io: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #maintenance: NodeJS.Timeout | undefined;
  #needsCompaction = false;
  #failing = false;
  #closed = false;

  private constructor(file: string, options: SightingsOptions) {
    this.file = file;
    this.#retentionMs = (options.retentionDays ?? CONFIG_DEFAULTS.sightingRetentionDays) * DAY_MS;
    this.#maxRecords = options.maxRecords ?? CONFIG_DEFAULTS.sightingMaxRecords;
    this.#flushMs = options.flushMs ?? CONFIG_DEFAULTS.sightingFlushMs;
    this.#updateMs = options.updatePersistMs ?? CONFIG_DEFAULTS.sightingUpdatePersistMs;
    this.#log = options.log ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.readOnly = options.readOnly === true;
    this.#check = options.checkConcept;
    this.report = { records: 0, droppedLines: 0, closedOnOpen: 0, expired: 0, tempFilesRemoved: [] };
    if (!(this.#maxRecords >= 1) || !(this.#flushMs > 0) || !(this.#updateMs > 0) || !(this.#retentionMs > 0)) {
      throw new FamiliarError('INPUT_INVALID', 'sightings options must be positive');
    }
  }

  /** Opens (creating if needed) the log in `file`, repairing what a crash left behind. */
  static async open(file: string, options: SightingsOptions = {}): Promise<SightingsLog> {
    const log = new SightingsLog(path.resolve(file), options);
    await log.#load();
    if (!log.readOnly) {
      log.#maintenance = setInterval(() => log.#maintain(), MAINTENANCE_MS);
      log.#maintenance.unref();
    }
    return log;
  }

  /** Number of records in memory (open and closed visits). */
  get size(): number {
    return this.#records.size;
  }

  /** Opens a visit; returns its record (with its new id). */
  begin(start: SightingStart): Sighting {
    this.#assertWritable();
    if (typeof start !== 'object' || start === null) throw invalid('sighting start must be an object');
    const at = checkTime(start.at, 'at');
    const conceptId = checkConceptId(start.conceptId);
    if (conceptId !== null) this.#check?.(conceptId);
    const rec: Sighting = {
      id: randomUUID(),
      conceptId,
      trackId: checkText(start.trackId, 'trackId', false),
      cameraId: checkText(start.cameraId, 'cameraId', false),
      room: checkText(start.room, 'room', true),
      firstSeen: at,
      lastSeen: at,
      box: checkBox(start.box),
      confidence: checkConfidence(start.confidence),
      open: true,
    };
    this.#insert({ rec, persistedAt: 0 });
    this.#markDirty(rec.id, true);
    this.#enforceCap(rec.id);
    return copy(rec);
  }

  /** Records that an ongoing visit was seen again. NOT_FOUND for an unknown id, INPUT_INVALID for a closed visit. */
  update(id: string, change: SightingChange): Sighting {
    this.#assertWritable();
    const entry = this.#openEntry(id);
    this.#applyChange(entry, change);
    return copy(entry.rec);
  }

  /** Closes a visit (optionally with a last change). */
  end(id: string, change?: SightingChange): Sighting {
    this.#assertWritable();
    const entry = this.#openEntry(id);
    if (change !== undefined) this.#applyChange(entry, change);
    entry.rec.open = false;
    this.#markDirty(id, true);
    return copy(entry.rec);
  }

  get(id: string): Sighting | undefined {
    const e = this.#records.get(id);
    return e === undefined ? undefined : copy(e.rec);
  }

  /** The most recent visit of a concept (null: of an unknown person), or undefined. */
  lastSeen(conceptId: string | null): Sighting | undefined {
    let best: Sighting | undefined;
    for (const id of this.#byConcept.get(conceptId) ?? []) {
      const rec = this.#records.get(id)!.rec;
      if (best === undefined || rec.lastSeen > best.lastSeen) best = rec;
    }
    return best === undefined ? undefined : copy(best);
  }

  /** Visits matching the query, newest (by lastSeen) first. */
  recent(query: RecentQuery): Sighting[] {
    if (typeof query !== 'object' || query === null) throw invalid('query must be an object');
    const { since, conceptId, cameraId, limit } = query;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RECENT) throw invalid(`limit must be an integer in 1..${MAX_RECENT}`);
    if (since !== undefined && (typeof since !== 'number' || Number.isNaN(since))) throw invalid('since must be a number');
    const ids = conceptId === undefined ? this.#records.keys() : (this.#byConcept.get(conceptId) ?? []);
    const out: Sighting[] = [];
    for (const id of ids) {
      const rec = this.#records.get(id)!.rec;
      if (since !== undefined && rec.lastSeen < since) continue;
      if (cameraId !== undefined && rec.cameraId !== cameraId) continue;
      out.push(rec);
    }
    out.sort((a, b) => b.lastSeen - a.lastSeen);
    return out.slice(0, limit).map(copy);
  }

  /**
   * Visits that overlap [from, to] (first seen at or before `to`, last seen at or after `from`), earliest
   * first: who was in view around a moment ("what was going on when I mentioned Grandma?").
   */
  during(query: DuringQuery): Sighting[] {
    if (typeof query !== 'object' || query === null) throw invalid('query must be an object');
    const { from, to, conceptId, cameraId } = query;
    const limit = query.limit ?? 100;
    if (typeof from !== 'number' || typeof to !== 'number' || Number.isNaN(from) || Number.isNaN(to) || from > to) throw invalid('from and to must be numbers with from <= to');
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RECENT) throw invalid(`limit must be an integer in 1..${MAX_RECENT}`);
    const ids = conceptId === undefined ? this.#records.keys() : (this.#byConcept.get(conceptId) ?? []);
    const out: Sighting[] = [];
    for (const id of ids) {
      const rec = this.#records.get(id)!.rec;
      if (rec.firstSeen > to || rec.lastSeen < from) continue;
      if (cameraId !== undefined && rec.cameraId !== cameraId) continue;
      out.push(rec);
    }
    out.sort((a, b) => a.firstSeen - b.firstSeen);
    return out.slice(0, limit).map(copy);
  }

  /**
   * Erases every visit of a concept: from memory at once, and from disk by rewriting the log atomically
   * before the promise resolves. Resolves with the number of visits erased.
   */
  async removeConcept(conceptId: string): Promise<number> {
    this.#assertWritable();
    checkConceptId(conceptId);
    const ids = [...(this.#byConcept.get(conceptId) ?? [])];
    for (const id of ids) this.#delete(id);
    if (ids.length > 0) {
      this.#needsCompaction = true;
      // On failure the timer retries: the erased visits must not stay on disk.
      await this.#runIo(() => this.#compact()).finally(() => this.#schedule());
    }
    return ids.length;
  }

  /** Deletes visits older than the retention period (and rewrites the log when any went). Resolves with the count. */
  async prune(): Promise<number> {
    this.#assertWritable();
    const n = this.#expire();
    if (n > 0) {
      this.#needsCompaction = true;
      await this.#runIo(() => this.#compact()).finally(() => this.#schedule());
    }
    return n;
  }

  /** Writes and fsyncs every pending change now. */
  flush(): Promise<void> {
    if (this.readOnly) return Promise.resolve();
    return this.#runIo(() => this.#persist(true));
  }

  /** Flushes, stops the timers and closes the file. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    clearInterval(this.#maintenance);
    try {
      if (!this.readOnly) await this.#runIo(() => this.#persist(true));
    } finally {
      await this.#io.catch(() => undefined);
      await this.#jsonl?.close();
    }
  }

  // ---- persistence ----

  async #load(): Promise<void> {
    const { jsonl, loaded } = await JsonlFile.open(this.file, SPEC, { readOnly: this.readOnly, log: this.#log, now: this.#now });
    this.#jsonl = jsonl;
    this.report.tempFilesRemoved = loaded.tempFilesRemoved;
    if (loaded.quarantined !== undefined) this.report.quarantined = loaded.quarantined;
    this.report.droppedLines = loaded.droppedLines;
    let rewrite = loaded.needsRewrite;
    const loadedAt = this.#now();
    for (const raw of loaded.records) {
      const rec = decodeSighting(raw);
      if (rec === undefined) {
        this.report.droppedLines++;
        rewrite = true;
        continue;
      }
      if (this.#records.has(rec.id)) this.#delete(rec.id);
      this.#insert({ rec, persistedAt: loadedAt });
    }
    if (jsonl.lines > 2 * this.#records.size + COMPACT_SLACK) rewrite = true;
    for (const { rec } of this.#records.values()) {
      if (rec.open) {
        rec.open = false;
        this.report.closedOnOpen++;
        rewrite = true;
      }
    }
    this.report.expired = this.#expire() + this.#enforceCap(undefined);
    if (this.report.expired > 0) rewrite = true;
    this.report.records = this.#records.size;
    if (rewrite && !this.readOnly) await this.#compact();
  }

  /** Appends the pending records (all, or only those due) and fsyncs. */
  async #persist(all: boolean): Promise<void> {
    if (this.#needsCompaction) {
      await this.#compact();
      return;
    }
    const now = this.#now();
    const picked: Array<[string, boolean]> = [];
    for (const [id, urgent] of this.#dirty) {
      const entry = this.#records.get(id);
      if (entry === undefined) this.#dirty.delete(id);
      else if (all || urgent || now - entry.persistedAt >= this.#updateMs) picked.push([id, urgent]);
    }
    if (picked.length === 0) return;
    const records = picked.map(([id]) => this.#records.get(id)!.rec);
    for (const [id] of picked) this.#dirty.delete(id);
    try {
      await this.#jsonl!.append(records);
    } catch (err) {
      // Keep the records pending; the next attempt writes them again.
      for (const [id, urgent] of picked) if (this.#records.has(id)) this.#dirty.set(id, urgent || (this.#dirty.get(id) ?? false));
      throw err;
    }
    for (const [id] of picked) {
      const entry = this.#records.get(id);
      if (entry !== undefined) entry.persistedAt = now;
    }
    if (this.#jsonl!.lines > 2 * this.#records.size + COMPACT_SLACK) await this.#compact();
  }

  /** Rewrites the log atomically with one line per record. */
  async #compact(): Promise<void> {
    const now = this.#now();
    const entries = [...this.#records.values()];
    const wasDirty = new Map(this.#dirty);
    this.#dirty.clear();
    try {
      await this.#jsonl!.rewrite(entries.map((e) => e.rec));
    } catch (err) {
      for (const [id, urgent] of wasDirty) if (this.#records.has(id) && !this.#dirty.has(id)) this.#dirty.set(id, urgent);
      this.#needsCompaction = true;
      throw err;
    }
    this.#needsCompaction = false;
    for (const e of entries) e.persistedAt = now;
  }

  /** Runs file work one step at a time, in order. */
  #runIo(step: () => Promise<void>): Promise<void> {
    const run = this.#io.then(step);
    this.#io = run.catch(() => undefined);
    return run;
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#closed || (this.#dirty.size === 0 && !this.#needsCompaction)) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#runIo(() => this.#persist(false)).then(
        () => {
          if (this.#failing) this.#log('info', 'sightings log writable again', { file: this.file });
          this.#failing = false;
          this.#schedule();
        },
        (err: unknown) => {
          if (!this.#failing) this.#log('error', 'cannot write the sightings log; retrying', { file: this.file, error: (err as Error).message });
          this.#failing = true;
          this.#schedule();
        },
      );
    }, this.#flushMs);
    this.#timer.unref();
  }

  #maintain(): void {
    if (this.#closed) return;
    this.prune().catch((err: unknown) => this.#log('error', 'sightings retention failed', { error: (err as Error).message }));
  }

  // ---- in-memory records ----

  #markDirty(id: string, urgent: boolean): void {
    this.#dirty.set(id, urgent || (this.#dirty.get(id) ?? false));
    let pendingUrgent = 0;
    if (urgent) for (const u of this.#dirty.values()) if (u) pendingUrgent++;
    if (pendingUrgent >= URGENT_BATCH && !this.#failing) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#runIo(() => this.#persist(false)).catch((err: unknown) => this.#log('error', 'cannot write the sightings log', { error: (err as Error).message }));
    }
    this.#schedule();
  }

  #applyChange(entry: Entry, change: SightingChange): void {
    if (typeof change !== 'object' || change === null) throw invalid('sighting change must be an object');
    const at = checkTime(change.at, 'at');
    const box = change.box === undefined ? undefined : checkBox(change.box);
    const confidence = change.confidence === undefined ? undefined : checkConfidence(change.confidence);
    const conceptId = change.conceptId === undefined ? undefined : checkConceptId(change.conceptId);
    if (conceptId !== undefined && conceptId !== null && conceptId !== entry.rec.conceptId) this.#check?.(conceptId);
    const rec = entry.rec;
    // Frames can arrive out of order across cameras: keep the latest time.
    rec.lastSeen = Math.max(rec.lastSeen, at);
    if (box !== undefined) rec.box = box;
    if (confidence !== undefined) rec.confidence = confidence;
    let urgent = false;
    if (conceptId !== undefined && conceptId !== rec.conceptId) {
      this.#unindex(rec);
      rec.conceptId = conceptId;
      this.#index(rec);
      urgent = true;
    }
    this.#markDirty(rec.id, urgent);
  }

  #openEntry(id: string): Entry {
    const entry = this.#records.get(id);
    if (entry === undefined) throw new FamiliarError('NOT_FOUND', `no sighting with id ${String(id)}`);
    if (!entry.rec.open) throw invalid(`sighting ${id} is closed`);
    return entry;
  }

  #insert(entry: Entry): void {
    this.#records.set(entry.rec.id, entry);
    this.#index(entry.rec);
  }

  #delete(id: string): void {
    const entry = this.#records.get(id);
    if (entry === undefined) return;
    this.#records.delete(id);
    this.#dirty.delete(id);
    this.#unindex(entry.rec);
  }

  #index(rec: Sighting): void {
    let ids = this.#byConcept.get(rec.conceptId);
    if (ids === undefined) this.#byConcept.set(rec.conceptId, (ids = new Set()));
    ids.add(rec.id);
  }

  #unindex(rec: Sighting): void {
    const ids = this.#byConcept.get(rec.conceptId);
    ids?.delete(rec.id);
    if (ids?.size === 0) this.#byConcept.delete(rec.conceptId);
  }

  /** Drops records past retention; returns how many. */
  #expire(): number {
    const cutoff = this.#now() - this.#retentionMs;
    let n = 0;
    for (const [id, { rec }] of this.#records) {
      if (rec.lastSeen < cutoff) {
        this.#delete(id);
        n++;
      }
    }
    return n;
  }

  /** Drops the records last seen longest ago until at most maxRecords remain (never `keep`); returns how many. */
  #enforceCap(keep: string | undefined): number {
    let n = 0;
    while (this.#records.size > this.#maxRecords) {
      let oldest: Sighting | undefined;
      for (const { rec } of this.#records.values()) if (rec.id !== keep && (oldest === undefined || rec.lastSeen < oldest.lastSeen)) oldest = rec;
      if (oldest === undefined) break;
      this.#delete(oldest.id);
      n++;
      // The file still holds it until the next compaction; a reload applies the same cap.
    }
    return n;
  }

  #assertWritable(): void {
    if (this.#closed) throw new FamiliarError('STORE_IO', `the sightings log ${this.file} is closed`);
    if (this.readOnly) throw new FamiliarError('STORE_IO', `the sightings log ${this.file} is opened read-only`);
  }
}

function invalid(message: string): FamiliarError {
  return new FamiliarError('INPUT_INVALID', message);
}

function copy(rec: Sighting): Sighting {
  return { ...rec, box: { ...rec.box } };
}

function checkTime(t: unknown, what: string): number {
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) throw invalid(`${what} must be a non-negative number of epoch milliseconds`);
  return t;
}

function checkText(s: unknown, what: string, allowEmpty: boolean): string {
  if (typeof s !== 'string' || s.length > MAX_TEXT || (!allowEmpty && s.length === 0)) throw invalid(`${what} must be a ${allowEmpty ? '' : 'non-empty '}string of at most ${MAX_TEXT} characters`);
  return s;
}

function checkConceptId(id: unknown): string | null {
  if (id === null) return null;
  return checkText(id, 'conceptId', false);
}

function checkBox(b: unknown): Box {
  const box = b as Box;
  if (typeof box !== 'object' || box === null || ![box.xmin, box.ymin, box.xmax, box.ymax].every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw invalid('box must have finite xmin, ymin, xmax, ymax');
  }
  return { xmin: box.xmin, ymin: box.ymin, xmax: box.xmax, ymax: box.ymax };
}

function checkConfidence(c: unknown): number {
  if (typeof c !== 'number' || !(c >= 0 && c <= 1)) throw invalid('confidence must be a number in [0, 1]');
  return c;
}

/** A verified line's record as a sighting, or undefined when its shape is wrong. */
function decodeSighting(raw: unknown): Sighting | undefined {
  try {
    const s = raw as Sighting;
    if (typeof s !== 'object' || s === null) return undefined;
    return {
      id: checkText(s.id, 'id', false),
      conceptId: checkConceptId(s.conceptId),
      trackId: checkText(s.trackId, 'trackId', false),
      cameraId: checkText(s.cameraId, 'cameraId', false),
      room: checkText(s.room, 'room', true),
      firstSeen: checkTime(s.firstSeen, 'firstSeen'),
      lastSeen: checkTime(s.lastSeen, 'lastSeen'),
      box: checkBox(s.box),
      confidence: checkConfidence(s.confidence),
      open: s.open === true,
    };
  } catch {
    return undefined;
  }
}
