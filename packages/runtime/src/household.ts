import { FamiliarError, type Box, type ConceptSummary, type MentionRecallInfo, type Note, type NoteReaderInfo, type Preferences, type Sighting, type SightingInfo, type TriggerInfo, type TriggerRequest, type UnknownSummary } from '@familiar/contracts';
import { mentionedIds, parseTriggerRequest } from '@familiar/language';
import { noteReaderOf, type Memory, type NoteReader, type Trigger } from '@familiar/memory';
import type { FamiliarCore } from './core.ts';

/**
 * Memory beyond identity over an open core: last seen, visits, notes and mentions, reminders, preferences,
 * corrections and unknown visitors, answered in the dialogue service's terms (names resolved, "with whom"
 * filled in). The live engine is one (it adds frames); the CLI opens one over the store directly.
 */
export class Household {
  readonly core: FamiliarCore;

  constructor(core: FamiliarCore) {
    this.core = core;
  }

  get memory(): Memory {
    return this.core.memory;
  }

  /** The concept's thumbnail JPEG; null in embeddings-only mode or when it was enrolled without a photo. */
  thumbnail(conceptId: string): Promise<Uint8Array | null> {
    return this.memory.thumbnails.get(this.core.resolve(conceptId).id);
  }

  #name(id: string | null): string | null {
    return id !== null && this.core.store.has(id) ? this.core.store.get(id).name : null;
  }

  #sightingInfo(s: Sighting): SightingInfo {
    const others = this.memory.sightings
      .during({ from: s.firstSeen, to: s.lastSeen, cameraId: s.cameraId, limit: 50 })
      .filter((o) => o.id !== s.id && o.conceptId !== null && o.conceptId !== s.conceptId)
      .map((o) => this.#name(o.conceptId))
      .filter((n): n is string => n !== null);
    return {
      id: s.id,
      conceptId: s.conceptId,
      name: this.#name(s.conceptId),
      cameraId: s.cameraId,
      room: s.room,
      firstSeen: s.firstSeen,
      lastSeen: s.lastSeen,
      box: s.box,
      confidence: s.confidence,
      ongoing: s.open,
      withOthers: [...new Set(others)],
    };
  }

  /** The latest visit of every concept seen (for the runtime's last-seen cache). */
  /** A concept's latest visit, or null. */
  lastSeen(conceptId: string): SightingInfo | null {
    const s = this.memory.sightings.lastSeen(conceptId);
    return s ? this.#sightingInfo(s) : null;
  }

  lastSeenAll(): Record<string, SightingInfo> {
    const out: Record<string, SightingInfo> = {};
    for (const c of this.core.store.list()) {
      const s = this.lastSeen(c.id);
      if (s) out[c.id] = s;
    }
    return out;
  }

  sightings(query: { conceptId?: string | null; cameraId?: string; since?: number; limit: number }): SightingInfo[] {
    return this.memory.sightings.recent(query).map((s) => this.#sightingInfo(s));
  }

  async addNote(note: { text: string; speaker: string | null; conceptIds?: string[]; cameraId?: string; visibility?: 'private' | 'household' }): Promise<Note> {
    const concepts = this.core.store.list();
    const conceptIds = note.conceptIds ?? mentionedIds(note.text, concepts);
    if (conceptIds.length === 0) throw new FamiliarError('INPUT_INVALID', 'the note names no enrolled concept');
    // Memory keys people by concept id (sightings find the speaker by it): a member's name becomes their person's id.
    const key = note.speaker?.normalize('NFKC').trim().toLowerCase();
    const speaker = concepts.find((c) => c.id === note.speaker) ?? concepts.find((c) => c.kind === 'person' && c.name.normalize('NFKC').trim().toLowerCase() === key);
    return this.memory.notes.add({
      conceptIds,
      speaker: speaker?.id ?? note.speaker,
      text: note.text,
      ...(note.cameraId && { cameraId: note.cameraId }),
      ...(note.visibility && { visibility: note.visibility }),
    });
  }

  notes(conceptId: string, limit: number, reader?: NoteReaderInfo): Note[] {
    return this.memory.notes.forConcept(this.core.resolve(conceptId).id, limit, this.#noteReader(reader));
  }

  lastMention(conceptId: string, reader?: NoteReaderInfo): MentionRecallInfo | null {
    const recall = this.memory.notes.lastMention(this.core.resolve(conceptId).id, this.memory.sightings, this.#noteReader(reader));
    if (!recall) return null;
    const v = recall.speakerVisit;
    return {
      note: recall.note,
      speakerSeen: v ? { cameraId: v.cameraId, room: v.room, at: v.lastSeen } : null,
      inView: [...new Set(recall.inView.map((s) => this.#name(s.conceptId)).filter((n): n is string => n !== null))],
      ...(recall.activity !== undefined && { activity: recall.activity }),
    };
  }

  #noteReader(reader: NoteReaderInfo | undefined): NoteReader | undefined {
    return reader && noteReaderOf(reader.member, this.core.store.list());
  }

  #triggerInfo(t: Trigger): TriggerInfo {
    return {
      id: t.id,
      conceptId: t.conceptId,
      name: this.#name(t.conceptId) ?? '',
      message: t.message,
      once: t.once,
      ...(t.room !== undefined && { room: t.room }),
      createdBy: t.createdBy,
      createdAt: t.createdAt,
      firedCount: t.firedCount,
      ...(t.lastFiredAt !== undefined && { lastFiredAt: t.lastFiredAt }),
    };
  }

  async addTrigger(req: TriggerRequest): Promise<TriggerInfo> {
    let t: { conceptId: string; message: string; once: boolean; room?: string };
    if ('text' in req) {
      const parsed = parseTriggerRequest(req.text, this.core.store.list(), { rooms: this.core.config.cameras.map((c) => c.room) });
      if (!parsed) throw new FamiliarError('INPUT_INVALID', 'not understood as a reminder; say e.g. "if Grandma shows up, remind me to call the doctor"');
      t = parsed;
    } else {
      t = { ...req, conceptId: this.core.resolve(req.conceptId).id };
    }
    const request = { conceptId: t.conceptId, message: t.message, once: t.once, createdBy: req.createdBy, ...(t.room !== undefined && { room: t.room }) };
    // The same reminder asked for again is the one already set, not a second that would fire alongside it.
    const existing = this.memory.triggers.duplicateOf(request);
    if (existing) return { ...this.#triggerInfo(existing), merged: true };
    return this.#triggerInfo(await this.memory.triggers.add(request));
  }

  triggers(): TriggerInfo[] {
    return this.memory.triggers.list().map((t) => this.#triggerInfo(t));
  }

  async cancelTrigger(id: string): Promise<TriggerInfo> {
    return this.#triggerInfo(await this.memory.triggers.cancel(id));
  }

  preferences(conceptId: string): Preferences {
    return { ...this.memory.preferences.get(this.core.resolve(conceptId).id) };
  }

  async setPreferences(conceptId: string, lists: { likes: string[]; dislikes: string[] }): Promise<Preferences> {
    const id = this.core.resolve(conceptId).id;
    return { ...(await this.memory.preferences.set(id, lists)) };
  }

  async mergePreferences(conceptId: string, lists: { likes: string[]; dislikes: string[] }): Promise<Preferences> {
    const id = this.core.resolve(conceptId).id;
    return { ...(await this.memory.preferences.merge(id, lists)) };
  }

  correct(req: { conceptId: string; verdict: 'is' | 'not'; jpeg: Uint8Array; box?: Box }) {
    return this.core.correct({ concept: req.conceptId, verdict: req.verdict, photo: { bytes: req.jpeg, origin: 'correction' }, box: req.box ?? null });
  }

  unknowns(): UnknownSummary[] {
    return this.memory.unknowns.list();
  }

  nameUnknown(id: string, req: { name: string; context: string }): Promise<ConceptSummary> {
    return this.memory.unknowns.name(id, (views) => this.core.enrolViews({ name: req.name, kind: 'person', context: req.context, views }));
  }

  dismissUnknown(id: string): Promise<void> {
    return this.memory.unknowns.dismiss(id);
  }
}
