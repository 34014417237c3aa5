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
import type { Box, ConceptKind } from './types.ts';
import type { ErrorCode } from './errors.ts';

/** Bumped on any incompatible change of the messages below. */
export const PROTOCOL_VERSION = 1;

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

export interface UnsubscribeCommand {
  id: number;
  type: 'unsubscribe';
  /** The id of the scene/subscribe command. */
  subscription: number;
}

export type ClientCommand =
  | PingCommand
  | StatusCommand
  | ConceptsListCommand
  | ConceptsEnrolCommand
  | ConceptsUpdateCommand
  | ConceptsForgetCommand
  | AskCommand
  | AskCancelCommand
  | SceneSubscribeCommand
  | UnsubscribeCommand;

export type CommandType = ClientCommand['type'];

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

export interface WireError {
  code: ErrorCode;
  message: string;
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
}

export interface WireLastSeen {
  camera_id: string;
  room: string;
  /** Epoch milliseconds. */
  at: number;
  box: Box;
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
export interface AskResult {
  answer: string;
  source: 'lvlm' | 'grounded';
  camera_id: string | null;
  room: string | null;
  captured_at: number | null;
  grounded_on: GroundedConcept[];
  not_in_view: NotInView[];
  /** Why the LVLM was not used, when it was configured but failed. */
  lvlm_error?: WireError;
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

export interface StatusResult {
  protocol: number;
  uptime_s: number;
  clients: number;
  asks_in_flight: number;
  lvlm: { configured: boolean; model: string | null };
  backend: Record<string, unknown>;
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
}

export type ServerEvent = AskDeltaEvent | SceneChangeEvent;
