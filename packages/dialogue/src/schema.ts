import { z } from 'zod';
import {
  CLIENT_ROLES,
  CONCEPT_KINDS,
  ERROR_CODES,
  PROTOCOL_VERSION,
  type AskCancelResult,
  type AskResult,
  type AuthMessage,
  type ClientCommand,
  type ConceptResult,
  type ConceptsListResult,
  type ErrorCode,
  type ForgetResult,
  type ServerMessage,
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

export const DEFAULT_PROTOCOL_LIMITS: ProtocolLimits = { maxQuestionChars: 1000, maxImagesPerMessage: 8, maxImageBase64Chars: 16 * 1024 * 1024 };

export const NAME_MAX = 64;
export const CONTEXT_MAX = 1000;

const NO_CONTROL = /^[^\u0000-\u001f\u007f-\u009f]*$/;
const NO_CONTROL_BUT_LINES = /^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$/;

const Id = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).describe('Command id: an integer, strictly increasing per connection, echoed in results and events.');
const CameraId = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/).describe('Camera id from the configuration.');
const ConceptId = z.string().min(1).max(128).describe('Concept id from concepts/list.');
const Name = z.string().min(1).max(NAME_MAX).regex(NO_CONTROL, 'must not contain control characters').refine((s) => s.trim().length > 0, 'must not be blank');
const Context = z.string().max(CONTEXT_MAX).regex(NO_CONTROL_BUT_LINES, 'must not contain control characters');
const Kind = z.enum(CONCEPT_KINDS as readonly ['person', 'pet', 'object']);
const Base64 = (maxChars: number) =>
  z
    .string()
    .min(4)
    .max(maxChars)
    .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be standard base64 without a data: prefix or line breaks');

export const BoxSchema = z
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
  const Ask = cmd(
    'ask',
    {
      question: z.string().min(1).max(limits.maxQuestionChars),
      camera_id: CameraId.optional().describe('Camera whose current view is asked about; the default camera when neither this nor image is given.'),
      image: Base64(limits.maxImageBase64Chars).optional().describe('An image (base64) to ask about instead of a camera view.'),
      asker: Name.optional().describe('Household member asking; defaults to the member bound to the token.'),
      mode: z.enum(['direct', 'caption_first']).optional().describe('caption_first: caption the image with the names first, then answer (CoViP).'),
    },
    'Ask about a view. The answer streams as events {kind:"delta", text}; the result is the whole answer.',
  ).refine((c) => c.image === undefined || c.camera_id === undefined, { message: 'give camera_id or image, not both', path: ['image'] });
  const AskCancel = cmd('ask/cancel', { ask_id: Id.describe('id of the ask to cancel') }, 'Cancel an ask in flight; it then fails with CANCELLED.');
  const SceneSubscribe = cmd('scene/subscribe', { camera_id: CameraId.optional() }, 'Receive scene events (appeared / moved / left) as events of this id.');
  const Unsubscribe = cmd('unsubscribe', { subscription: Id.describe('id of the scene/subscribe command') }, 'End a subscription.');

  const Command = z.discriminatedUnion('type', [Ping, Status, ConceptsList, ConceptsEnrol, ConceptsUpdate, ConceptsForget, Ask, AskCancel, SceneSubscribe, Unsubscribe]);
  return { Ping, Status, ConceptsList, ConceptsEnrol, ConceptsUpdate, ConceptsForget, Ask, AskCancel, SceneSubscribe, Unsubscribe, Command };
}

// ---- server messages (for the published schema and for checking what the server sends in tests)

const Role = z.enum(CLIENT_ROLES);
const Code = z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]);
const WireError = z.object({ code: Code, message: z.string() }).strict();
const Epoch = z.number().describe('Epoch milliseconds.');

const WireConcept = z
  .object({ id: z.string(), name: z.string(), kind: Kind, context: z.string(), created_at: Epoch, updated_at: Epoch, view_count: z.number().int().min(0) })
  .strict();
const WireLastSeen = z.object({ camera_id: z.string(), room: z.string(), at: Epoch, box: BoxSchema }).strict();

export const AskResultSchema = z
  .object({
    answer: z.string(),
    source: z.enum(['lvlm', 'grounded']).describe('lvlm: the vision-language model answered; grounded: the built-in responder (recognition + memory).'),
    camera_id: z.string().nullable(),
    room: z.string().nullable(),
    captured_at: Epoch.nullable(),
    grounded_on: z.array(
      z.object({ concept_id: z.string(), name: z.string(), kind: Kind, colour: z.string(), box: BoxSchema, confidence: z.number() }).strict(),
    ),
    not_in_view: z.array(z.object({ concept_id: z.string(), name: z.string(), last_seen: WireLastSeen.nullable() }).strict()),
    lvlm_error: WireError.optional().describe('Why the LVLM was not used although configured.'),
  })
  .strict();

export const ResultSchemas = {
  ping: null,
  status: z
    .object({
      protocol: z.number().int(),
      uptime_s: z.number(),
      clients: z.number().int(),
      asks_in_flight: z.number().int(),
      lvlm: z.object({ configured: z.boolean(), model: z.string().nullable() }).strict(),
      backend: z.record(z.string(), z.unknown()),
    })
    .strict(),
  'concepts/list': z.object({ concepts: z.array(WireConcept) }).strict(),
  'concepts/enrol': z.object({ concept: WireConcept }).strict(),
  'concepts/update': z.object({ concept: WireConcept }).strict(),
  'concepts/forget': z.object({ concept_id: z.string() }).strict(),
  ask: AskResultSchema,
  'ask/cancel': z.object({ cancelled: z.boolean() }).strict(),
  'scene/subscribe': z.object({ subscription: z.number().int() }).strict(),
  unsubscribe: z.object({ unsubscribed: z.boolean() }).strict(),
} as const;

export const AskDeltaSchema = z.object({ kind: z.literal('delta'), text: z.string() }).strict();
export const SceneChangeSchema = z
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
  })
  .strict();

export const ServerMessageSchema = z.union([
  z.object({ type: z.literal('auth_required'), protocol: z.number().int() }).strict(),
  z.object({ type: z.literal('auth_ok'), role: Role, protocol: z.number().int() }).strict(),
  z.object({ type: z.literal('auth_invalid'), message: z.string() }).strict(),
  z.object({ id: Id, type: z.literal('result'), success: z.literal(true), result: z.unknown() }).strict(),
  z.object({ id: Id.nullable(), type: z.literal('result'), success: z.literal(false), error: WireError }).strict(),
  z.object({ id: Id, type: z.literal('event'), event: z.union([AskDeltaSchema, SceneChangeSchema]) }).strict(),
  z.object({ id: Id, type: z.literal('pong') }).strict(),
]);

// Compile-time proof that the schemas and the contract types describe the same messages.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Assert<T extends true> = T;
type Commands = ReturnType<typeof commandSchemas>['Command'];
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
  Assert<z.infer<typeof ServerMessageSchema> extends ServerMessage ? true : false>,
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
    SceneChangeEvent: SceneChangeSchema,
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
