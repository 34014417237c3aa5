import type { Box, ConceptSummary, MentionRecallInfo, Note, NoteReaderInfo, Preferences, ReminderEvent, SightingInfo, TriggerInfo, TriggerRequest, UnknownSummary } from '@familiar/contracts';

/**
 * Memory beyond identity, as the dialogue service reaches it (issue 5). The runtime implements it over the
 * engine's Memory (sightings, notes, triggers, preferences, unknown visitors, corrections). All methods throw
 * FamiliarError (CONCEPT_NOT_FOUND, NOT_FOUND, INPUT_INVALID, ENROL_NO_VIEWS…).
 */
export interface MemoryBackend {
  /** Visits, newest first. `conceptId: null` = unknown persons. */
  sightings(query: { conceptId?: string | null; cameraId?: string; since?: number; limit: number }): Promise<SightingInfo[]>;
  /** Stores what someone said; mentioned concepts are found in the text when `conceptIds` is absent. */
  addNote(note: { text: string; speaker: string | null; conceptIds?: string[]; cameraId?: string; visibility?: 'private' | 'household' }): Promise<Note>;
  notes(conceptId: string, limit: number, reader?: NoteReaderInfo): Promise<Note[]>;
  lastMention(conceptId: string, reader?: NoteReaderInfo): Promise<MentionRecallInfo | null>;
  addTrigger(req: TriggerRequest): Promise<TriggerInfo>;
  triggers(): Promise<TriggerInfo[]>;
  cancelTrigger(id: string): Promise<TriggerInfo>;
  /** Fired reminders of every camera; returns the unsubscribe function. */
  subscribeReminders(listener: (r: ReminderEvent) => void): () => void;
  preferences(conceptId: string): Promise<Preferences>;
  /** Replaces the lists (a member's own edit). */
  setPreferences(conceptId: string, lists: { likes: string[]; dislikes: string[] }): Promise<Preferences>;
  /** Adds attributes extracted from a comment (by the LVLM, or the deterministic fallback extractor). */
  mergePreferences(conceptId: string, lists: { likes: string[]; dislikes: string[] }): Promise<Preferences>;
  /** Deterministic fallback extractor ("I like X, hate Y"). */
  extractPreferences(comment: string): { likes: string[]; dislikes: string[] };
  /** "That's not Billy" / "this is Billy" about an uploaded image or a camera's current frame, optionally a box. */
  correct(req: { conceptId: string; verdict: 'is' | 'not'; image?: Uint8Array; cameraId?: string; box?: Box }): Promise<{ concept: ConceptSummary; views: number }>;
  unknowns(): Promise<UnknownSummary[]>;
  /** Turns a provisional identity into an enrolled person with its face views. */
  nameUnknown(id: string, req: { name: string; context: string }): Promise<ConceptSummary>;
  dismissUnknown(id: string): Promise<void>;
}
