import type { Box, ConceptSummary } from '@familiar/contracts';

/** One visit of a concept (or an unknown person) to a camera's view. */
export interface SightingInfo {
  id: string;
  /** null for an unknown person. */
  conceptId: string | null;
  name: string | null;
  cameraId: string;
  room: string;
  /** Epoch milliseconds. */
  firstSeen: number;
  lastSeen: number;
  box: Box;
  confidence: number;
  /** Still in view. */
  ongoing: boolean;
  /** Names of the other concepts seen in the same camera during the visit. */
  withOthers: string[];
}

/** Something a household member said about one or more concepts. */
export interface NoteInfo {
  id: string;
  conceptIds: string[];
  /** The household member (person concept id) or client name who said it; null when unknown. */
  speaker: string | null;
  text: string;
  /** Epoch milliseconds. */
  at: number;
  cameraId?: string;
  room?: string;
  /** 'private': only its speaker (and the control role) may read it; absent: the whole household. */
  visibility?: 'private';
}

/**
 * Who is reading notes: a household member (who also sees their own private notes), or null (household notes
 * only). Passing none reads everything (the control role).
 */
export interface NoteReaderInfo {
  member: string | null;
}

/** "What was I doing when I last mentioned Grandma?" */
export interface MentionRecallInfo {
  note: NoteInfo;
  /** Where the speaker was seen around that time, if they were. */
  speakerSeen: { cameraId: string; room: string; at: number } | null;
  /** Names of who/what was in view of that camera around that time. */
  inView: string[];
  /** What the speaker said they were doing, when the note records it. */
  activity?: string;
}

export interface TriggerInfo {
  id: string;
  conceptId: string;
  name: string;
  message: string;
  /** Fire once, or every time the concept appears. */
  once: boolean;
  room?: string;
  createdBy: string;
  createdAt: number;
  firedCount: number;
  lastFiredAt?: number;
  /** The request repeated an active reminder (same concept, message, room and creator): this is that one, not a new one. */
  merged?: boolean;
}

/** A trigger that fired: pushed to scene subscribers and added to the creator's next answer. */
export interface ReminderEvent {
  triggerId: string;
  conceptId: string;
  name: string;
  message: string;
  cameraId: string;
  room: string;
  at: number;
  createdBy: string;
}

export interface PreferenceAttributeInfo {
  text: string;
  source: 'extracted' | 'edited';
  at: number;
}

export interface PreferencesInfo {
  conceptId: string;
  likes: PreferenceAttributeInfo[];
  dislikes: PreferenceAttributeInfo[];
}

export interface UnknownInfo {
  /** `unknown-N` */
  id: string;
  firstSeen: number;
  lastSeen: number;
  visits: number;
  /** "seen 4 times this week" */
  visitsLast7Days: number;
  viewCount: number;
  lastCameraId?: string;
}

export type TriggerRequest =
  | { conceptId: string; message: string; once: boolean; room?: string; createdBy: string }
  /** Free text ("if Grandma shows up, remind me to call the doctor"), parsed by the runtime. */
  | { text: string; createdBy: string };

/**
 * Memory beyond identity, as the dialogue service reaches it (issue 5). The runtime implements it over the
 * engine's Memory (sightings, notes, triggers, preferences, unknown visitors, corrections). All methods throw
 * FamiliarError (CONCEPT_NOT_FOUND, NOT_FOUND, INPUT_INVALID, ENROL_NO_VIEWS…).
 */
export interface MemoryBackend {
  /** Visits, newest first. `conceptId: null` = unknown persons. */
  sightings(query: { conceptId?: string | null; cameraId?: string; since?: number; limit: number }): Promise<SightingInfo[]>;
  /** Stores what someone said; mentioned concepts are found in the text when `conceptIds` is absent. */
  addNote(note: { text: string; speaker: string | null; conceptIds?: string[]; cameraId?: string; visibility?: 'private' | 'household' }): Promise<NoteInfo>;
  notes(conceptId: string, limit: number, reader?: NoteReaderInfo): Promise<NoteInfo[]>;
  lastMention(conceptId: string, reader?: NoteReaderInfo): Promise<MentionRecallInfo | null>;
  addTrigger(req: TriggerRequest): Promise<TriggerInfo>;
  triggers(): Promise<TriggerInfo[]>;
  cancelTrigger(id: string): Promise<TriggerInfo>;
  /** Fired reminders of every camera; returns the unsubscribe function. */
  subscribeReminders(listener: (r: ReminderEvent) => void): () => void;
  preferences(conceptId: string): Promise<PreferencesInfo>;
  /** Replaces the lists (a member's own edit). */
  setPreferences(conceptId: string, lists: { likes: string[]; dislikes: string[] }): Promise<PreferencesInfo>;
  /** Adds attributes extracted from a comment (by the LVLM, or the deterministic fallback extractor). */
  mergePreferences(conceptId: string, lists: { likes: string[]; dislikes: string[] }): Promise<PreferencesInfo>;
  /** Deterministic fallback extractor ("I like X, hate Y"). */
  extractPreferences(comment: string): { likes: string[]; dislikes: string[] };
  /** "That's not Billy" / "this is Billy" about an uploaded image or a camera's current frame, optionally a box. */
  correct(req: { conceptId: string; verdict: 'is' | 'not'; image?: Uint8Array; cameraId?: string; box?: Box }): Promise<{ concept: ConceptSummary; views: number }>;
  unknowns(): Promise<UnknownInfo[]>;
  /** Turns a provisional identity into an enrolled person with its face views. */
  nameUnknown(id: string, req: { name: string; context: string }): Promise<ConceptSummary>;
  dismissUnknown(id: string): Promise<void>;
}
