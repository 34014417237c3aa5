/**
 * The memory half of the static test backend: sightings, notes, triggers, preferences, corrections and
 * unknown visitors kept in plain maps, with the real deterministic parsers of @familiar/memory (mentions,
 * trigger sentences, preference comments). Visits and reminders come from replayed frames (observe()), as
 * the runtime's come from the pipeline. The runtime implements the same interface over the real Memory.
 */
import { randomUUID } from 'node:crypto';
import {
  FamiliarError,
  type Box,
  type ConceptSummary,
  type Match,
  type MentionRecallInfo,
  type Note,
  type NoteReaderInfo,
  type PreferenceAttribute,
  type Preferences,
  type ReminderEvent,
  type SightingInfo,
  type TriggerInfo,
  type TriggerRequest,
  type UnknownSummary,
} from '@familiar/contracts';
import type { LastSeen, MemoryBackend, View } from '@familiar/dialogue';
import { decodeImage } from '@familiar/image';
import { noteReaderOf, noteVisibleTo } from '@familiar/memory';
import { extractPreferences, foldText, mentionedIds, parseTriggerRequest } from '@familiar/language';

/** How far around a note's time a visit counts as "then". */
const MENTION_WINDOW_MS = 60_000;

const fold = (s: string) => s.normalize('NFKC').trim().toLowerCase();

export interface Correction {
  conceptId: string;
  verdict: 'is' | 'not';
  image?: Uint8Array;
  cameraId?: string;
  box?: Box;
}

export class StaticMemory implements MemoryBackend {
  readonly concepts = new Map<string, ConceptSummary>();
  readonly views = new Map<string, View>();
  /** Every visit, oldest first. */
  readonly visits: SightingInfo[] = [];
  readonly notesLog: Note[] = [];
  readonly triggerMap = new Map<string, TriggerInfo>();
  readonly preferenceMap = new Map<string, Preferences>();
  readonly unknownMap = new Map<string, UnknownSummary>();
  readonly corrections: Correction[] = [];
  /** Comments given to the deterministic extractor (to see when the LVLM was not used). */
  readonly extracted: string[] = [];
  /** Added to sightings() (a slow memory query, for the LVLM tools' time limit). */
  sightingsDelayMs = 0;
  private readonly reminderListeners = new Set<(r: ReminderEvent) => void>();

  protected concept(id: string): ConceptSummary {
    const c = this.concepts.get(id);
    if (!c) throw new FamiliarError('CONCEPT_NOT_FOUND', `no concept ${id}`);
    return c;
  }

  protected person(id: string): ConceptSummary {
    const c = this.concept(id);
    if (c.kind !== 'person') throw new FamiliarError('INPUT_INVALID', `preferences are kept for persons only; ${c.name} is a ${c.kind}`);
    return c;
  }

  lastSeen(conceptId: string): LastSeen | null {
    const v = this.visits.findLast((s) => s.conceptId === conceptId);
    return v ? { cameraId: v.cameraId, room: v.room, at: v.lastSeen, box: v.box } : null;
  }

  /** Adds a visit as the sightings memory would have recorded it. */
  addVisit(v: Omit<SightingInfo, 'id' | 'name' | 'ongoing' | 'withOthers'> & Partial<Pick<SightingInfo, 'ongoing' | 'withOthers'>>): SightingInfo {
    const visit: SightingInfo = {
      id: randomUUID(),
      name: v.conceptId === null ? null : this.concept(v.conceptId).name,
      ongoing: false,
      withOthers: [],
      ...v,
    };
    this.visits.push(visit);
    return visit;
  }

  /**
   * What the pipeline does with a processed frame: opens, extends and closes visits (with who else was
   * there) and fires the triggers of concepts that appeared.
   */
  protected observe(cameraId: string, room: string, at: number, before: readonly Match[], now: readonly Match[]): void {
    const names = now.map((m) => m.name);
    for (const m of before) {
      if (now.some((n) => n.conceptId === m.conceptId)) continue;
      const open = this.visits.findLast((s) => s.conceptId === m.conceptId && s.cameraId === cameraId && s.ongoing);
      if (open) open.ongoing = false;
    }
    for (const m of now) {
      const others = names.filter((n) => n !== m.name);
      const open = this.visits.findLast((s) => s.conceptId === m.conceptId && s.cameraId === cameraId && s.ongoing);
      if (open) {
        open.lastSeen = at;
        open.box = m.box;
        open.withOthers = [...new Set([...open.withOthers, ...others])];
        continue;
      }
      this.addVisit({ conceptId: m.conceptId, cameraId, room, firstSeen: at, lastSeen: at, box: m.box, confidence: m.confidence, ongoing: true, withOthers: others });
      this.fire(m.conceptId, cameraId, room, at);
    }
  }

  private fire(conceptId: string, cameraId: string, room: string, at: number): void {
    for (const t of [...this.triggerMap.values()]) {
      if (t.conceptId !== conceptId || (t.room !== undefined && fold(t.room) !== fold(room))) continue;
      t.firedCount++;
      t.lastFiredAt = at;
      if (t.once) this.triggerMap.delete(t.id);
      const r: ReminderEvent = { triggerId: t.id, conceptId, name: t.name, message: t.message, cameraId, room, at, createdBy: t.createdBy };
      for (const l of this.reminderListeners) l(r);
    }
  }

  protected forgetMemory(id: string): void {
    for (let i = this.visits.length - 1; i >= 0; i--) if (this.visits[i]!.conceptId === id) this.visits.splice(i, 1);
    for (let i = this.notesLog.length - 1; i >= 0; i--) {
      const n = this.notesLog[i]!;
      n.conceptIds = n.conceptIds.filter((c) => c !== id);
      if (n.conceptIds.length === 0) this.notesLog.splice(i, 1);
    }
    for (const t of [...this.triggerMap.values()]) if (t.conceptId === id) this.triggerMap.delete(t.id);
    this.preferenceMap.delete(id);
  }

  async sightings(query: { conceptId?: string | null; cameraId?: string; since?: number; limit: number }): Promise<SightingInfo[]> {
    if (typeof query.conceptId === 'string') this.concept(query.conceptId);
    if (this.sightingsDelayMs > 0) await new Promise((r) => setTimeout(r, this.sightingsDelayMs));
    return this.visits
      .filter((s) => (query.conceptId === undefined || s.conceptId === query.conceptId) && (query.cameraId === undefined || s.cameraId === query.cameraId))
      .filter((s) => query.since === undefined || s.lastSeen >= query.since)
      .sort((a, b) => b.lastSeen - a.lastSeen)
      .slice(0, query.limit)
      .map((s) => ({ ...s, withOthers: [...s.withOthers] }));
  }

  async addNote(note: { text: string; speaker: string | null; conceptIds?: string[]; cameraId?: string; visibility?: 'private' | 'household' }): Promise<Note> {
    const conceptIds = note.conceptIds ?? mentionedIds(note.text, [...this.concepts.values()]);
    if (conceptIds.length === 0) throw new FamiliarError('INPUT_INVALID', 'the note names no enrolled concept');
    for (const id of conceptIds) this.concept(id);
    const room = note.cameraId !== undefined ? this.views.get(note.cameraId)?.room : undefined;
    // As the runtime's Household.addNote: a member's name is stored as their person concept's id.
    const person = note.speaker === null ? undefined : [...this.concepts.values()].find((c) => c.id === note.speaker || (c.kind === 'person' && fold(c.name) === fold(note.speaker!)));
    const stored: Note = {
      id: randomUUID(),
      conceptIds,
      speaker: person?.id ?? note.speaker,
      text: note.text,
      at: Date.now(),
      ...(note.cameraId !== undefined && { cameraId: note.cameraId }),
      ...(room !== undefined && { room }),
      ...(note.visibility === 'private' && { visibility: 'private' as const }),
    };
    this.notesLog.push(stored);
    return stored;
  }

  /** As the runtime's NotesLog: private notes only for their speaker (by name or person id), all without a reader. */
  #visible(reader: NoteReaderInfo | undefined): (n: Note) => boolean {
    const r = reader && noteReaderOf(reader.member, [...this.concepts.values()]);
    return (n) => noteVisibleTo(n, r);
  }

  async notes(conceptId: string, limit: number, reader?: NoteReaderInfo): Promise<Note[]> {
    this.concept(conceptId);
    const visible = this.#visible(reader);
    return this.notesLog.filter((n) => n.conceptIds.includes(conceptId) && visible(n)).reverse().slice(0, limit);
  }

  async lastMention(conceptId: string, reader?: NoteReaderInfo): Promise<MentionRecallInfo | null> {
    this.concept(conceptId);
    const visible = this.#visible(reader);
    const note = this.notesLog.findLast((n) => n.conceptIds.includes(conceptId) && visible(n));
    if (!note) return null;
    const around = (s: SightingInfo) => s.firstSeen - MENTION_WINDOW_MS <= note.at && note.at <= s.lastSeen + MENTION_WINDOW_MS;
    // As the runtime's NotesLog: the speaker is found by concept id only (a name never matches a sighting).
    const speaker = note.speaker === null ? undefined : this.concepts.get(note.speaker);
    const visit = speaker ? this.visits.findLast((s) => s.conceptId === speaker.id && around(s)) : undefined;
    const camera = visit?.cameraId ?? note.cameraId;
    const inView = camera === undefined ? [] : this.visits.filter((s) => s.cameraId === camera && around(s) && s.name !== null && s.conceptId !== speaker?.id).map((s) => s.name!);
    return { note, speakerSeen: visit ? { cameraId: visit.cameraId, room: visit.room, at: visit.lastSeen } : null, inView: [...new Set(inView)] };
  }

  async addTrigger(req: TriggerRequest): Promise<TriggerInfo> {
    let parsed: { conceptId: string; message: string; once: boolean; room?: string };
    if ('text' in req) {
      const rooms = [...new Set([...this.views.values()].map((v) => v.room))];
      const p = parseTriggerRequest(req.text, [...this.concepts.values()], { rooms });
      if (!p) throw new FamiliarError('INPUT_INVALID', 'not understood as a reminder; say e.g. "if Grandma shows up, remind me to call the doctor"');
      parsed = p;
    } else {
      parsed = req;
    }
    const c = this.concept(parsed.conceptId);
    // As the runtime's TriggerStore.duplicateOf: the same reminder again is the one already set.
    const norm = (s: string | undefined) => (s === undefined ? '' : foldText(s).replace(/[\s.!]+/g, ' ').trim());
    const same = [...this.triggerMap.values()].find(
      (t) => t.conceptId === c.id && t.once === parsed.once && norm(t.room) === norm(parsed.room) && norm(t.createdBy) === norm(req.createdBy) && norm(t.message) === norm(parsed.message),
    );
    if (same) return { ...same, merged: true };
    const t: TriggerInfo = {
      id: randomUUID(),
      conceptId: c.id,
      name: c.name,
      message: parsed.message,
      once: parsed.once,
      ...(parsed.room !== undefined && { room: parsed.room }),
      createdBy: req.createdBy,
      createdAt: Date.now(),
      firedCount: 0,
    };
    this.triggerMap.set(t.id, t);
    return { ...t };
  }

  async triggers(): Promise<TriggerInfo[]> {
    return [...this.triggerMap.values()].map((t) => ({ ...t }));
  }

  async cancelTrigger(id: string): Promise<TriggerInfo> {
    const t = this.triggerMap.get(id);
    if (!t) throw new FamiliarError('NOT_FOUND', `no trigger ${id}`);
    this.triggerMap.delete(id);
    return { ...t };
  }

  subscribeReminders(listener: (r: ReminderEvent) => void): () => void {
    this.reminderListeners.add(listener);
    return () => this.reminderListeners.delete(listener);
  }

  async preferences(conceptId: string): Promise<Preferences> {
    this.person(conceptId);
    return structuredClone(this.preferenceMap.get(conceptId) ?? { conceptId, likes: [], dislikes: [], updatedAt: 0 });
  }

  async setPreferences(conceptId: string, lists: { likes: string[]; dislikes: string[] }): Promise<Preferences> {
    this.person(conceptId);
    const item = (text: string): PreferenceAttribute => ({ text, source: 'edited', at: Date.now() });
    this.preferenceMap.set(conceptId, { conceptId, likes: lists.likes.map(item), dislikes: lists.dislikes.map(item), updatedAt: Date.now() });
    return this.preferences(conceptId);
  }

  async mergePreferences(conceptId: string, lists: { likes: string[]; dislikes: string[] }): Promise<Preferences> {
    const p = await this.preferences(conceptId);
    const merge = (into: PreferenceAttribute[], from: PreferenceAttribute[], items: string[]) => {
      for (const text of items) {
        // A new opinion replaces the opposite one.
        const opposite = from.findIndex((a) => fold(a.text) === fold(text));
        if (opposite >= 0) from.splice(opposite, 1);
        if (!into.some((a) => fold(a.text) === fold(text))) into.push({ text, source: 'extracted', at: Date.now() });
      }
    };
    merge(p.likes, p.dislikes, lists.likes);
    merge(p.dislikes, p.likes, lists.dislikes);
    this.preferenceMap.set(conceptId, p);
    return this.preferences(conceptId);
  }

  extractPreferences(comment: string): { likes: string[]; dislikes: string[] } {
    this.extracted.push(comment);
    return extractPreferences(comment);
  }

  async correct(req: { conceptId: string; verdict: 'is' | 'not'; image?: Uint8Array; cameraId?: string; box?: Box }): Promise<{ concept: ConceptSummary; views: number }> {
    const c = this.concept(req.conceptId);
    if (req.image) await decodeImage(req.image);
    else if (!req.cameraId || !this.views.has(req.cameraId)) throw new FamiliarError('NOT_FOUND', `no camera ${req.cameraId}`);
    this.corrections.push({ ...req });
    // A positive correction adds a view; a negative one is kept as a negative view and adds none.
    const next = { ...c, viewCount: c.viewCount + (req.verdict === 'is' ? 1 : 0), updatedAt: Date.now() };
    this.concepts.set(c.id, next);
    return { concept: next, views: next.viewCount };
  }

  async unknowns(): Promise<UnknownSummary[]> {
    return [...this.unknownMap.values()].map((u) => ({ ...u }));
  }

  async nameUnknown(id: string, req: { name: string; context: string }): Promise<ConceptSummary> {
    const u = this.unknownMap.get(id);
    if (!u) throw new FamiliarError('NOT_FOUND', `no unknown visitor ${id}`);
    if ([...this.concepts.values()].some((c) => fold(c.name) === fold(req.name) && c.kind === 'person')) {
      throw new FamiliarError('CONCEPT_EXISTS', `a person called ${req.name} is already enrolled`);
    }
    const c: ConceptSummary = { id: randomUUID(), name: req.name, kind: 'person', context: req.context, createdAt: Date.now(), updatedAt: Date.now(), viewCount: u.viewCount, thresholds: { face: 0.4 } };
    this.concepts.set(c.id, c);
    this.unknownMap.delete(id);
    return c;
  }

  async dismissUnknown(id: string): Promise<void> {
    if (!this.unknownMap.delete(id)) throw new FamiliarError('NOT_FOUND', `no unknown visitor ${id}`);
  }
}
