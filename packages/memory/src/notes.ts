import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { FamiliarError, silentLogger, type Logger, type Note, type Sighting } from '@familiar/contracts';
import { MemoryConfig } from '@familiar/config';
import { checkConceptRef, checkText, checkTime, DAY_MS, invalid, type ConceptCheck } from './checks.ts';
import { JsonlFile, type JsonlSpec } from './jsonl.ts';
import { mentionsAny, redactNames } from '@familiar/language';
import type { SightingsLog } from './sightings.ts';

/**
 * Who is reading notes: the speaker keys that count as "me" (a member's name and person id). Private notes of
 * other speakers are left out. Absent: a reader who sees everything (the control role, the runtime itself).
 */
export interface NoteReader {
  speakers: readonly string[];
}

/** The reader for a household member (null: no member, household notes only): their name and person id count as "me". */
export function noteReaderOf(member: string | null, concepts: readonly { id: string; name: string; kind: string }[]): NoteReader {
  if (member === null) return { speakers: [] };
  const key = member.normalize('NFKC').trim().toLowerCase();
  const person = concepts.find((c) => c.kind === 'person' && c.name.normalize('NFKC').trim().toLowerCase() === key);
  return { speakers: [member, ...(person ? [person.id] : [])] };
}

/** Whether `reader` may read `note`. */
export function noteVisibleTo(note: Pick<Note, 'visibility' | 'speaker'>, reader: NoteReader | undefined): boolean {
  return note.visibility !== 'private' || reader === undefined || (note.speaker !== null && reader.speakers.includes(note.speaker));
}

/** A note to record: id is assigned; `at` defaults to now. */
export interface NewNote {
  conceptIds: readonly string[];
  speaker?: string | null;
  text: string;
  at?: number;
  cameraId?: string;
  room?: string;
  activity?: string;
  visibility?: 'private' | 'household';
}

export interface NotesOptions {
  retentionDays?: number;
  maxRecords?: number;
  /** Most notes of one speaker (null speakers count as one); past it that speaker's own oldest note goes. */
  maxPerSpeaker?: number;
  maxTextLength?: number;
  /** Visits within this many ms of a mention count as "in view at the time". */
  mentionWindowMs?: number;
  /** Validates concept ids of new notes (the {@link Memory} facade checks they are enrolled). */
  checkConcept?: ConceptCheck;
  /** Open without repairing or writing anything; every change is rejected with STORE_IO. */
  readOnly?: boolean;
  log?: Logger;
  now?: () => number;
}

/** What {@link NotesLog.open} found and repaired. */
export interface NotesOpenReport {
  records: number;
  droppedLines: number;
  quarantined?: string;
  /** Notes dropped for retention or the record cap. */
  expired: number;
  tempFilesRemoved: string[];
}

/** The answer to "what was going on when I last mentioned X?". */
export interface MentionRecall {
  /** The newest note about the concept. */
  note: Note;
  /** The speaker's own visit around the time (when the speaker is a person concept seen by a camera). */
  speakerVisit?: Sighting;
  /** Where it was said: the note's camera, else the camera the speaker was seen by. */
  cameraId?: string;
  room?: string;
  /** What the speaker was doing (the note's activity). */
  activity?: string;
  /** Everyone and everything else seen by that camera within the mention window (unknown persons have conceptId null), closest in time first. */
  inView: Sighting[];
}

/** What a concept's removal changed. */
export interface NoteRemoval {
  /** Notes that were only about the concept. */
  deleted: number;
  /** Notes that lost the concept id, its speaker or its name. */
  edited: number;
}

const SPEC: JsonlSpec = { format: 'familiar.notes', version: 1, key: 'n' };
const DEFAULTS = MemoryConfig.parse({});
const MAX_CONCEPTS_PER_NOTE = 64;
const MAX_FIELD = 200;
const MAX_ACTIVITY = 1000;
const MAX_LIST = 10_000;
/** The log is rewritten once it has this many more lines than twice the live notes. */
const COMPACT_SLACK = 500;
const MAINTENANCE_MS = 60 * 60 * 1000;

/**
 * Notes about concepts: kept in memory (bounded by `maxRecords`, oldest dropped first; deleted after
 * `retentionDays`) and persisted as a checksummed JSON-lines log. `add` resolves once the note is fsynced.
 * All changes run one at a time in order, so a note added while its concept is being forgotten cannot
 * survive the forgetting.
 */
export class NotesLog {
  readonly file: string;
  readonly report: NotesOpenReport;
  readonly readOnly: boolean;
  readonly #retentionMs: number;
  readonly #maxRecords: number;
  readonly #maxPerSpeaker: number;
  readonly #maxText: number;
  readonly #windowMs: number;
  readonly #check: ConceptCheck | undefined;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #notes = new Map<string, Note>();
  readonly #byConcept = new Map<string, Set<string>>();
  #jsonl: JsonlFile | undefined;
  #io: Promise<unknown> = Promise.resolve();
  #maintenance: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(file: string, options: NotesOptions) {
    this.file = file;
    this.readOnly = options.readOnly === true;
    this.#retentionMs = (options.retentionDays ?? DEFAULTS.noteRetentionDays) * DAY_MS;
    this.#maxRecords = options.maxRecords ?? DEFAULTS.noteMaxRecords;
    this.#maxPerSpeaker = options.maxPerSpeaker ?? DEFAULTS.noteMaxPerMember;
    this.#maxText = options.maxTextLength ?? DEFAULTS.noteMaxLength;
    this.#windowMs = options.mentionWindowMs ?? DEFAULTS.mentionWindowSeconds * 1000;
    this.#check = options.checkConcept;
    this.#log = options.log ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.report = { records: 0, droppedLines: 0, expired: 0, tempFilesRemoved: [] };
    if (!(this.#retentionMs > 0) || !(this.#maxRecords >= 1) || !(this.#maxText >= 1) || !(this.#windowMs >= 0)) throw invalid('notes options must be positive');
  }

  /** Opens (creating if needed) the log in `file`, repairing what a crash left behind. */
  static async open(file: string, options: NotesOptions = {}): Promise<NotesLog> {
    const notes = new NotesLog(path.resolve(file), options);
    await notes.#load();
    if (!notes.readOnly) {
      notes.#maintenance = setInterval(() => {
        notes.prune().catch((err: unknown) => notes.#log('error', 'notes retention failed', { error: (err as Error).message }));
      }, MAINTENANCE_MS);
      notes.#maintenance.unref();
    }
    return notes;
  }

  get size(): number {
    return this.#notes.size;
  }

  /** Records a note; resolves with it once it is on disk. INPUT_INVALID / CONCEPT_NOT_FOUND for bad input. */
  add(input: NewNote): Promise<Note> {
    let note: Note;
    try {
      this.#assertWritable();
      note = this.#validate(input);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#run(async () => {
      await this.#jsonl!.append([note]);
      this.#insert(note);
      if (this.#enforceSpeakerQuota(note) + this.#enforceCap(note.id) > 0) await this.#compactIfLarge();
      return copy(note);
    });
  }

  get(id: string): Note | undefined {
    const n = this.#notes.get(id);
    return n === undefined ? undefined : copy(n);
  }

  /** The notes about a concept that `reader` may read, newest first. */
  forConcept(conceptId: string, limit = 20, reader?: NoteReader): Note[] {
    checkLimit(limit);
    const ids = this.#byConcept.get(conceptId) ?? [];
    return newestFirst([...ids].map((id) => this.#notes.get(id)!).filter((n) => noteVisibleTo(n, reader)), limit);
  }

  /** The newest notes of all, or of one speaker. */
  recent(limit = 20, speaker?: string): Note[] {
    checkLimit(limit);
    const all = [...this.#notes.values()];
    return newestFirst(speaker === undefined ? all : all.filter((n) => n.speaker === speaker), limit);
  }

  /**
   * The last time a concept was mentioned and, given the sightings, what was going on: where the speaker
   * was (their visit overlapping the mention), and who or what else that camera saw within the mention
   * window. Undefined when the concept was never mentioned.
   */
  lastMention(conceptId: string, sightings?: Pick<SightingsLog, 'during'>, reader?: NoteReader): MentionRecall | undefined {
    const note = this.forConcept(conceptId, 1, reader)[0];
    if (note === undefined) return undefined;
    const recall: MentionRecall = { note, inView: [] };
    if (note.activity !== undefined) recall.activity = note.activity;
    const from = note.at - this.#windowMs;
    const to = note.at + this.#windowMs;
    const distance = (v: Sighting): number => (note.at < v.firstSeen ? v.firstSeen - note.at : note.at > v.lastSeen ? note.at - v.lastSeen : 0);
    if (sightings !== undefined && note.speaker !== null) {
      const own = sightings.during({ from, to, conceptId: note.speaker, limit: 1000 });
      own.sort((a, b) => Number(b.cameraId === note.cameraId) - Number(a.cameraId === note.cameraId) || distance(a) - distance(b));
      if (own[0] !== undefined) recall.speakerVisit = own[0];
    }
    const cameraId = note.cameraId ?? recall.speakerVisit?.cameraId;
    const room = note.room ?? recall.speakerVisit?.room;
    if (cameraId !== undefined) recall.cameraId = cameraId;
    if (room !== undefined) recall.room = room;
    if (sightings !== undefined && cameraId !== undefined) {
      recall.inView = sightings
        .during({ from, to, cameraId, limit: 1000 })
        .filter((v) => note.speaker === null || v.conceptId !== note.speaker)
        .sort((a, b) => distance(a) - distance(b));
    }
    return recall;
  }

  /**
   * Erases a concept from the notes, on disk before the promise resolves: its id is removed from every
   * note (notes left about nothing are deleted), notes it spoke lose their speaker, and `names` (its
   * name, aliases) are redacted from the text and activity of every remaining note.
   */
  removeConcept(conceptId: string, names: readonly string[] = []): Promise<NoteRemoval> {
    try {
      this.#assertWritable();
      checkText(conceptId, 'conceptId', MAX_FIELD);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#run(async () => {
      const result: NoteRemoval = { deleted: 0, edited: 0 };
      for (const note of [...this.#notes.values()]) {
        const about = note.conceptIds.includes(conceptId);
        if (about && note.conceptIds.length === 1) {
          this.#delete(note.id);
          result.deleted++;
          continue;
        }
        const named = names.length > 0 && (mentionsAny(note.text, names) || (note.activity !== undefined && mentionsAny(note.activity, names)));
        if (!about && note.speaker !== conceptId && !named) continue;
        this.#delete(note.id);
        const next: Note = { ...note, conceptIds: note.conceptIds.filter((id) => id !== conceptId), speaker: note.speaker === conceptId ? null : note.speaker };
        if (named) {
          next.text = redactNames(note.text, names);
          if (note.activity !== undefined) next.activity = redactNames(note.activity, names);
        }
        this.#insert(next);
        result.edited++;
      }
      if (result.deleted + result.edited > 0) await this.#rewrite();
      return result;
    });
  }

  /** Deletes notes past retention (rewriting the log when any went). Resolves with the count. */
  prune(): Promise<number> {
    try {
      this.#assertWritable();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#run(async () => {
      const n = this.#expire();
      if (n > 0) await this.#rewrite();
      return n;
    });
  }

  /** Waits for pending writes and closes the file. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#maintenance);
    await this.#io.catch(() => undefined);
    await this.#jsonl?.close();
  }

  async #load(): Promise<void> {
    const { jsonl, loaded } = await JsonlFile.open(this.file, SPEC, { readOnly: this.readOnly, log: this.#log, now: this.#now });
    this.#jsonl = jsonl;
    this.report.droppedLines = loaded.droppedLines;
    this.report.tempFilesRemoved = loaded.tempFilesRemoved;
    if (loaded.quarantined !== undefined) this.report.quarantined = loaded.quarantined;
    let rewrite = loaded.needsRewrite;
    for (const raw of loaded.records) {
      const note = decodeNote(raw);
      if (note === undefined) {
        this.report.droppedLines++;
        rewrite = true;
        continue;
      }
      // A later line for the same id replaces the earlier one.
      this.#delete(note.id);
      this.#insert(note);
    }
    this.report.expired = this.#expire() + this.#enforceCap(undefined);
    if (this.report.expired > 0 || jsonl.lines > 2 * this.#notes.size + COMPACT_SLACK) rewrite = true;
    this.report.records = this.#notes.size;
    if (rewrite && !this.readOnly) await this.#rewrite();
  }

  #validate(input: NewNote): Note {
    if (typeof input !== 'object' || input === null) throw invalid('a note must be an object');
    if (!Array.isArray(input.conceptIds) || input.conceptIds.length === 0 || input.conceptIds.length > MAX_CONCEPTS_PER_NOTE) {
      throw invalid(`conceptIds must be an array of 1..${MAX_CONCEPTS_PER_NOTE} concept ids`);
    }
    const conceptIds = [...new Set(input.conceptIds.map((id) => checkConceptRef(id, this.#check)))];
    const speaker = input.speaker === undefined || input.speaker === null ? null : checkText(input.speaker, 'speaker', MAX_FIELD);
    const note: Note = {
      id: randomUUID(),
      conceptIds,
      speaker,
      text: checkText(input.text, 'text', this.#maxText),
      at: input.at === undefined ? this.#now() : checkTime(input.at, 'at'),
    };
    if (input.cameraId !== undefined) note.cameraId = checkText(input.cameraId, 'cameraId', MAX_FIELD);
    if (input.room !== undefined) note.room = checkText(input.room, 'room', MAX_FIELD, true);
    if (input.activity !== undefined) note.activity = checkText(input.activity, 'activity', MAX_ACTIVITY, true);
    if (input.visibility !== undefined && input.visibility !== 'private' && input.visibility !== 'household') throw invalid('visibility must be "private" or "household"');
    if (input.visibility === 'private') note.visibility = 'private';
    return note;
  }

  #run<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#io.then(op);
    this.#io = run.catch(() => undefined);
    return run;
  }

  async #rewrite(): Promise<void> {
    await this.#jsonl!.rewrite([...this.#notes.values()]);
  }

  async #compactIfLarge(): Promise<void> {
    if (this.#jsonl!.lines > 2 * this.#notes.size + COMPACT_SLACK) await this.#rewrite();
  }

  #insert(note: Note): void {
    this.#notes.set(note.id, note);
    for (const id of note.conceptIds) {
      let set = this.#byConcept.get(id);
      if (set === undefined) this.#byConcept.set(id, (set = new Set()));
      set.add(note.id);
    }
  }

  #delete(id: string): void {
    const note = this.#notes.get(id);
    if (note === undefined) return;
    this.#notes.delete(id);
    for (const c of note.conceptIds) {
      const set = this.#byConcept.get(c);
      set?.delete(id);
      if (set?.size === 0) this.#byConcept.delete(c);
    }
  }

  #expire(): number {
    const cutoff = this.#now() - this.#retentionMs;
    let n = 0;
    for (const note of [...this.#notes.values()]) {
      if (note.at < cutoff) {
        this.#delete(note.id);
        n++;
      }
    }
    return n;
  }

  /**
   * Drops the speaker's own oldest notes until it has at most maxPerSpeaker (never `note`): one member
   * adding notes in a loop evicts only their own, not the household's.
   */
  #enforceSpeakerQuota(note: Note): number {
    const mine = [...this.#notes.values()].filter((n) => n.speaker === note.speaker && n.id !== note.id);
    const excess = mine.length + 1 - this.#maxPerSpeaker;
    if (excess <= 0) return 0;
    const oldest = mine.sort((a, b) => a.at - b.at).slice(0, excess);
    for (const n of oldest) this.#delete(n.id);
    return oldest.length;
  }

  /** Drops the oldest notes until at most maxRecords remain (never `keep`); returns how many. */
  #enforceCap(keep: string | undefined): number {
    const excess = this.#notes.size - this.#maxRecords;
    if (excess <= 0) return 0;
    const oldest = [...this.#notes.values()].filter((n) => n.id !== keep).sort((a, b) => a.at - b.at).slice(0, excess);
    for (const n of oldest) this.#delete(n.id);
    return oldest.length;
  }

  #assertWritable(): void {
    if (this.#closed) throw new FamiliarError('STORE_IO', `the notes log ${this.file} is closed`);
    if (this.readOnly) throw new FamiliarError('STORE_IO', `the notes log ${this.file} is opened read-only`);
  }
}

function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST) throw invalid(`limit must be an integer in 1..${MAX_LIST}`);
}

function newestFirst(notes: Note[], limit: number): Note[] {
  return notes.sort((a, b) => b.at - a.at).slice(0, limit).map(copy);
}

function copy(n: Note): Note {
  return { ...n, conceptIds: [...n.conceptIds] };
}

function decodeNote(raw: unknown): Note | undefined {
  try {
    const n = raw as Note;
    if (typeof n !== 'object' || n === null || !Array.isArray(n.conceptIds) || n.conceptIds.length === 0) return undefined;
    const note: Note = {
      id: checkText(n.id, 'id', MAX_FIELD),
      conceptIds: n.conceptIds.map((id) => checkText(id, 'conceptId', MAX_FIELD)),
      speaker: n.speaker === null ? null : checkText(n.speaker, 'speaker', MAX_FIELD),
      text: checkText(n.text, 'text', 1_000_000),
      at: checkTime(n.at, 'at'),
    };
    if (n.cameraId !== undefined) note.cameraId = checkText(n.cameraId, 'cameraId', MAX_FIELD);
    if (n.room !== undefined) note.room = checkText(n.room, 'room', MAX_FIELD, true);
    if (n.activity !== undefined) note.activity = checkText(n.activity, 'activity', 1_000_000, true);
    if (n.visibility === 'private') note.visibility = 'private';
    return note;
  } catch {
    return undefined;
  }
}
