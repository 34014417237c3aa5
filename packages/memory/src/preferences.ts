import path from 'node:path';
import { FamiliarError, silentLogger, type Logger, type PreferenceAttribute, type Preferences } from '@familiar/contracts';
import { MemoryConfig } from '@familiar/config';
import { capError, checkConceptRef, checkText, checkTime, invalid, type ConceptCheck } from './checks.ts';
import { foldText, mentionsAny, redactNames } from '@familiar/language';
import { SnapshotFile, type SnapshotOpenReport } from './snapshot.ts';

/** Attribute texts to merge or set. */
export interface PreferenceLists {
  likes?: readonly string[];
  dislikes?: readonly string[];
}

export interface PreferenceOptions {
  /** Most attributes per list per person; the oldest extracted ones go first. */
  maxPerList?: number;
  /** Validates concept ids (the {@link Memory} facade requires an enrolled person). */
  checkConcept?: ConceptCheck;
  readOnly?: boolean;
  log?: Logger;
  now?: () => number;
}

export interface PreferencesOpenReport extends SnapshotOpenReport {
  people: number;
}

const SPEC = { format: 'familiar.preferences', version: 1 };
const DEFAULTS = MemoryConfig.parse({});
const MAX_ATTRIBUTE = 300;
const MAX_FIELD = 200;
/** Most people with preferences; far above any household, it only bounds a runaway client. */
const MAX_PEOPLE = 10_000;

type Polarity = 'likes' | 'dislikes';
const OTHER: Record<Polarity, Polarity> = { likes: 'dislikes', dislikes: 'likes' };

function key(text: string): string {
  return foldText(text).replace(/\s+/g, ' ').trim();
}

function copy(p: Preferences): Preferences {
  return { conceptId: p.conceptId, likes: p.likes.map((a) => ({ ...a })), dislikes: p.dislikes.map((a) => ({ ...a })), updatedAt: p.updatedAt };
}

/**
 * Per-person liked and disliked attributes, all in memory and in one checksummed file
 * (`preferences.json`) replaced atomically on every change; each change resolves once it is on disk.
 */
export class PreferenceStore {
  readonly file: string;
  readonly report: PreferencesOpenReport;
  readonly readOnly: boolean;
  readonly #max: number;
  readonly #check: ConceptCheck | undefined;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #people = new Map<string, Preferences>();
  #snapshot: SnapshotFile | undefined;
  #closed = false;

  private constructor(file: string, options: PreferenceOptions) {
    this.file = file;
    this.readOnly = options.readOnly === true;
    this.#max = options.maxPerList ?? DEFAULTS.preferenceMaxPerList;
    this.#check = options.checkConcept;
    this.#log = options.log ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.report = { people: 0, tempFilesRemoved: [] };
    if (!(this.#max >= 1)) throw invalid('maxPerList must be at least 1');
  }

  static async open(file: string, options: PreferenceOptions = {}): Promise<PreferenceStore> {
    const store = new PreferenceStore(path.resolve(file), options);
    const { snapshot, value, report } = await SnapshotFile.open(store.file, SPEC, {
      decode: decodePreferences,
      encode: () => ({ people: [...store.#people.values()] }),
      readOnly: store.readOnly,
      log: store.#log,
      now: store.#now,
    });
    store.#snapshot = snapshot;
    Object.assign(store.report, report);
    for (const p of value ?? []) store.#people.set(p.conceptId, p);
    store.report.people = store.#people.size;
    if (!store.readOnly && report.quarantined !== undefined) await snapshot.save();
    return store;
  }

  /** A person's preferences (empty lists when none were recorded). */
  get(conceptId: string): Preferences {
    const p = this.#people.get(conceptId);
    return p === undefined ? { conceptId, likes: [], dislikes: [], updatedAt: 0 } : copy(p);
  }

  /** Everyone with at least one preference. */
  list(): Preferences[] {
    return [...this.#people.values()].map(copy);
  }

  /**
   * A household member's edit: replaces the given list(s) (an absent list is kept). Entries whose text is
   * unchanged keep their source and time; new ones are 'edited'. Resolves once on disk.
   */
  async set(conceptId: string, lists: PreferenceLists): Promise<Preferences> {
    this.#assertWritable();
    const id = checkConceptRef(conceptId, this.#check);
    const next = this.#working(id);
    const at = this.#now();
    for (const polarity of ['likes', 'dislikes'] as const) {
      const texts = lists[polarity];
      if (texts === undefined) continue;
      const old = new Map(next[polarity].map((a) => [key(a.text), a]));
      const seen = new Set<string>();
      next[polarity] = [];
      for (const text of checkTexts(texts, polarity, this.#max)) {
        const k = key(text);
        if (seen.has(k)) continue;
        seen.add(k);
        next[polarity].push(old.get(k) ?? { text, source: 'edited', at });
      }
    }
    // A text cannot be both liked and disliked; the list just set wins.
    if (lists.likes !== undefined && lists.dislikes === undefined) dropFrom(next.dislikes, next.likes);
    if (lists.dislikes !== undefined && lists.likes === undefined) dropFrom(next.likes, next.dislikes);
    next.updatedAt = at;
    return this.#commit(id, next);
  }

  /**
   * Merges attributes extracted from what the person said: a known one is refreshed, a new one added
   * ('extracted'), and one stated with the opposite polarity moves over (the latest statement wins).
   * Lists over the cap lose their oldest extracted entries first. Resolves once on disk.
   */
  async merge(conceptId: string, lists: PreferenceLists, at: number = this.#now()): Promise<Preferences> {
    this.#assertWritable();
    const id = checkConceptRef(conceptId, this.#check);
    checkTime(at, 'at');
    const next = this.#working(id);
    for (const polarity of ['likes', 'dislikes'] as const) {
      for (const text of checkTexts(lists[polarity] ?? [], polarity, 1000)) {
        const k = key(text);
        const other = next[OTHER[polarity]];
        const opposite = other.findIndex((a) => key(a.text) === k);
        if (opposite >= 0) other.splice(opposite, 1);
        const same = next[polarity].find((a) => key(a.text) === k);
        if (same !== undefined) same.at = Math.max(same.at, at);
        else next[polarity].push({ text, source: 'extracted', at });
      }
      trim(next[polarity], this.#max);
    }
    next.updatedAt = Math.max(next.updatedAt, at);
    return this.#commit(id, next);
  }

  /**
   * Erases a concept from the preferences, on disk before the promise resolves: its own entry, and `names`
   * (its name, aliases) redacted from everyone else's attributes. Resolves with whether anything changed.
   */
  async removeConcept(conceptId: string, names: readonly string[] = []): Promise<boolean> {
    this.#assertWritable();
    checkText(conceptId, 'conceptId', MAX_FIELD);
    let changed = this.#people.delete(conceptId);
    if (names.length > 0) {
      for (const p of this.#people.values()) {
        for (const a of [...p.likes, ...p.dislikes]) {
          if (mentionsAny(a.text, names)) {
            a.text = redactNames(a.text, names);
            changed = true;
          }
        }
      }
    }
    if (changed) await this.#snapshot!.save();
    return changed;
  }

  /** Waits for pending writes; further changes are rejected. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#snapshot?.settled();
  }

  #working(id: string): Preferences {
    const current = this.#people.get(id);
    if (current === undefined && this.#people.size >= MAX_PEOPLE) throw capError(`preferences are kept for at most ${MAX_PEOPLE} people`, MAX_PEOPLE);
    return current === undefined ? { conceptId: id, likes: [], dislikes: [], updatedAt: 0 } : copy(current);
  }

  async #commit(id: string, next: Preferences): Promise<Preferences> {
    const previous = this.#people.get(id);
    if (next.likes.length === 0 && next.dislikes.length === 0) this.#people.delete(id);
    else this.#people.set(id, next);
    try {
      await this.#snapshot!.save();
    } catch (err) {
      if (previous === undefined) this.#people.delete(id);
      else this.#people.set(id, previous);
      throw err;
    }
    return copy(next);
  }

  #assertWritable(): void {
    if (this.#closed) throw new FamiliarError('STORE_IO', `the preference store ${this.file} is closed`);
    if (this.readOnly) throw new FamiliarError('STORE_IO', `the preference store ${this.file} is opened read-only`);
  }
}

function checkTexts(texts: unknown, what: string, max: number): string[] {
  if (!Array.isArray(texts)) throw invalid(`${what} must be an array of strings`);
  if (texts.length > max) throw capError(`${what} may hold at most ${max} entries`, max);
  return texts.map((t) => checkText(t, `a ${what} entry`, MAX_ATTRIBUTE).replace(/\s+/g, ' ').trim());
}

function dropFrom(list: PreferenceAttribute[], winners: readonly PreferenceAttribute[]): void {
  const keys = new Set(winners.map((a) => key(a.text)));
  for (let i = list.length - 1; i >= 0; i--) if (keys.has(key(list[i]!.text))) list.splice(i, 1);
}

/** Drops entries over the cap: oldest extracted first, then oldest edited. */
function trim(list: PreferenceAttribute[], max: number): void {
  while (list.length > max) {
    let victim = -1;
    for (let i = 0; i < list.length; i++) {
      const a = list[i]!;
      const v = victim < 0 ? undefined : list[victim]!;
      if (v === undefined || (a.source === 'extracted' && v.source === 'edited') || (a.source === v.source && a.at < v.at)) victim = i;
    }
    list.splice(victim, 1);
  }
}

function decodePreferences(payload: unknown): Preferences[] {
  const p = payload as { people?: unknown };
  if (typeof p !== 'object' || p === null || !Array.isArray(p.people)) throw new Error('not a preference list');
  const attrs = (list: unknown): PreferenceAttribute[] => {
    if (!Array.isArray(list)) throw new Error('malformed attribute list');
    return list.map((raw: unknown) => {
      const a = raw as PreferenceAttribute;
      if (typeof a !== 'object' || a === null || (a.source !== 'extracted' && a.source !== 'edited')) throw new Error('malformed attribute');
      return { text: checkText(a.text, 'text', MAX_ATTRIBUTE), source: a.source, at: checkTime(a.at, 'at') };
    });
  };
  return p.people.map((raw: unknown) => {
    const r = raw as Preferences;
    if (typeof r !== 'object' || r === null) throw new Error('malformed preferences');
    return { conceptId: checkText(r.conceptId, 'conceptId', MAX_FIELD), likes: attrs(r.likes), dislikes: attrs(r.dislikes), updatedAt: checkTime(r.updatedAt, 'updatedAt') };
  });
}
