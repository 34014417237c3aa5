/**
 * Household records that cross packages: memory stores them, the runtime resolves names into them, the dialogue
 * service and the CLI show them (the WebSocket's snake_case forms are in protocol.ts).
 */
import type { Box } from './types.ts';

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

/** Something a user said about one or more concepts in dialogue (CoViP: "what was I doing when I last mentioned Grandma?"). */
export interface Note {
  id: string;
  /** The concepts the text is about (at least one). */
  conceptIds: string[];
  /** Who said it: a person concept id, a client name, or null when unknown. */
  speaker: string | null;
  text: string;
  /** Epoch milliseconds. */
  at: number;
  /** The camera the speaker was at (or talking through), when known. */
  cameraId?: string;
  room?: string;
  /** What the speaker was doing, e.g. a caption of the scene at the time. */
  activity?: string;
  /** Who may read it: the whole household (the default, absent), or only its speaker (and the control role). */
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
  note: Note;
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

/** One liked or disliked attribute (ViPer): "the lights dim in the evening". */
export interface PreferenceAttribute {
  text: string;
  /** 'extracted' from what the person said; 'edited' by a household member. */
  source: 'extracted' | 'edited';
  /** When it was last stated or edited (epoch ms). */
  at: number;
}

/** A person's preferences. */
export interface Preferences {
  conceptId: string;
  likes: PreferenceAttribute[];
  dislikes: PreferenceAttribute[];
  /** 0 when nothing was ever recorded. */
  updatedAt: number;
}

/** A provisional identity as listed to clients (no vectors). */
export interface UnknownSummary {
  /** `unknown-N`, never reused. */
  id: string;
  firstSeen: number;
  lastSeen: number;
  /** Visits in all (sightings closer together than the visit gap count once). */
  visits: number;
  /** Visits in the 7 days before now ("seen 4 times this week"). */
  visitsLast7Days: number;
  /** Days (UTC) with at least one visit in the 7 days before now. */
  daysLast7Days: number;
  viewCount: number;
  lastCameraId?: string;
}

export type TriggerRequest =
  | { conceptId: string; message: string; once: boolean; room?: string; createdBy: string }
  /** Free text ("if Grandma shows up, remind me to call the doctor"), parsed by the runtime. */
  | { text: string; createdBy: string };
