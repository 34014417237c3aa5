/**
 * The WebSocket dialogue protocol, as plain types (contracts has no runtime dependencies). The strict zod
 * schemas that validate these messages, and the JSON Schema published from them
 * (config/protocol.schema.json), live in @familiar/dialogue and are checked against these types at compile time.
 *
 * Conventions follow Home Assistant's WebSocket API: the server opens with `auth_required`, the client
 * authenticates with `auth`, and afterwards every command carries an integer `id`, strictly increasing per
 * connection, that the server echoes in the command's `result` and in every `event` it produces.
 * Wire field names are snake_case.
 */
import type { Box, ConceptKind, Thresholds } from './types.ts';
import type { WireError } from './errors.ts';

/**
 * Bumped on any incompatible change of the messages below. 2: `auth_ok` carries `ha_version`; the Home Assistant
 * client library's `supported_features` and `unsubscribe_events`; `ask/subscribe` streams an answer as a
 * subscription (events `delta`, then `answer` or `error`).
 */
export const PROTOCOL_VERSION = 2;

/**
 * Sent as `ha_version` in `auth_ok`: the oldest Home Assistant release whose WebSocket conventions the protocol
 * follows (`supported_features` arrived in 2022.9). Clients built for Home Assistant, such as
 * home-assistant-js-websocket, decide what to send by it. Familiar is not Home Assistant and has none of its
 * other commands.
 */
export const HA_API_VERSION = '2022.9.0';

/** Besides the configured `server.path`, WebSocket upgrades are accepted here, where Home Assistant clients connect. */
export const HA_WEBSOCKET_PATH = '/api/websocket';

export const CLIENT_ROLES = ['control', 'viewer'] as const;
/** control: everything; viewer: list, ask, subscribe, status, ping. */
export type ClientRole = (typeof CLIENT_ROLES)[number];

/** Close codes the server uses besides the standard ones (1001 going away, 1009 message too big). */
export const CLOSE_CODES = {
  AUTH_INVALID: 4001,
  AUTH_TIMEOUT: 4002,
  CLIENT_TOO_SLOW: 4003,
  HEARTBEAT_TIMEOUT: 4004,
} as const;

/**
 * A scene change reported by perception (camelCase, internal); the protocol sends it as {@link SceneChangeEvent}.
 * Minimal on purpose: the tracker's richer event (perception's TrackEvent) extends it.
 */
export interface SceneEvent {
  type: 'appeared' | 'moved' | 'left';
  cameraId: string;
  room: string;
  /** Epoch milliseconds. */
  at: number;
  /** null for someone or something not recognised. */
  conceptId: string | null;
  name: string | null;
  kind: ConceptKind | null;
  /** In source pixels; null when unknown (e.g. on `left`). */
  box: Box | null;
  confidence: number;
  /** The tracker's id of this someone or something, stable while it stays in view (unique across cameras). */
  trackId?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Client → server

export interface AuthMessage {
  type: 'auth';
  access_token: string;
}

export interface PingCommand {
  id: number;
  type: 'ping';
}

export interface StatusCommand {
  id: number;
  type: 'status';
}

export interface ConceptsListCommand {
  id: number;
  type: 'concepts/list';
}

/** Enrol from base64 photos, or from the current frame of a camera (optionally only inside `box`). */
export interface ConceptsEnrolCommand {
  id: number;
  type: 'concepts/enrol';
  name: string;
  kind: ConceptKind;
  context?: string;
  /** Base64 (standard alphabet, no data: prefix) JPEG/PNG/WebP images. Exactly one of photos / camera_id. */
  photos?: string[];
  camera_id?: string;
  /** With camera_id: the region of the frame that shows the concept, in frame pixels. */
  box?: Box;
}

export interface ConceptsUpdateCommand {
  id: number;
  type: 'concepts/update';
  concept_id: string;
  name?: string;
  context?: string;
}

export interface ConceptsForgetCommand {
  id: number;
  type: 'concepts/forget';
  concept_id: string;
}

export type AskMode = 'direct' | 'caption_first';

/** A question about a camera's current view (default camera when neither is given) or about an attached image. */
export interface AskCommand {
  id: number;
  type: 'ask';
  question: string;
  camera_id?: string;
  /** Base64 image to ask about instead of a camera view. */
  image?: string;
  /** Household member asking (a name); defaults to the member bound to the access token. */
  asker?: string;
  /** caption_first: CoViP caption-augmented answering (two model calls). Default from config. */
  mode?: AskMode;
  /** Continue this conversation (the id a previous ask returned): its earlier turns go to the LVLM. */
  conversation_id?: string;
}

/**
 * `ask` as a subscription, the way Home Assistant streams (and the way its client library can receive): the
 * result `{subscription: id}` comes first, then `delta` events, then one `answer` (or `error`) event, after
 * which the subscription is over. Unsubscribing before that cancels the ask.
 */
export interface AskSubscribeCommand extends Omit<AskCommand, 'type'> {
  type: 'ask/subscribe';
}

/** Sent first by Home Assistant clients; accepted, and no feature (message coalescing) is turned on. */
export interface SupportedFeaturesCommand {
  id: number;
  type: 'supported_features';
  features: Record<string, number>;
}

/** Home Assistant's name for `unsubscribe`. */
export interface UnsubscribeEventsCommand {
  id: number;
  type: 'unsubscribe_events';
  subscription: number;
}

export interface AskCancelCommand {
  id: number;
  type: 'ask/cancel';
  /** The id of the ask command to cancel. */
  ask_id: number;
}

export interface SceneSubscribeCommand {
  id: number;
  type: 'scene/subscribe';
  /** Only events of this camera; all cameras when absent. */
  camera_id?: string;
}

/** The latest frame of a camera (the default camera when absent) as JPEG, with who and what is in it. */
export interface CameraSnapshotCommand {
  id: number;
  type: 'camera/snapshot';
  camera_id?: string;
}

/** A concept's thumbnail (kept only outside embeddings-only mode). */
export interface ConceptsThumbnailCommand {
  id: number;
  type: 'concepts/thumbnail';
  concept_id: string;
}

export interface UnsubscribeCommand {
  id: number;
  type: 'unsubscribe';
  /** The id of the scene/subscribe command. */
  subscription: number;
}

// ---- memory beyond identity (sightings, notes, triggers, preferences, corrections, unknown visitors)

/** Where and when a concept was last seen, answered from sightings (no LVLM). */
export interface MemoryLastSeenCommand {
  id: number;
  type: 'memory/last_seen';
  concept_id: string;
}

/** Visits, newest first. */
export interface MemorySightingsCommand {
  id: number;
  type: 'memory/sightings';
  /** Only this concept's visits; null: only unknown persons; absent: everyone. */
  concept_id?: string | null;
  camera_id?: string;
  /** Only visits that lasted until at least this time (epoch ms). */
  since?: number;
  /** At most this many (default 20). */
  limit?: number;
}

/** Stores something a household member said about concepts. */
export interface NotesAddCommand {
  id: number;
  type: 'notes/add';
  text: string;
  /** The concepts it is about; found in the text when absent. */
  concept_ids?: string[];
  /** Who said it; defaults to the member bound to the token. */
  speaker?: string;
  camera_id?: string;
  /** household (default) or private: only its speaker (and the control role) may read it. */
  visibility?: NoteVisibility;
}

export interface NotesListCommand {
  id: number;
  type: 'notes/list';
  concept_id: string;
  limit?: number;
}

/** "What was I doing when I last mentioned Grandma?" */
export interface MemoryLastMentionCommand {
  id: number;
  type: 'memory/last_mention';
  concept_id: string;
}

/** A reminder: structured (concept_id + message) or free text parsed by the runtime (text). */
export interface TriggersAddCommand {
  id: number;
  type: 'triggers/add';
  /** "if Grandma shows up, remind me to call the doctor". Exclusive with concept_id / message / once / room. */
  text?: string;
  concept_id?: string;
  message?: string;
  /** Fire once (default) or every time the concept appears. */
  once?: boolean;
  /** Only when the concept appears in this room. */
  room?: string;
  /** Household member the reminder is for; defaults to the token's member, else the token's name. */
  created_by?: string;
}

export interface TriggersListCommand {
  id: number;
  type: 'triggers/list';
}

/** Role control, or the member the trigger was created by. */
export interface TriggersCancelCommand {
  id: number;
  type: 'triggers/cancel';
  trigger_id: string;
}

export interface PreferencesGetCommand {
  id: number;
  type: 'preferences/get';
  concept_id: string;
}

/** Replaces a person's liked / disliked attributes (role control, or that person's own token). */
export interface PreferencesSetCommand {
  id: number;
  type: 'preferences/set';
  concept_id: string;
  likes: string[];
  dislikes: string[];
}

/** A free-form comment turned into liked / disliked attributes and merged (role control, or that person's own token). */
export interface PreferencesCommentCommand {
  id: number;
  type: 'preferences/comment';
  concept_id: string;
  comment: string;
}

/** "That is (not) Billy" about an uploaded image or a camera's current frame (role control). */
export interface ConceptsCorrectCommand {
  id: number;
  type: 'concepts/correct';
  concept_id: string;
  verdict: 'is' | 'not';
  /** Base64 image. Exactly one of image / camera_id. */
  image?: string;
  camera_id?: string;
  /** The region the verdict is about (image or frame pixels). */
  box?: Box;
}

export interface UnknownsListCommand {
  id: number;
  type: 'unknowns/list';
}

/** Enrols an unknown visitor as a person with the face views gathered so far (role control). */
export interface UnknownsNameCommand {
  id: number;
  type: 'unknowns/name';
  unknown_id: string;
  name: string;
  context?: string;
}

/** Forgets an unknown visitor (role control). */
export interface UnknownsDismissCommand {
  id: number;
  type: 'unknowns/dismiss';
  unknown_id: string;
}

export type MemoryCommand =
  | MemoryLastSeenCommand
  | MemorySightingsCommand
  | NotesAddCommand
  | NotesListCommand
  | MemoryLastMentionCommand
  | TriggersAddCommand
  | TriggersListCommand
  | TriggersCancelCommand
  | PreferencesGetCommand
  | PreferencesSetCommand
  | PreferencesCommentCommand
  | ConceptsCorrectCommand
  | UnknownsListCommand
  | UnknownsNameCommand
  | UnknownsDismissCommand;

export type ClientCommand =
  | PingCommand
  | StatusCommand
  | ConceptsListCommand
  | ConceptsEnrolCommand
  | ConceptsUpdateCommand
  | ConceptsForgetCommand
  | AskCommand
  | AskSubscribeCommand
  | SupportedFeaturesCommand
  | UnsubscribeEventsCommand
  | AskCancelCommand
  | SceneSubscribeCommand
  | UnsubscribeCommand
  | CameraSnapshotCommand
  | ConceptsThumbnailCommand
  | MemoryCommand;

export type CommandType = ClientCommand['type'];

/** A command as a client writes it: the connection adds the `id`. */
export type CommandInput<T extends CommandType> = Omit<Extract<ClientCommand, { type: T }>, 'id'> & { type: T };

// ---------------------------------------------------------------------------------------------------------------
// Server → client

export interface AuthRequiredMessage {
  type: 'auth_required';
  protocol: number;
}

export interface AuthOkMessage {
  type: 'auth_ok';
  role: ClientRole;
  protocol: number;
  /** {@link HA_API_VERSION}: which Home Assistant WebSocket conventions to expect. */
  ha_version: string;
  /** The household member the token belongs to (config `member`), when it has one: whose preferences and reminders are theirs. */
  member?: string;
}

/** Sent before the server closes the connection (close code 4001). */
export interface AuthInvalidMessage {
  type: 'auth_invalid';
  message: string;
}

export interface ResultOkMessage<R = unknown> {
  id: number;
  type: 'result';
  success: true;
  result: R;
}

/** `id` is null when the message was not JSON or carried no usable id. */
export interface ResultErrorMessage {
  id: number | null;
  type: 'result';
  success: false;
  error: WireError;
}

export interface EventMessage<E = ServerEvent> {
  id: number;
  type: 'event';
  event: E;
}

export interface PongMessage {
  id: number;
  type: 'pong';
}

export type ServerMessage = AuthRequiredMessage | AuthOkMessage | AuthInvalidMessage | ResultOkMessage | ResultErrorMessage | EventMessage | PongMessage;

// ---- payloads

/** A concept as the protocol shows it (no vectors, no thresholds). */
export interface WireConcept {
  id: string;
  name: string;
  kind: ConceptKind;
  context: string;
  created_at: number;
  updated_at: number;
  view_count: number;
  /** Per embedding space, the similarity a match must reach (calibrated at enrolment). */
  thresholds: Thresholds;
}

export interface WireLastSeen {
  camera_id: string;
  room: string;
  /** Epoch milliseconds. */
  at: number;
  box: Box;
  /** When that visit began (epoch ms), when memory keeps visits. */
  first_seen?: number;
  /** Names of the others seen on that camera during the visit. */
  with_others?: string[];
}

/** A concept the answer was grounded on: it was in view and drawn in `colour`. */
export interface GroundedConcept {
  concept_id: string;
  name: string;
  kind: ConceptKind;
  colour: string;
  /** In the source image's pixels. */
  box: Box;
  confidence: number;
}

/** An enrolled concept the question named that is not in view. */
export interface NotInView {
  concept_id: string;
  name: string;
  last_seen: WireLastSeen | null;
}

/**
 * Final result of `ask`. `source` says who answered: `lvlm` (the vision-language model, shown the annotated
 * image) or `grounded` (the built-in responder, from recognition and memory only: no LVLM configured, LVLM
 * failed before any text, or the question was only about concepts not in view).
 */
/** What the built-in grammar understood a question as (packages/language). */
export type AskIntent =
  | 'where'
  | 'presence'
  | 'room'
  | 'last_seen'
  | 'count'
  | 'roster'
  | 'visitors'
  | 'remind'
  | 'reminders'
  | 'cancel_reminder'
  | 'note'
  | 'notes'
  | 'last_mention'
  | 'preferences'
  | 'view'
  | 'unknown';

export const ASK_INTENTS: readonly AskIntent[] = ['where', 'presence', 'room', 'last_seen', 'count', 'roster', 'visitors', 'remind', 'reminders', 'cancel_reminder', 'note', 'notes', 'last_mention', 'preferences', 'view', 'unknown'];

export interface AskResult {
  answer: string;
  /** What the question was understood as. */
  intent: AskIntent;
  /** The conversation this turn belongs to; pass it with the next ask to follow up. */
  conversation_id: string;
  source: 'lvlm' | 'grounded';
  camera_id: string | null;
  room: string | null;
  captured_at: number | null;
  grounded_on: GroundedConcept[];
  not_in_view: NotInView[];
  /** Why the LVLM was not used, when it was configured but failed. */
  lvlm_error?: WireError;
  /** Reminders that fired for the asker since their last answer; the answer begins with them. */
  reminders?: ReminderFiredEvent[];
  /** The reminder this question created ("remind me when…"). */
  trigger?: WireTrigger;
  /** The note that stored this question (it named enrolled concepts). */
  note_id?: string;
  /** The memory functions the LVLM called for this answer, in order (lvlm.tools). */
  tools_used?: ToolUse[];
}

/** One function call the LVLM made: which, and whether Familiar ran it (else why not). */
export interface ToolUse {
  name: string;
  ok: boolean;
  /** invalid_arguments, unknown_tool, forbidden, timeout, or the FamiliarError code the call failed with. */
  error?: string;
}

export interface ConceptsListResult {
  concepts: WireConcept[];
}

export interface ConceptResult {
  concept: WireConcept;
}

export interface ForgetResult {
  concept_id: string;
}

export interface AskCancelResult {
  /** false when the ask had already finished. */
  cancelled: boolean;
}

export interface SubscribeResult {
  subscription: number;
}

export interface UnsubscribeResult {
  unsubscribed: boolean;
}

/** A camera and how its pipeline is keeping up. */
export interface WireCameraStats {
  id: string;
  room: string;
  /** The source's state (starting, streaming, stalled, restarting, failed, stopped). */
  state: string;
  /** Frames processed per second, measured over the last frames. */
  fps: number;
  frames_captured: number;
  frames_processed: number;
  /** Frames skipped because the pipeline was busy or over the fps cap (latest frame wins). */
  frames_dropped: number;
  /** capturedAt of the last processed frame; null before the first. */
  last_frame_at: number | null;
  last_error: string | null;
}

export interface StatusResult {
  protocol: number;
  uptime_s: number;
  clients: number;
  asks_in_flight: number;
  lvlm: { configured: boolean; model: string | null };
  /** Every configured camera; empty when the backend does not report cameras. */
  cameras: WireCameraStats[];
  backend: Record<string, unknown>;
}

/** Someone or something in a snapshot; the same fields as a scene event. */
export interface WireSceneEntity {
  /** Present when the pipeline tracks identities across frames (matches scene events' track_id). */
  track_id?: string;
  /** null for someone or something not recognised. */
  concept_id: string | null;
  name: string | null;
  concept_kind: ConceptKind | null;
  /** In frame pixels (`width` × `height`), like scene-event boxes and the enrol box. */
  box: Box;
  confidence: number;
}

/** Result of `concepts/thumbnail`. */
export interface ThumbnailResult {
  concept_id: string;
  /** Base64 JPEG (at most 160 pixels a side); null in embeddings-only mode or for a concept enrolled without a photo. */
  jpeg: string | null;
}

/** Result of `camera/snapshot`. */
export interface SnapshotResult {
  camera_id: string;
  room: string;
  captured_at: number;
  /** Size of the frame in the pixels boxes use; the JPEG may be smaller (same aspect ratio). */
  width: number;
  height: number;
  /** Base64 JPEG of the frame, without boxes. */
  jpeg: string;
  entities: WireSceneEntity[];
}

/** A piece of an ask's answer, in order; the final result carries the whole answer. */
export interface AskDeltaEvent {
  kind: 'delta';
  text: string;
}

/** A scene change on a camera. */
export interface SceneChangeEvent {
  kind: 'scene';
  change: 'appeared' | 'moved' | 'left';
  camera_id: string;
  room: string;
  at: number;
  /** null for someone or something not recognised. */
  concept_id: string | null;
  name: string | null;
  concept_kind: ConceptKind | null;
  box: Box | null;
  confidence: number;
  /** Stable while it stays in view; present when the pipeline tracks identities. */
  track_id?: string;
}

/** A reminder (trigger) fired: its concept appeared. Sent on scene subscriptions. */
export interface ReminderFiredEvent {
  kind: 'reminder';
  trigger_id: string;
  concept_id: string;
  name: string;
  message: string;
  camera_id: string;
  room: string;
  at: number;
  /** Who the reminder is for. */
  created_by: string;
  /** The reminder as a sentence ("Reminder: Grandma came into the living room just now — Remember to call the doctor."). */
  text: string;
}

/** The last event of an `ask/subscribe`: the whole answer, as `ask`'s result. */
export interface AskAnswerEvent {
  kind: 'answer';
  answer: AskResult;
}

/** The last event of an `ask/subscribe` that failed after it was accepted (CANCELLED when unsubscribed). */
export interface AskErrorEvent {
  kind: 'error';
  error: WireError;
}

export type ServerEvent = AskDeltaEvent | AskAnswerEvent | AskErrorEvent | SceneChangeEvent | ReminderFiredEvent;

// ---- memory payloads

/** One visit of a concept (or an unknown person) to a camera's view. */
export interface WireSighting {
  id: string;
  /** null for an unknown person. */
  concept_id: string | null;
  name: string | null;
  camera_id: string;
  room: string;
  first_seen: number;
  last_seen: number;
  /** In frame pixels. */
  box: Box;
  confidence: number;
  /** Still in view. */
  ongoing: boolean;
  /** Names of the others seen on that camera during the visit. */
  with_others: string[];
}

export interface WireNote {
  id: string;
  concept_ids: string[];
  /** Who said it (a member name, or a person concept id); null when unknown. */
  speaker: string | null;
  text: string;
  at: number;
  camera_id?: string;
  room?: string;
  /** household: every member may read it; private: only its speaker (and the control role). */
  visibility: NoteVisibility;
}

export type NoteVisibility = 'household' | 'private';

export interface WireMentionRecall {
  note: WireNote;
  /** Where the speaker was seen around that time. */
  speaker_seen: { camera_id: string; room: string; at: number } | null;
  /** Who / what was in view of that camera around that time. */
  in_view: string[];
}

export interface WireTrigger {
  id: string;
  concept_id: string;
  name: string;
  message: string;
  once: boolean;
  room?: string;
  created_by: string;
  created_at: number;
  fired_count: number;
  last_fired_at?: number;
}

export interface WirePreference {
  text: string;
  /** extracted: from a comment; edited: set by the member. */
  source: 'extracted' | 'edited';
  at: number;
}

export interface WirePreferences {
  concept_id: string;
  likes: WirePreference[];
  dislikes: WirePreference[];
}

export interface WireUnknown {
  /** `unknown-N` */
  id: string;
  first_seen: number;
  last_seen: number;
  visits: number;
  visits_last_7_days: number;
  view_count: number;
  last_camera_id?: string;
  /** "unknown-3, seen 4 times this week" */
  summary: string;
}

/** Result of memory/last_seen. */
export interface LastSeenResult {
  concept_id: string;
  name: string;
  /** The latest visit; null if never seen. */
  sighting: WireSighting | null;
  /** The answer as a sentence. */
  answer: string;
}

export interface SightingsResult {
  sightings: WireSighting[];
}

export interface NoteResult {
  note: WireNote;
}

export interface NotesListResult {
  notes: WireNote[];
}

/** Result of memory/last_mention. */
export interface LastMentionResult {
  concept_id: string;
  name: string;
  /** null if nobody has mentioned it. */
  mention: WireMentionRecall | null;
  answer: string;
}

export interface TriggerResult {
  trigger: WireTrigger;
}

export interface TriggersListResult {
  triggers: WireTrigger[];
}

export interface PreferencesResult {
  preferences: WirePreferences;
}

/** Result of preferences/comment. */
export interface PreferencesCommentResult {
  preferences: WirePreferences;
  /** What was found in the comment. */
  extracted: { likes: string[]; dislikes: string[] };
  /** lvlm: the vision-language model extracted them; rules: the deterministic extractor (no LVLM, or it failed). */
  extractor: 'lvlm' | 'rules';
  /** Why the LVLM's extraction was not used, when it was configured. */
  lvlm_error?: WireError;
}

export interface CorrectResult {
  concept: WireConcept;
  /** The concept's views after the correction. */
  views: number;
}

export interface UnknownsListResult {
  unknowns: WireUnknown[];
}

export interface UnknownDismissResult {
  unknown_id: string;
}

/** Each command's result payload (`ping` is answered with a pong, no result; `supported_features` with null). The console's client is typed by it. */
export interface CommandResults {
  ping: undefined;
  status: StatusResult;
  'concepts/list': ConceptsListResult;
  'concepts/enrol': ConceptResult;
  'concepts/update': ConceptResult;
  'concepts/forget': ForgetResult;
  ask: AskResult;
  'ask/cancel': AskCancelResult;
  'scene/subscribe': SubscribeResult;
  unsubscribe: UnsubscribeResult;
  'camera/snapshot': SnapshotResult;
  'concepts/thumbnail': ThumbnailResult;
  'memory/last_seen': LastSeenResult;
  'memory/sightings': SightingsResult;
  'notes/add': NoteResult;
  'notes/list': NotesListResult;
  'memory/last_mention': LastMentionResult;
  'triggers/add': TriggerResult;
  'triggers/list': TriggersListResult;
  'triggers/cancel': TriggerResult;
  'preferences/get': PreferencesResult;
  'preferences/set': PreferencesResult;
  'preferences/comment': PreferencesCommentResult;
  'concepts/correct': CorrectResult;
  'unknowns/list': UnknownsListResult;
  'unknowns/name': ConceptResult;
  'unknowns/dismiss': UnknownDismissResult;
  'ask/subscribe': SubscribeResult;
  supported_features: null;
  unsubscribe_events: UnsubscribeResult;
}
