import { readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { FamiliarError, silentLogger, type Logger } from '@familiar/contracts';
import { MemoryConfig } from '@familiar/config';
import { fsyncDir, readVerified, removeFileDurable, storeIoError, writeFileAtomic, writeVerified, type EnvelopeSpec } from './atomic.ts';
import type { ConceptCheck } from './checks.ts';
import { ConceptStore, notFound, type ConceptStoreOptions } from './concept-store.ts';
import { LOCK_FILE_NAME, StoreLock } from './lock.ts';
import { foldText } from '@familiar/language';
import { NotesLog, type NoteRemoval } from './notes.ts';
import { PreferenceStore } from './preferences.ts';
import { SightingsLog } from './sightings.ts';
import { TriggerStore, type TriggerRemoval } from './triggers.ts';
import { ThumbnailStore } from './thumbnails.ts';
import { UnknownVisitors } from './unknowns.ts';

/** The fixed layout of a store directory. */
export const MEMORY_FILES = Object.freeze({
  lock: LOCK_FILE_NAME,
  /** One checksummed file per concept. */
  concepts: 'concepts',
  /** HNSW index caches (derived from the concepts). */
  index: 'index',
  sightings: 'sightings.jsonl',
  notes: 'notes.jsonl',
  triggers: 'triggers.json',
  preferences: 'preferences.json',
  /** One checksummed file per provisional unknown identity. */
  unknowns: 'unknowns',
  /** One small JPEG per concept, only outside embeddings-only mode. */
  thumbnails: 'thumbnails',
  /** Present only while a forget is in progress (resumed at the next open after a crash). */
  forgetJournal: 'forgetting.json',
  /** Zero bytes kept so a forget can write its journal on a full disk (given up then, restored after). */
  forgetReserve: 'forget.reserve',
});

export interface MemoryOptions {
  /** The memory section of the configuration (retention, caps, thresholds); defaults for what is absent. */
  config?: Partial<MemoryConfig>;
  /** Concept store options, e.g. `{ ...config.store, dims }`. */
  concepts?: Omit<ConceptStoreOptions, 'lock' | 'readOnly' | 'log' | 'now'>;
  /**
   * Open a snapshot without taking the lock: nothing is repaired or written, every change is rejected with
   * STORE_IO (for CLI listings and evaluations beside a running runtime).
   */
  readOnly?: boolean;
  /** Keep a small thumbnail per concept (config `store.embeddingsOnly: false`). Default: embeddings only, no image data at all. */
  keepThumbnails?: boolean;
  log?: Logger;
  /** Clock (tests). */
  now?: () => number;
}

/** What {@link Memory.forgetConcept} erased. */
export interface ForgetReport {
  conceptId: string;
  name: string;
  sightings: number;
  notes: NoteRemoval;
  triggers: TriggerRemoval;
  /** Whether preferences (its own, or others' naming it) changed. */
  preferences: boolean;
  /** Whether its thumbnail was erased. */
  thumbnail: boolean;
  /** Quarantined (corrupt) files that held the concept's id or name, deleted. */
  quarantinedDeleted: string[];
}

interface ForgetJournal {
  conceptId: string;
  names: string[];
}

/** Space kept free for a forget journal on a full disk (a journal is a few hundred bytes; files take whole blocks). */
const FORGET_RESERVE_BYTES = 64 * 1024;
const JOURNAL_SPEC: EnvelopeSpec = { format: 'familiar.forget-journal', version: 1 };
const MAX_ALIASES = 32;

/**
 * Everything Familiar remembers, under one store directory with fixed file names ({@link MEMORY_FILES}):
 * enrolled concepts, sightings, notes, triggers, preferences and unknown visitors. Opening takes the
 * directory's lock (a second writer fails with STORE_IO "in use by process N"); the stores are wired to
 * each other so notes, triggers, preferences and sightings accept only enrolled concept ids (preferences:
 * persons only). {@link forgetConcept} erases every trace of a concept.
 *
 * Use the parts directly: `memory.concepts.add(…)`, `memory.notes.add(…)`, `memory.triggers.onAppeared(…)`.
 */
export class Memory {
  readonly dir: string;
  readonly readOnly: boolean;
  readonly concepts: ConceptStore;
  readonly sightings: SightingsLog;
  readonly notes: NotesLog;
  readonly triggers: TriggerStore;
  readonly preferences: PreferenceStore;
  readonly unknowns: UnknownVisitors;
  readonly thumbnails: ThumbnailStore;
  readonly #lock: StoreLock | undefined;
  readonly #log: Logger;
  #forgetting: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(dir: string, readOnly: boolean, lock: StoreLock | undefined, log: Logger, parts: MemoryParts) {
    this.dir = dir;
    this.readOnly = readOnly;
    this.#lock = lock;
    this.#log = log;
    this.concepts = parts.concepts;
    this.sightings = parts.sightings;
    this.notes = parts.notes;
    this.triggers = parts.triggers;
    this.preferences = parts.preferences;
    this.unknowns = parts.unknowns;
    this.thumbnails = parts.thumbnails;
  }

  /**
   * Opens (creating if needed) the store in `dir`: takes the lock (unless read-only), opens every part
   * (each repairs what a crash left behind and reports it in its `report`), and finishes a forget that a
   * crash interrupted.
   */
  static async open(dir: string, options: MemoryOptions = {}): Promise<Memory> {
    const root = path.resolve(dir);
    const readOnly = options.readOnly === true;
    const log = options.log ?? silentLogger;
    const now = options.now ?? Date.now;
    const parsed = MemoryConfig.safeParse(options.config ?? {});
    if (!parsed.success) throw new FamiliarError('CONFIG_INVALID', `memory options: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const cfg = parsed.data;
    const lock = readOnly ? undefined : await StoreLock.acquire(root, { log, now });
    const opened: Array<{ close(): Promise<void> }> = [];
    const track = <T extends { close(): Promise<void> }>(part: T): T => {
      opened.push(part);
      return part;
    };
    try {
      const common = { readOnly, log, now };
      const concepts = track(await ConceptStore.open(root, { ...options.concepts, ...common, lock: false }));
      const enrolled: ConceptCheck = (id) => {
        if (!concepts.has(id)) throw notFound(id);
      };
      const person: ConceptCheck = (id) => {
        const kind = concepts.kindOf(id);
        if (kind === undefined) throw notFound(id);
        if (kind !== 'person') throw new FamiliarError('INPUT_INVALID', `preferences are kept for persons only; ${id} is a ${kind}`, { details: { id } });
      };
      const sightings = track(
        await SightingsLog.open(path.join(root, MEMORY_FILES.sightings), {
          ...common,
          retentionDays: cfg.sightingRetentionDays,
          maxRecords: cfg.sightingMaxRecords,
          flushMs: cfg.sightingFlushMs,
          updatePersistMs: cfg.sightingUpdatePersistMs,
          checkConcept: enrolled,
        }),
      );
      const notes = track(
        await NotesLog.open(path.join(root, MEMORY_FILES.notes), {
          ...common,
          retentionDays: cfg.noteRetentionDays,
          maxRecords: cfg.noteMaxRecords,
          maxPerSpeaker: cfg.noteMaxPerMember,
          maxTextLength: cfg.noteMaxLength,
          mentionWindowMs: cfg.mentionWindowSeconds * 1000,
          checkConcept: enrolled,
        }),
      );
      const triggers = track(
        await TriggerStore.open(path.join(root, MEMORY_FILES.triggers), {
          ...common,
          maxTriggers: cfg.triggerMaxCount,
          maxPerCreator: cfg.triggerMaxPerMember,
          cooldownMs: cfg.triggerCooldownSeconds * 1000,
          retentionDays: cfg.triggerRetentionDays,
          checkConcept: enrolled,
        }),
      );
      const preferences = track(await PreferenceStore.open(path.join(root, MEMORY_FILES.preferences), { ...common, maxPerList: cfg.preferenceMaxPerList, checkConcept: person }));
      const faceDim = options.concepts?.dims?.face;
      const unknowns = track(
        await UnknownVisitors.open(path.join(root, MEMORY_FILES.unknowns), {
          ...common,
          joinSimilarity: cfg.unknownJoinSimilarity,
          meanSimilarity: cfg.unknownMeanSimilarity,
          viewsPerGroup: cfg.unknownViewsPerGroup,
          maxGroups: cfg.unknownMaxGroups,
          retentionDays: cfg.unknownRetentionDays,
          enabled: cfg.unknownVisitorsEnabled,
          visitGapMs: cfg.unknownVisitGapSeconds * 1000,
          ...(faceDim === undefined ? {} : { dim: faceDim }),
        }),
      );
      const thumbnails = track(await ThumbnailStore.open(path.join(root, MEMORY_FILES.thumbnails), { keep: options.keepThumbnails === true, readOnly }));
      const memory = new Memory(root, readOnly, lock, log, { concepts, sightings, notes, triggers, preferences, unknowns, thumbnails });
      if (!readOnly) {
        await memory.#resumeForget();
        await memory.#ensureReserve();
        // A thumbnail whose concept is gone (a crash between the two writes of an enrolment or a forget).
        for (const id of await thumbnails.ids()) if (!concepts.has(id)) await thumbnails.remove(id);
      }
      return memory;
    } catch (err) {
      for (const part of opened.reverse()) await part.close().catch(() => undefined);
      await lock?.release().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Erases every trace of a concept, in memory and on disk, before the promise resolves: the concept (views,
   * thresholds, index caches, quarantined copies), its sightings, its notes (its id is removed; notes left
   * about nothing are deleted; notes it spoke lose their speaker), triggers for or by it, its preferences,
   * every quarantined file holding its id or name, and its name (plus `aliases`) wherever it appears in
   * other notes, trigger messages and preferences ("Grandma's cake" → "someone's cake"). The concept leaves
   * the gallery first, so recognition stops at once; a crash midway is finished at the next open.
   * CONCEPT_NOT_FOUND for an unknown id.
   */
  forgetConcept(conceptId: string, aliases: readonly string[] = []): Promise<ForgetReport> {
    const run = this.#forgetting.then(async () => {
      this.#assertWritable();
      if (!Array.isArray(aliases) || aliases.length > MAX_ALIASES || !aliases.every((a) => typeof a === 'string' && a.trim().length > 0)) {
        throw new FamiliarError('INPUT_INVALID', `aliases must be up to ${MAX_ALIASES} non-empty strings`);
      }
      const concept = this.concepts.get(conceptId);
      const journal: ForgetJournal = { conceptId, names: [...new Set([concept.name, ...aliases.map((a) => a.trim())])] };
      await this.#writeJournal(journal);
      const report = await this.#erase(journal, concept.name);
      await this.#ensureReserve();
      return report;
    });
    this.#forgetting = run.catch(() => undefined);
    return run;
  }

  /** Closes every part (flushing pending writes) and releases the lock. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#forgetting;
    const errors: unknown[] = [];
    for (const part of [this.thumbnails, this.unknowns, this.preferences, this.triggers, this.notes, this.sightings, this.concepts]) {
      await part.close().catch((err: unknown) => errors.push(err));
    }
    await this.#lock?.release().catch((err: unknown) => errors.push(err));
    if (errors.length > 0) throw errors[0];
  }

  async #erase(journal: ForgetJournal, name: string): Promise<ForgetReport> {
    const { conceptId, names } = journal;
    if (this.concepts.has(conceptId)) await this.concepts.remove(conceptId);
    const triggers = await this.triggers.removeConcept(conceptId, names);
    const preferences = await this.preferences.removeConcept(conceptId, names);
    const notes = await this.notes.removeConcept(conceptId, names);
    const sightings = await this.sightings.removeConcept(conceptId);
    const thumbnail = await this.thumbnails.remove(conceptId);
    const quarantinedDeleted = await this.#deleteQuarantined([conceptId, ...names]);
    await removeFileDurable(this.#journalFile());
    return { conceptId, name, sightings, notes, triggers, preferences, thumbnail, quarantinedDeleted };
  }

  async #resumeForget(): Promise<void> {
    let journal: ForgetJournal | undefined;
    try {
      journal = decodeJournal(await readVerified(this.#journalFile(), JOURNAL_SPEC));
    } catch (err) {
      // An unreadable journal: the write of it was torn, so the forget never started (the concept is intact).
      if (!(err instanceof FamiliarError) || err.code !== 'STORE_CORRUPT' || err.details?.reason === 'version') throw err;
      this.#log('warn', 'deleting an unreadable forget journal (its forget never started)', { error: err.message });
      await removeFileDurable(this.#journalFile());
      return;
    }
    if (journal === undefined) return;
    this.#log('info', 'finishing a forget interrupted by a crash', { concept_id: journal.conceptId });
    await this.#erase(journal, journal.names[0] ?? '');
  }

  /** Deletes quarantined files anywhere in the store that contain any of the needles (case- and accent-insensitive). */
  async #deleteQuarantined(needles: readonly string[]): Promise<string[]> {
    const folded = needles.map((n) => foldText(n)).filter((n) => n.length > 0);
    const deleted: string[] = [];
    const walk = async (dir: string, depth: number): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (cause) {
        throw storeIoError('list', dir, cause);
      }
      let removedHere = false;
      for (const e of entries) {
        const file = path.join(dir, e.name);
        if (e.isDirectory() && depth < 4) await walk(file, depth + 1);
        else if (e.isFile() && e.name.includes('.corrupt-')) {
          let text: string;
          try {
            text = foldText(await readFile(file, 'utf8'));
          } catch (cause) {
            throw storeIoError('read', file, cause);
          }
          if (folded.some((n) => text.includes(n))) {
            await rm(file, { force: true });
            deleted.push(file);
            removedHere = true;
          }
        }
      }
      if (removedHere) await fsyncDir(dir);
    };
    await walk(this.dir, 0);
    return deleted;
  }

  #journalFile(): string {
    return path.join(this.dir, MEMORY_FILES.forgetJournal);
  }

  /**
   * Writes the forget journal. Forgetting must work most of all when the disk is full (it is how space comes
   * back), but the journal is a new file: on ENOSPC the reserve file kept for this is given up and the write
   * tried once more.
   */
  async #writeJournal(journal: ForgetJournal): Promise<void> {
    try {
      await writeVerified(this.#journalFile(), JOURNAL_SPEC, journal);
    } catch (err) {
      if ((err as FamiliarError).details?.errno !== 'ENOSPC') throw err;
      this.#log('warn', 'the disk is full: the forget reserve is used to write the forget journal');
      await removeFileDurable(path.join(this.dir, MEMORY_FILES.forgetReserve));
      await writeVerified(this.#journalFile(), JOURNAL_SPEC, journal);
    }
  }

  /** Keeps FORGET_RESERVE_BYTES on disk for the next forget's journal; best effort (a full disk stays without one). */
  async #ensureReserve(): Promise<void> {
    const file = path.join(this.dir, MEMORY_FILES.forgetReserve);
    try {
      if ((await stat(file).catch(() => null))?.size === FORGET_RESERVE_BYTES) return;
      await writeFileAtomic(file, new Uint8Array(FORGET_RESERVE_BYTES));
    } catch (err) {
      this.#log('warn', 'cannot keep a forget reserve (disk full?)', { error: (err as Error).message });
    }
  }

  #assertWritable(): void {
    if (this.#closed) throw new FamiliarError('STORE_IO', `the store in ${this.dir} is closed`);
    if (this.readOnly) throw new FamiliarError('STORE_IO', `the store in ${this.dir} is opened read-only`);
  }
}

interface MemoryParts {
  concepts: ConceptStore;
  sightings: SightingsLog;
  notes: NotesLog;
  triggers: TriggerStore;
  preferences: PreferenceStore;
  unknowns: UnknownVisitors;
  thumbnails: ThumbnailStore;
}

function decodeJournal(payload: unknown): ForgetJournal | undefined {
  if (payload === undefined) return undefined;
  const p = payload as Partial<ForgetJournal>;
  if (typeof p !== 'object' || p === null || typeof p.conceptId !== 'string' || !Array.isArray(p.names) || !p.names.every((n) => typeof n === 'string')) {
    throw new FamiliarError('STORE_CORRUPT', 'malformed forget journal', { details: { reason: 'schema' } });
  }
  return { conceptId: p.conceptId, names: p.names };
}
