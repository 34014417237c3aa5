import { z } from 'zod';
import {
  CLIENT_ROLES,
  CONCEPT_CONTEXT_MAX,
  CONCEPT_KINDS,
  CONCEPT_NAME_MAX,
  ERROR_CODES,
  PROTOCOL_VERSION,
  type AskCancelResult,
  ASK_INTENTS,
  type AskIntent,
  type AskAnswerEvent,
  type AskErrorEvent,
  type AskResult,
  type AuthMessage,
  type ClientCommand,
  type CommandResults,
  type CommandType,
  type ConceptResult,
  type ConceptsListResult,
  type CorrectResult,
  type LastMentionResult,
  type LastSeenResult,
  type NoteResult,
  type NotesListResult,
  type PreferencesCommentResult,
  type PreferencesResult,
  type ReminderFiredEvent,
  type SightingsResult,
  type TriggerResult,
  type TriggersListResult,
  type UnknownDismissResult,
  type UnknownsListResult,
  type ErrorCode,
  type ForgetResult,
  type SceneChangeEvent,
  type ServerMessage,
  type SnapshotResult,
  type ThumbnailResult,
  type StatusResult,
  type SubscribeResult,
  type UnsubscribeResult,
} from '@familiar/contracts';

/**
 * Strict zod schemas of every protocol message (types in @familiar/contracts/protocol.ts). Unknown fields
 * and unknown command types are rejected. Also the source of the published JSON Schema
 * (config/protocol.schema.json, see emit-schema.ts).
 */

/** Limits that shape the command schemas. */
export interface ProtocolLimits {
  maxQuestionChars: number;
  maxImagesPerMessage: number;
  /** Longest base64 string of one image. */
  maxImageBase64Chars: number;
}

const DEFAULT_PROTOCOL_LIMITS: ProtocolLimits = { maxQuestionChars: 1000, maxImagesPerMessage: 8, maxImageBase64Chars: 16 * 1024 * 1024 };

/** A note's text, a trigger's message, a preference comment. */
const NOTE_MAX = 1000;
const COMMENT_MAX = 2000;
/** One liked / disliked attribute, and how many per list. */
const PREFERENCE_MAX = 200;
const PREFERENCE_LIST_MAX = 50;

const NO_CONTROL = /^[^\u0000-\u001f\u007f-\u009f]*$/;
const NO_CONTROL_BUT_LINES = /^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$/;

const Id = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).describe('Command id: an integer, strictly increasing per connection, echoed in results and events.');
const CameraId = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/).describe('Camera id from the configuration.');
const ConceptId = z.string().min(1).max(128).describe('Concept id from concepts/list.');
const Name = z.string().min(1).max(CONCEPT_NAME_MAX).regex(NO_CONTROL, 'must not contain control characters').refine((s) => s.trim().length > 0, 'must not be blank');
const Context = z.string().max(CONCEPT_CONTEXT_MAX).regex(NO_CONTROL_BUT_LINES, 'must not contain control characters');
const Kind = z.enum(CONCEPT_KINDS as readonly ['person', 'pet', 'object']);
const Base64 = (maxChars: number) =>
  z
    .string()
    .min(4)
    .max(maxChars)
    .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be standard base64 without a data: prefix or line breaks');

const BoxSchema = z
  .object({
    xmin: z.number().finite(),
    ymin: z.number().finite(),
    xmax: z.number().finite(),
    ymax: z.number().finite(),
  })
  .strict()
  .refine((b) => b.xmax > b.xmin && b.ymax > b.ymin, 'xmax must exceed xmin and ymax must exceed ymin')
  .describe('Rectangle in source-image pixels.');

export const AuthSchema = z
  .object({ type: z.literal('auth'), access_token: z.string().min(1).max(1024) })
  .strict()
  .describe('First client message: the access token.');

/** The command schemas for the given limits (the server builds them from its configuration). */
export function commandSchemas(limits: ProtocolLimits = DEFAULT_PROTOCOL_LIMITS) {
  const cmd = <T extends string, S extends z.ZodRawShape>(type: T, shape: S, description: string) =>
    z
      .object({ id: Id, type: z.literal(type), ...shape })
      .strict()
      .describe(description);
  const Ping = cmd('ping', {}, 'Liveness check; answered with {id, type:"pong"}.');
  const Status = cmd('status', {}, 'Server, LVLM and pipeline status.');
  const ConceptsList = cmd('concepts/list', {}, 'All enrolled concepts.');
  const ConceptsEnrol = cmd(
    'concepts/enrol',
    {
      name: Name,
      kind: Kind,
      context: Context.optional().describe('Free text about the concept ("our beagle, not allowed on the sofa").'),
      photos: z.array(Base64(limits.maxImageBase64Chars)).min(1).max(limits.maxImagesPerMessage).optional().describe('Reference photos, base64.'),
      camera_id: CameraId.optional().describe("Enrol from this camera's current frame instead of photos."),
      box: BoxSchema.optional().describe('With camera_id: the region showing the concept.'),
    },
    'Enrol a person, pet or object (role control). Exactly one of photos / camera_id.',
  ).superRefine((c, ctx) => {
    if ((c.photos === undefined) === (c.camera_id === undefined)) ctx.addIssue({ code: 'custom', path: ['photos'], message: 'give exactly one of photos or camera_id' });
    if (c.box !== undefined && c.camera_id === undefined) ctx.addIssue({ code: 'custom', path: ['box'], message: 'box needs camera_id' });
  });
  const ConceptsUpdate = cmd(
    'concepts/update',
    { concept_id: ConceptId, name: Name.optional(), context: Context.optional() },
    'Rename a concept or change its context (role control).',
  ).refine((c) => c.name !== undefined || c.context !== undefined, { message: 'give name or context', path: ['name'] });
  const ConceptsForget = cmd('concepts/forget', { concept_id: ConceptId }, 'Erase a concept and every trace of it (role control).');
  const askShape = {
    question: z.string().min(1).max(limits.maxQuestionChars),
      camera_id: CameraId.optional().describe('Camera whose current view is asked about; the default camera when neither this nor image is given.'),
      image: Base64(limits.maxImageBase64Chars).optional().describe('An image (base64) to ask about instead of a camera view.'),
      asker: Name.optional().describe('Household member asking; defaults to the member bound to the token.'),
      mode: z.enum(['direct', 'caption_first']).optional().describe('caption_first: caption the image with the names first, then answer (CoViP).'),
      conversation_id: z
        .string()
        .regex(/^[A-Za-z0-9_-]{1,64}$/)
        .optional()
        .describe('Continue this conversation (an id a previous ask returned); an unknown or expired id starts a new one.'),
  };
  const oneView = { message: 'give camera_id or image, not both', path: ['image'] };
  const Ask = cmd('ask', askShape, 'Ask about a view. The answer streams as events {kind:"delta", text}; the result is the whole answer.').refine(
    (c) => c.image === undefined || c.camera_id === undefined,
    oneView,
  );
  const AskSubscribe = cmd(
    'ask/subscribe',
    askShape,
    'ask as a subscription (Home Assistant style): the result {subscription} first, then events {kind:"delta"}, then {kind:"answer", answer} or {kind:"error", error}; unsubscribing cancels.',
  ).refine((c) => c.image === undefined || c.camera_id === undefined, oneView);
  const SupportedFeatures = cmd(
    'supported_features',
    { features: z.record(z.string().max(64), z.number().int()).refine((f) => Object.keys(f).length <= 16, 'at most 16 features') },
    "Home Assistant clients' feature negotiation: accepted (result null); no feature is turned on.",
  );
  const UnsubscribeEvents = cmd('unsubscribe_events', { subscription: Id.describe('id of the subscription') }, "Home Assistant's name for unsubscribe.");
  const AskCancel = cmd('ask/cancel', { ask_id: Id.describe('id of the ask to cancel') }, 'Cancel an ask in flight; it then fails with CANCELLED.');
  const SceneSubscribe = cmd('scene/subscribe', { camera_id: CameraId.optional() }, 'Receive scene events (appeared / moved / left) as events of this id.');
  const Unsubscribe = cmd('unsubscribe', { subscription: Id.describe('id of the scene/subscribe command') }, 'End a subscription.');
  const CameraSnapshot = cmd(
    'camera/snapshot',
    { camera_id: CameraId.optional().describe('The default camera when absent.') },
    "A camera's latest frame as base64 JPEG, with who and what is in it (boxes in frame pixels).",
  );
  const ConceptsThumbnail = cmd('concepts/thumbnail', { concept_id: ConceptId }, "A concept's small thumbnail (none in embeddings-only mode).");


  // ---- memory beyond identity
  const Limit = (max: number, description: string) => z.number().int().min(1).max(max).optional().describe(description);
  const Text = (max: number) => z.string().min(1).max(max).regex(NO_CONTROL_BUT_LINES, 'must not contain control characters').refine((s) => s.trim().length > 0, 'must not be blank');
  // Its own string, not Name.max(): zod keeps every max check, so Name's 64 would win over PREFERENCE_MAX.
  const Attribute = z
    .string()
    .min(1)
    .max(PREFERENCE_MAX)
    .regex(NO_CONTROL, 'must not contain control characters')
    .refine((s) => s.trim().length > 0, 'must not be blank')
    .describe('A liked or disliked attribute ("jazz", "warm light").');
  const UnknownId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/).describe('Unknown visitor id from unknowns/list (unknown-N).');
  const MemoryLastSeen = cmd('memory/last_seen', { concept_id: ConceptId }, 'Where and when a concept was last seen, for how long and with whom (from sightings; no LVLM).');
  const MemorySightings = cmd(
    'memory/sightings',
    {
      concept_id: ConceptId.nullable().optional().describe('Only this concept; null: only unknown persons; absent: everyone.'),
      camera_id: CameraId.optional(),
      since: z.number().int().min(0).optional().describe('Only visits that lasted until at least this time (epoch ms).'),
      limit: Limit(200, 'At most this many (default 20).'),
    },
    'Visits (sightings), newest first.',
  );
  const NotesAdd = cmd(
    'notes/add',
    {
      text: Text(NOTE_MAX),
      concept_ids: z.array(ConceptId).min(1).max(16).optional().describe('The concepts it is about; found in the text when absent.'),
      speaker: Name.optional().describe('Who said it; defaults to the member bound to the token.'),
      camera_id: CameraId.optional().describe('Where it was said.'),
      visibility: z.enum(['household', 'private']).optional().describe('household (default): every member may read it; private: only its speaker and the control role.'),
    },
    'Store something a household member said about concepts (a note).',
  );
  const NotesList = cmd('notes/list', { concept_id: ConceptId, limit: Limit(100, 'At most this many (default 20).') }, 'Notes about a concept, newest first.');
  const MemoryLastMention = cmd(
    'memory/last_mention',
    { concept_id: ConceptId },
    'The last time a concept was mentioned: the note, where its speaker was seen then and who was in view.',
  );
  const TriggersAdd = cmd(
    'triggers/add',
    {
      text: z.string().min(1).max(limits.maxQuestionChars).optional().describe('Free text parsed by the runtime ("if Grandma shows up, remind me to call the doctor").'),
      concept_id: ConceptId.optional().describe('Structured: who or what must appear.'),
      message: Text(NOTE_MAX).optional().describe('Structured: what to say when it fires.'),
      once: z.boolean().optional().describe('Structured: fire once (default) or every time.'),
      room: Name.optional().describe('Structured: only when it appears in this room.'),
      created_by: Name.optional().describe("Household member the reminder is for; defaults to the token's member, else the token's name."),
    },
    'Create a reminder: text, or concept_id + message (+ once, room).',
  ).superRefine((c, ctx) => {
    if (c.text !== undefined) {
      for (const k of ['concept_id', 'message', 'once', 'room'] as const) {
        if (c[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `${k} goes with concept_id + message, not with text` });
      }
    } else if (c.concept_id === undefined || c.message === undefined) {
      ctx.addIssue({ code: 'custom', path: ['text'], message: 'give text, or concept_id and message' });
    }
  });
  const TriggersList = cmd('triggers/list', {}, 'Every active reminder.');
  const TriggersCancel = cmd('triggers/cancel', { trigger_id: z.string().min(1).max(128) }, 'Cancel a reminder (role control, or the member it is for).');
  const PreferencesGet = cmd('preferences/get', { concept_id: ConceptId }, "A person's liked and disliked attributes.");
  const PreferencesSet = cmd(
    'preferences/set',
    { concept_id: ConceptId, likes: z.array(Attribute).max(PREFERENCE_LIST_MAX), dislikes: z.array(Attribute).max(PREFERENCE_LIST_MAX) },
    "Replace a person's liked and disliked attributes (role control, or that person's own token).",
  );
  const PreferencesComment = cmd(
    'preferences/comment',
    { concept_id: ConceptId, comment: Text(COMMENT_MAX).describe('What the person said ("I love warm, cosy rooms; hate clutter").') },
    "Turn a comment into liked / disliked attributes (the LVLM, else deterministic rules) and merge them (role control, or that person's own token).",
  );
  const ConceptsCorrect = cmd(
    'concepts/correct',
    {
      concept_id: ConceptId,
      verdict: z.enum(['is', 'not']).describe('is: this shows the concept; not: it does not.'),
      image: Base64(limits.maxImageBase64Chars).optional().describe('The image the verdict is about (base64).'),
      camera_id: CameraId.optional().describe("Instead of image: this camera's current frame."),
      box: BoxSchema.optional().describe('The region the verdict is about (image or frame pixels).'),
    },
    '"That is (not) Billy": a positive or negative view from an image or a camera frame (role control). Exactly one of image / camera_id.',
  ).superRefine((c, ctx) => {
    if ((c.image === undefined) === (c.camera_id === undefined)) ctx.addIssue({ code: 'custom', path: ['image'], message: 'give exactly one of image or camera_id' });
  });
  const UnknownsList = cmd('unknowns/list', {}, 'Unknown repeat visitors ("unknown-3, seen 4 times this week").');
  const UnknownsName = cmd(
    'unknowns/name',
    { unknown_id: UnknownId, name: Name, context: Context.optional() },
    "Enrol an unknown visitor as a person from the face views gathered so far (role control).",
  );
  const UnknownsDismiss = cmd('unknowns/dismiss', { unknown_id: UnknownId }, 'Forget an unknown visitor (role control).');
  const options = [
    Ping,
    Status,
    ConceptsList,
    ConceptsEnrol,
    ConceptsUpdate,
    ConceptsForget,
    Ask,
    AskSubscribe,
    SupportedFeatures,
    UnsubscribeEvents,
    AskCancel,
    SceneSubscribe,
    Unsubscribe,
    CameraSnapshot,
    ConceptsThumbnail,
    MemoryLastSeen,
    MemorySightings,
    NotesAdd,
    NotesList,
    MemoryLastMention,
    TriggersAdd,
    TriggersList,
    TriggersCancel,
    PreferencesGet,
    PreferencesSet,
    PreferencesComment,
    ConceptsCorrect,
    UnknownsList,
    UnknownsName,
    UnknownsDismiss,
  ] as const;
  const Command = z.discriminatedUnion('type', [...options]);
  // Each command's own schema by its type: the command table (commands.ts) validates with these.
  const byType = Object.fromEntries(options.map((o) => [optionType(o), o])) as unknown as CommandSchemaByType;
  return { Command, byType };
}

/** The schema of one command type (its parsed value is exactly that command). */
export type CommandSchemaByType = { [T in CommandType]: z.ZodType<Extract<ClientCommand, { type: T }>> };

function optionType(schema: z.ZodType): CommandType {
  // Every option is an object with a literal `type` (possibly wrapped in a refinement, which keeps the shape).
  return (schema as unknown as { shape: { type: { value: CommandType } } }).shape.type.value;
}

// ---- server messages (for the published schema and for checking what the server sends in tests)

const Role = z.enum(CLIENT_ROLES);
const Code = z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]);
const WireError = z
  .object({
    code: Code,
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional().describe('Structured facts about the failure, e.g. errno "ENOSPC" for STORE_IO.'),
  })
  .strict();
const Epoch = z.number().describe('Epoch milliseconds.');

const WireThresholds = z
  .object({ face: z.number().optional(), object: z.number().optional(), body: z.number().optional() })
  .strict()
  .describe('Per embedding space, the similarity a match must reach.');
const WireConcept = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: Kind,
    context: z.string(),
    created_at: Epoch,
    updated_at: Epoch,
    view_count: z.number().int().min(0),
    thresholds: WireThresholds,
  })
  .strict();
const TrackId = z.string().describe("The tracker's id, stable while it stays in view; present when the pipeline tracks identities.");
const WireCameraStats = z
  .object({
    id: z.string(),
    room: z.string(),
    state: z.string().describe('starting, streaming, stalled, restarting, failed, stopped'),
    fps: z.number().describe('Frames processed per second, measured over the last frames.'),
    frames_captured: z.number().int().min(0),
    frames_processed: z.number().int().min(0),
    frames_dropped: z.number().int().min(0).describe('Frames skipped because the pipeline was busy or over the fps cap.'),
    last_frame_at: Epoch.nullable(),
    last_error: z.string().nullable(),
  })
  .strict();
const WireSceneEntity = z
  .object({
    track_id: TrackId.optional(),
    concept_id: z.string().nullable(),
    name: z.string().nullable(),
    concept_kind: Kind.nullable(),
    box: BoxSchema,
    confidence: z.number(),
  })
  .strict();
const WireLastSeen = z
  .object({
    camera_id: z.string(),
    room: z.string(),
    at: Epoch,
    box: BoxSchema,
    first_seen: Epoch.optional().describe('When that visit began, when memory keeps visits.'),
    with_others: z.array(z.string()).optional().describe('Names of the others seen on that camera during the visit.'),
  })
  .strict();

// ---- memory payloads
const WireSighting = z
  .object({
    id: z.string(),
    concept_id: z.string().nullable().describe('null for an unknown person.'),
    name: z.string().nullable(),
    camera_id: z.string(),
    room: z.string(),
    first_seen: Epoch,
    last_seen: Epoch,
    box: BoxSchema,
    confidence: z.number(),
    ongoing: z.boolean().describe('Still in view.'),
    with_others: z.array(z.string()).describe('Names of the others seen on that camera during the visit.'),
  })
  .strict();
const Visibility = z.enum(['household', 'private']).describe('household: every member may read it; private: only its speaker and the control role.');
const WireNote = z
  .object({
    id: z.string(),
    concept_ids: z.array(z.string()),
    speaker: z.string().nullable().describe('Who said it (a member name or a person concept id); null when unknown.'),
    text: z.string(),
    at: Epoch,
    camera_id: z.string().optional(),
    room: z.string().optional(),
    visibility: Visibility,
  })
  .strict();
const WireMentionRecall = z
  .object({
    note: WireNote,
    speaker_seen: z.object({ camera_id: z.string(), room: z.string(), at: Epoch }).strict().nullable().describe('Where the speaker was seen around that time.'),
    in_view: z.array(z.string()).describe('Who / what was in view of that camera around that time.'),
  })
  .strict();
const WireTrigger = z
  .object({
    id: z.string(),
    concept_id: z.string(),
    name: z.string(),
    message: z.string(),
    once: z.boolean(),
    room: z.string().optional(),
    created_by: z.string().describe('Who the reminder is for.'),
    created_at: Epoch,
    fired_count: z.number().int().min(0),
    last_fired_at: Epoch.optional(),
  })
  .strict();
const WirePreference = z.object({ text: z.string(), source: z.enum(['extracted', 'edited']), at: Epoch }).strict();
const WirePreferences = z.object({ concept_id: z.string(), likes: z.array(WirePreference), dislikes: z.array(WirePreference) }).strict();
const WireUnknown = z
  .object({
    id: z.string().describe('unknown-N'),
    first_seen: Epoch,
    last_seen: Epoch,
    visits: z.number().int().min(0),
    visits_last_7_days: z.number().int().min(0),
    view_count: z.number().int().min(0),
    last_camera_id: z.string().optional(),
    summary: z.string().describe('"unknown-3, seen 4 times this week"'),
  })
  .strict();
const ReminderFiredSchema = z
  .object({
    kind: z.literal('reminder'),
    trigger_id: z.string(),
    concept_id: z.string(),
    name: z.string(),
    message: z.string(),
    camera_id: z.string(),
    room: z.string(),
    at: Epoch,
    created_by: z.string().describe('Who the reminder is for.'),
    text: z.string().describe('The reminder as a sentence.'),
  })
  .strict();
const Extracted = z.object({ likes: z.array(z.string()), dislikes: z.array(z.string()) }).strict();

const AskResultSchema = z
  .object({
    answer: z.string(),
    intent: z.enum(ASK_INTENTS as [AskIntent, ...AskIntent[]]).describe('What the built-in grammar understood the question as.'),
    conversation_id: z.string().describe('The conversation this turn belongs to; send it with the next ask to follow up.'),
    source: z.enum(['lvlm', 'grounded']).describe('lvlm: the vision-language model answered; grounded: the built-in responder (recognition + memory).'),
    camera_id: z.string().nullable(),
    room: z.string().nullable(),
    captured_at: Epoch.nullable(),
    grounded_on: z.array(
      z.object({ concept_id: z.string(), name: z.string(), kind: Kind, colour: z.string(), box: BoxSchema, confidence: z.number() }).strict(),
    ),
    not_in_view: z.array(z.object({ concept_id: z.string(), name: z.string(), last_seen: WireLastSeen.nullable() }).strict()),
    lvlm_error: WireError.optional().describe('Why the LVLM was not used although configured.'),
    reminders: z.array(ReminderFiredSchema).optional().describe('Reminders that fired for the asker since their last answer; the answer begins with them.'),
    trigger: WireTrigger.optional().describe('The reminder this question created ("remind me when…").'),
    note_id: z.string().optional().describe('The note that stored this question (it named enrolled concepts).'),
    tools_used: z
      .array(z.object({ name: z.string(), ok: z.boolean(), error: z.string().optional() }).strict())
      .optional()
      .describe('The memory functions the LVLM called for this answer, in order, and whether each ran.'),
  })
  .strict();

const ResultSchemas = {
  ping: null,
  status: z
    .object({
      protocol: z.number().int(),
      uptime_s: z.number(),
      clients: z.number().int(),
      asks_in_flight: z.number().int(),
      lvlm: z.object({ configured: z.boolean(), model: z.string().nullable() }).strict(),
      cameras: z.array(WireCameraStats),
      backend: z.record(z.string(), z.unknown()),
    })
    .strict(),
  'concepts/list': z.object({ concepts: z.array(WireConcept) }).strict(),
  'concepts/enrol': z.object({ concept: WireConcept }).strict(),
  'concepts/update': z.object({ concept: WireConcept }).strict(),
  'concepts/forget': z.object({ concept_id: z.string() }).strict(),
  ask: AskResultSchema,
  'ask/subscribe': z.object({ subscription: z.number().int() }).strict(),
  supported_features: null,
  unsubscribe_events: z.object({ unsubscribed: z.boolean() }).strict(),
  'ask/cancel': z.object({ cancelled: z.boolean() }).strict(),
  'scene/subscribe': z.object({ subscription: z.number().int() }).strict(),
  unsubscribe: z.object({ unsubscribed: z.boolean() }).strict(),
  'camera/snapshot': z
    .object({
      camera_id: z.string(),
      room: z.string(),
      captured_at: Epoch,
      width: z.number().int().min(1).describe('Frame width in the pixels boxes use; the JPEG may be smaller.'),
      height: z.number().int().min(1),
      jpeg: z.string().describe('Base64 JPEG of the frame, without boxes.'),
      entities: z.array(WireSceneEntity),
    })
    .strict(),
  'concepts/thumbnail': z
    .object({ concept_id: z.string(), jpeg: z.string().nullable().describe('Base64 JPEG (≤ 160 px a side); null in embeddings-only mode or without an enrolment photo.') })
    .strict(),
  'memory/last_seen': z
    .object({ concept_id: z.string(), name: z.string(), sighting: WireSighting.nullable().describe('The latest visit; null if never seen.'), answer: z.string() })
    .strict(),
  'memory/sightings': z.object({ sightings: z.array(WireSighting) }).strict(),
  'notes/add': z.object({ note: WireNote }).strict(),
  'notes/list': z.object({ notes: z.array(WireNote) }).strict(),
  'memory/last_mention': z
    .object({ concept_id: z.string(), name: z.string(), mention: WireMentionRecall.nullable().describe('null if nobody has mentioned it.'), answer: z.string() })
    .strict(),
  'triggers/add': z.object({ trigger: WireTrigger }).strict(),
  'triggers/list': z.object({ triggers: z.array(WireTrigger) }).strict(),
  'triggers/cancel': z.object({ trigger: WireTrigger }).strict(),
  'preferences/get': z.object({ preferences: WirePreferences }).strict(),
  'preferences/set': z.object({ preferences: WirePreferences }).strict(),
  'preferences/comment': z
    .object({
      preferences: WirePreferences,
      extracted: Extracted.describe('What was found in the comment.'),
      extractor: z.enum(['lvlm', 'rules']).describe('lvlm: the vision-language model; rules: the deterministic extractor (no LVLM, or its reply failed).'),
      lvlm_error: WireError.optional().describe("Why the LVLM's extraction was not used although configured."),
    })
    .strict(),
  'concepts/correct': z.object({ concept: WireConcept, views: z.number().int().min(0).describe("The concept's views after the correction.") }).strict(),
  'unknowns/list': z.object({ unknowns: z.array(WireUnknown) }).strict(),
  'unknowns/name': z.object({ concept: WireConcept }).strict(),
  'unknowns/dismiss': z.object({ unknown_id: z.string() }).strict(),
} as const;

const AskDeltaSchema = z.object({ kind: z.literal('delta'), text: z.string() }).strict();
const AskAnswerSchema = z.object({ kind: z.literal('answer'), answer: AskResultSchema }).strict().describe('Last event of an ask/subscribe: the whole answer.');
const AskErrorSchema = z.object({ kind: z.literal('error'), error: WireError }).strict().describe('Last event of an ask/subscribe that failed after it was accepted.');
const SceneChangeSchema = z
  .object({
    kind: z.literal('scene'),
    change: z.enum(['appeared', 'moved', 'left']),
    camera_id: z.string(),
    room: z.string(),
    at: Epoch,
    concept_id: z.string().nullable(),
    name: z.string().nullable(),
    concept_kind: Kind.nullable(),
    box: BoxSchema.nullable(),
    confidence: z.number(),
    track_id: TrackId.optional(),
  })
  .strict();

export const ServerMessageSchema = z.union([
  z.object({ type: z.literal('auth_required'), protocol: z.number().int() }).strict(),
  z.object({ type: z.literal('auth_ok'), role: Role, protocol: z.number().int(), ha_version: z.string(), member: z.string().optional() }).strict(),
  z.object({ type: z.literal('auth_invalid'), message: z.string() }).strict(),
  z.object({ id: Id, type: z.literal('result'), success: z.literal(true), result: z.unknown() }).strict(),
  z.object({ id: Id.nullable(), type: z.literal('result'), success: z.literal(false), error: WireError }).strict(),
  z.object({ id: Id, type: z.literal('event'), event: z.union([AskDeltaSchema, AskAnswerSchema, AskErrorSchema, SceneChangeSchema, ReminderFiredSchema]) }).strict(),
  z.object({ id: Id, type: z.literal('pong') }).strict(),
]);

// Compile-time proof that the schemas and the contract types describe the same messages.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Assert<T extends true> = T;
type Commands = ReturnType<typeof commandSchemas>['Command'];
/** @public Never used: it fails to compile when a schema and its contract type disagree. */
export type ProtocolTypeChecks = [
  Assert<Equal<z.infer<Commands>, ClientCommand>>,
  Assert<Equal<z.infer<typeof AuthSchema>, AuthMessage>>,
  Assert<Equal<z.infer<typeof AskResultSchema>, AskResult>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['status']>, StatusResult>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['concepts/list']>, ConceptsListResult>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['concepts/enrol']>, ConceptResult>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['concepts/forget']>, ForgetResult>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['ask/cancel']>, AskCancelResult>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['scene/subscribe']>, SubscribeResult>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['unsubscribe']>, UnsubscribeResult>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['camera/snapshot']>, SnapshotResult>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['concepts/thumbnail']>, ThumbnailResult>>,
  Assert<Equal<z.infer<typeof SceneChangeSchema>, SceneChangeEvent>>,
  Assert<Equal<z.infer<typeof ReminderFiredSchema>, ReminderFiredEvent>>,
  Assert<Equal<z.infer<typeof AskAnswerSchema>, AskAnswerEvent>>,
  Assert<Equal<z.infer<typeof AskErrorSchema>, AskErrorEvent>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['memory/last_seen']>, LastSeenResult>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['memory/sightings']>, SightingsResult>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['notes/add']>, NoteResult>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['notes/list']>, NotesListResult>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['memory/last_mention']>, LastMentionResult>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['triggers/add']>, TriggerResult>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['triggers/list']>, TriggersListResult>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['triggers/cancel']>, TriggerResult>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['preferences/get']>, PreferencesResult>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['preferences/set']>, PreferencesResult>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['preferences/comment']>, PreferencesCommentResult>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['concepts/correct']>, CorrectResult>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['unknowns/list']>, UnknownsListResult>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['unknowns/name']>, ConceptResult>>,
  Assert<Equal<z.infer<(typeof ResultSchemas)['unknowns/dismiss']>, UnknownDismissResult>>,
  Assert<z.infer<typeof ServerMessageSchema> extends ServerMessage ? true : false>,
  // Every command has its result type in CommandResults, the same as its result schema.
  Assert<Equal<keyof CommandResults, CommandType>>,
  Assert<Equal<{ [K in Exclude<CommandType, 'ping' | 'supported_features'>]: z.infer<(typeof ResultSchemas)[K]> }, Omit<CommandResults, 'ping' | 'supported_features'>>>,
];

/** The JSON Schema document published as config/protocol.schema.json (default limits). */
export function protocolJsonSchema(): Record<string, unknown> {
  const registry = z.registry<{ id: string }>();
  const c = commandSchemas();
  const named: Record<string, z.ZodType> = {
    Box: BoxSchema,
    AuthMessage: AuthSchema,
    ClientCommand: c.Command,
    ServerMessage: ServerMessageSchema,
    AskDeltaEvent: AskDeltaSchema,
    AskAnswerEvent: AskAnswerSchema,
    AskErrorEvent: AskErrorSchema,
    SceneChangeEvent: SceneChangeSchema,
    ReminderFiredEvent: ReminderFiredSchema,
    ...Object.fromEntries(
      Object.entries(ResultSchemas).flatMap(([type, schema]) => (schema === null ? [] : [[`Result_${type.replace(/\//g, '_')}`, schema as z.ZodType]])),
    ),
  };
  for (const [id, schema] of Object.entries(named)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, { uri: (id) => `#/$defs/${id}`, unrepresentable: 'any' });
  const defs = Object.fromEntries(
    Object.entries(schemas).map(([id, s]) => {
      const { $schema: _s, $id: _i, ...rest } = s as Record<string, unknown>;
      return [id, rest];
    }),
  );
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'Familiar dialogue protocol',
    description:
      'WebSocket messages of the Familiar dialogue service, generated from the zod schemas in packages/dialogue/src/schema.ts ' +
      '(npx tsx packages/dialogue/src/emit-schema.ts). Client messages: AuthMessage, then ClientCommand; server messages: ServerMessage, ' +
      'whose result payloads per command are the Result_* definitions. Limits shown are the defaults.',
    'x-protocol-version': PROTOCOL_VERSION,
    $defs: defs,
  };
}
