import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { FamiliarError, silentLogger, type Logger } from '@familiar/contracts';
import { MemoryConfig } from '@familiar/config';
import { capError, checkConceptRef, checkText, checkTime, DAY_MS, invalid, type ConceptCheck } from './checks.ts';
import { foldText, mentionsAny, redactNames } from '@familiar/language';
import { SnapshotFile, type SnapshotOpenReport } from './snapshot.ts';

/** An instruction to say something when a concept appears (CoViP: "if Grandma shows up, remind me to call the doctor"). */
export interface Trigger {
  id: string;
  /** Who or what must appear. */
  conceptId: string;
  /** What to say when it fires. */
  message: string;
  /** Who asked: a person concept id or a client name. */
  createdBy: string;
  createdAt: number;
  /** Fire once and retire (true), or every time (false). */
  once: boolean;
  /** Only when it appears in this room (compared case- and accent-insensitively). */
  room?: string;
  /** Only when this camera sees it. */
  cameraId?: string;
  firedCount: number;
  lastFiredAt?: number;
  /** After firing, appearances within this many ms do not fire it again (a flickering track). */
  cooldownMs: number;
}

/** A trigger to add: `once` defaults to true, `cooldownMs` to the configured default. */
export interface NewTrigger {
  conceptId: string;
  message: string;
  createdBy: string;
  once?: boolean;
  room?: string;
  cameraId?: string;
  cooldownMs?: number;
  createdAt?: number;
}

/** A concept appearing in a camera's view (the perception's "appeared" scene event). */
export interface AppearanceEvent {
  conceptId: string;
  cameraId: string;
  room: string;
  /** Epoch ms. */
  at: number;
}

export interface TriggerFilter {
  conceptId?: string;
  createdBy?: string;
}

export interface TriggerOptions {
  /** Most active triggers; adding more fails with INPUT_INVALID (details.reason 'cap'). */
  maxTriggers?: number;
  /** Most active triggers with one createdBy (compared case-insensitively); more fail with RATE_LIMITED. */
  maxPerCreator?: number;
  /** Default cooldown of new triggers, ms. */
  cooldownMs?: number;
  /** Triggers neither created nor fired within this many days are deleted. */
  retentionDays?: number;
  /** Validates the concept id of new triggers (the {@link Memory} facade checks it is enrolled). */
  checkConcept?: ConceptCheck;
  readOnly?: boolean;
  log?: Logger;
  now?: () => number;
}

export interface TriggersOpenReport extends SnapshotOpenReport {
  triggers: number;
  /** Dropped for retention at open. */
  expired: number;
}

/** What a concept's removal changed. */
export interface TriggerRemoval {
  /** Triggers waiting for the concept, or created by it. */
  deleted: number;
  /** Other triggers whose message named it. */
  edited: number;
}

const SPEC = { format: 'familiar.triggers', version: 1 };
const DEFAULTS = MemoryConfig.parse({});
const MAX_MESSAGE = 1000;
const MAX_FIELD = 200;
const MAX_COOLDOWN = 30 * DAY_MS;

/**
 * Persistent triggers, all in memory and in one checksummed file (`triggers.json`) replaced atomically on
 * every change. {@link onAppeared} decides synchronously which triggers fire (so two appearances racing
 * cannot both fire a once-trigger), records the firing and retires fired once-triggers.
 */
export class TriggerStore {
  readonly file: string;
  readonly report: TriggersOpenReport;
  readonly readOnly: boolean;
  readonly #max: number;
  readonly #maxPerCreator: number;
  readonly #cooldownMs: number;
  readonly #retentionMs: number;
  readonly #check: ConceptCheck | undefined;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #triggers = new Map<string, Trigger>();
  #snapshot: SnapshotFile | undefined;
  #closed = false;

  private constructor(file: string, options: TriggerOptions) {
    this.file = file;
    this.readOnly = options.readOnly === true;
    this.#max = options.maxTriggers ?? DEFAULTS.triggerMaxCount;
    this.#maxPerCreator = options.maxPerCreator ?? DEFAULTS.triggerMaxPerMember;
    this.#cooldownMs = options.cooldownMs ?? DEFAULTS.triggerCooldownSeconds * 1000;
    this.#retentionMs = (options.retentionDays ?? DEFAULTS.triggerRetentionDays) * DAY_MS;
    this.#check = options.checkConcept;
    this.#log = options.log ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.report = { triggers: 0, expired: 0, tempFilesRemoved: [] };
    if (!(this.#max >= 1) || !(this.#cooldownMs >= 0) || !(this.#retentionMs > 0)) throw invalid('trigger options out of range');
  }

  static async open(file: string, options: TriggerOptions = {}): Promise<TriggerStore> {
    const store = new TriggerStore(path.resolve(file), options);
    const { snapshot, value, report } = await SnapshotFile.open(store.file, SPEC, {
      decode: decodeTriggers,
      encode: () => ({ triggers: [...store.#triggers.values()] }),
      readOnly: store.readOnly,
      log: store.#log,
      now: store.#now,
    });
    store.#snapshot = snapshot;
    Object.assign(store.report, report);
    for (const t of value ?? []) store.#triggers.set(t.id, t);
    store.report.expired = store.#expire();
    store.report.triggers = store.#triggers.size;
    if (!store.readOnly && (store.report.expired > 0 || report.quarantined !== undefined)) await snapshot.save();
    return store;
  }

  get size(): number {
    return this.#triggers.size;
  }

  /** Adds a trigger; resolves with it once it is on disk. INPUT_INVALID for bad fields or when the cap is reached. */
  async add(input: NewTrigger): Promise<Trigger> {
    this.#assertWritable();
    const trigger = this.#validate(input);
    this.#expire();
    // The per-member quota first: one member's reminders can never fill the household's cap.
    const creator = creatorKey(trigger.createdBy);
    let mine = 0;
    for (const t of this.#triggers.values()) if (creatorKey(t.createdBy) === creator) mine++;
    if (mine >= this.#maxPerCreator) {
      throw new FamiliarError('RATE_LIMITED', `at most ${this.#maxPerCreator} reminders per member may be active; cancel some first`, { details: { reason: 'quota', cap: this.#maxPerCreator } });
    }
    if (this.#triggers.size >= this.#max) throw capError(`at most ${this.#max} triggers may be active; cancel some first`, this.#max);
    this.#triggers.set(trigger.id, trigger);
    try {
      await this.#snapshot!.save();
    } catch (err) {
      this.#triggers.delete(trigger.id);
      throw err;
    }
    return { ...trigger };
  }

  /**
   * The active trigger a new one would repeat: same concept, room, once/every and creator, and the same message
   * up to case, accents and spacing. Callers return it instead of adding a second that would fire alongside.
   */
  duplicateOf(input: Pick<NewTrigger, 'conceptId' | 'message' | 'createdBy' | 'room' | 'once'>): Trigger | undefined {
    const fold = (s: string | undefined) => (s === undefined ? '' : foldText(s).replace(/[\s.!]+/g, ' ').trim());
    const once = input.once ?? true;
    for (const t of this.#triggers.values()) {
      if (t.conceptId !== input.conceptId || t.once !== once || fold(t.room) !== fold(input.room)) continue;
      if (fold(t.createdBy) === fold(input.createdBy) && fold(t.message) === fold(input.message)) return { ...t };
    }
    return undefined;
  }

  get(id: string): Trigger | undefined {
    const t = this.#triggers.get(id);
    return t === undefined ? undefined : { ...t };
  }

  /** Active triggers, oldest first, optionally only those for a concept or by a creator. */
  list(filter: TriggerFilter = {}): Trigger[] {
    return [...this.#triggers.values()]
      .filter((t) => (filter.conceptId === undefined || t.conceptId === filter.conceptId) && (filter.createdBy === undefined || t.createdBy === filter.createdBy))
      .sort((a, b) => a.createdAt - b.createdAt)
      .map((t) => ({ ...t }));
  }

  /** Cancels a trigger; resolves with it once the cancellation is on disk. NOT_FOUND for an unknown id. */
  async cancel(id: string): Promise<Trigger> {
    this.#assertWritable();
    const t = this.#triggers.get(id);
    if (t === undefined) throw new FamiliarError('NOT_FOUND', `no trigger with id ${String(id)}`, { details: { id } });
    this.#triggers.delete(id);
    try {
      await this.#snapshot!.save();
    } catch (err) {
      this.#triggers.set(id, t);
      throw err;
    }
    return { ...t };
  }

  /**
   * The triggers an appearance fires, oldest first: those for the concept whose room and camera filters
   * match, outside their cooldown. Firing is recorded (count, time) and fired once-triggers are retired,
   * in memory at once and on disk before the promise resolves. A failed write is logged and retried with
   * the next change; the fired triggers are returned regardless (better said than lost).
   */
  async onAppeared(event: AppearanceEvent): Promise<Trigger[]> {
    this.#assertWritable();
    if (typeof event !== 'object' || event === null) throw invalid('event must be an object');
    const conceptId = checkText(event.conceptId, 'conceptId', MAX_FIELD);
    const cameraId = checkText(event.cameraId, 'cameraId', MAX_FIELD);
    const room = foldText(checkText(event.room, 'room', MAX_FIELD, true).trim());
    const at = checkTime(event.at, 'at');
    const expired = this.#expire();
    const fired: Trigger[] = [];
    for (const t of [...this.#triggers.values()].sort((a, b) => a.createdAt - b.createdAt)) {
      if (t.conceptId !== conceptId) continue;
      if (t.room !== undefined && foldText(t.room.trim()) !== room) continue;
      if (t.cameraId !== undefined && t.cameraId !== cameraId) continue;
      // Either side: events from several cameras may arrive slightly out of order.
      if (t.lastFiredAt !== undefined && Math.abs(at - t.lastFiredAt) < t.cooldownMs) continue;
      t.firedCount++;
      t.lastFiredAt = at;
      if (t.once) this.#triggers.delete(t.id);
      fired.push({ ...t });
    }
    if (fired.length > 0 || expired > 0) {
      await this.#snapshot!.save().catch((err: unknown) => {
        this.#log('error', 'could not record fired triggers; will retry with the next change', { error: (err as Error).message, fired: fired.map((t) => t.id) });
      });
    }
    return fired;
  }

  /**
   * Erases a concept from the triggers, on disk before the promise resolves: triggers waiting for it or
   * created by it are deleted, and `names` (its name, aliases) are redacted from every other message.
   */
  async removeConcept(conceptId: string, names: readonly string[] = []): Promise<TriggerRemoval> {
    this.#assertWritable();
    checkText(conceptId, 'conceptId', MAX_FIELD);
    const result: TriggerRemoval = { deleted: 0, edited: 0 };
    for (const t of [...this.#triggers.values()]) {
      if (t.conceptId === conceptId || t.createdBy === conceptId) {
        this.#triggers.delete(t.id);
        result.deleted++;
      } else if (names.length > 0 && mentionsAny(t.message, names)) {
        t.message = redactNames(t.message, names);
        result.edited++;
      }
    }
    if (result.deleted + result.edited > 0) await this.#snapshot!.save();
    return result;
  }

  /** Deletes triggers past retention. Resolves with the count. */
  async prune(): Promise<number> {
    this.#assertWritable();
    const n = this.#expire();
    if (n > 0) await this.#snapshot!.save();
    return n;
  }

  /** Waits for pending writes; further changes are rejected. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#snapshot?.settled();
  }

  #validate(input: NewTrigger): Trigger {
    if (typeof input !== 'object' || input === null) throw invalid('a trigger must be an object');
    if (input.once !== undefined && typeof input.once !== 'boolean') throw invalid('once must be a boolean');
    const cooldownMs = input.cooldownMs ?? this.#cooldownMs;
    if (typeof cooldownMs !== 'number' || !Number.isFinite(cooldownMs) || cooldownMs < 0 || cooldownMs > MAX_COOLDOWN) throw invalid(`cooldownMs must be in 0..${MAX_COOLDOWN}`);
    const t: Trigger = {
      id: randomUUID(),
      conceptId: checkConceptRef(input.conceptId, this.#check),
      message: checkText(input.message, 'message', MAX_MESSAGE).trim(),
      createdBy: checkText(input.createdBy, 'createdBy', MAX_FIELD),
      createdAt: input.createdAt === undefined ? this.#now() : checkTime(input.createdAt, 'createdAt'),
      once: input.once ?? true,
      firedCount: 0,
      cooldownMs,
    };
    if (input.room !== undefined) t.room = checkText(input.room, 'room', MAX_FIELD).trim();
    if (input.cameraId !== undefined) t.cameraId = checkText(input.cameraId, 'cameraId', MAX_FIELD);
    return t;
  }

  #expire(): number {
    const cutoff = this.#now() - this.#retentionMs;
    let n = 0;
    for (const t of [...this.#triggers.values()]) {
      if (Math.max(t.createdAt, t.lastFiredAt ?? 0) < cutoff) {
        this.#triggers.delete(t.id);
        n++;
      }
    }
    return n;
  }

  #assertWritable(): void {
    if (this.#closed) throw new FamiliarError('STORE_IO', `the trigger store ${this.file} is closed`);
    if (this.readOnly) throw new FamiliarError('STORE_IO', `the trigger store ${this.file} is opened read-only`);
  }
}

function decodeTriggers(payload: unknown): Trigger[] {
  const p = payload as { triggers?: unknown };
  if (typeof p !== 'object' || p === null || !Array.isArray(p.triggers)) throw new Error('not a trigger list');
  return p.triggers.map((raw: unknown): Trigger => {
    const r = raw as Trigger;
    if (typeof r !== 'object' || r === null || typeof r.once !== 'boolean') throw new Error('malformed trigger');
    if (!Number.isInteger(r.firedCount) || r.firedCount < 0 || typeof r.cooldownMs !== 'number' || !(r.cooldownMs >= 0)) throw new Error('malformed trigger counters');
    const t: Trigger = {
      id: checkText(r.id, 'id', MAX_FIELD),
      conceptId: checkText(r.conceptId, 'conceptId', MAX_FIELD),
      message: checkText(r.message, 'message', MAX_MESSAGE),
      createdBy: checkText(r.createdBy, 'createdBy', MAX_FIELD),
      createdAt: checkTime(r.createdAt, 'createdAt'),
      once: r.once,
      firedCount: r.firedCount,
      cooldownMs: r.cooldownMs,
    };
    if (r.room !== undefined) t.room = checkText(r.room, 'room', MAX_FIELD);
    if (r.cameraId !== undefined) t.cameraId = checkText(r.cameraId, 'cameraId', MAX_FIELD);
    if (r.lastFiredAt !== undefined) t.lastFiredAt = checkTime(r.lastFiredAt, 'lastFiredAt');
    return t;
  });
}

function creatorKey(name: string): string {
  return name.normalize('NFKC').trim().toLowerCase();
}
