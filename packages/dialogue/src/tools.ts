import { FamiliarError, toFamiliarError, type ClientRole, type ConceptSummary, type ToolUse } from '@familiar/contracts';
import { foldText, mentionedIds } from '@familiar/language';
import { z } from 'zod';
import { hasRole, type Principal } from './auth.ts';
import type { CameraScene, DialogueBackend } from './backend.ts';
import type { ToolCall, ToolSpec } from './lvlm.ts';
import { memberKey } from './reminders.ts';

/**
 * Household memory offered to the LVLM as OpenAI-style functions. Each tool is a thin adapter over a protocol
 * command of the command table: the model speaks names and rooms, the adapter turns them into concept ids and
 * runs the command *as the asker* (its schema, role and member checks), so a model can never do more than
 * the person asking could do over the WebSocket. Every call is validated against the tool's schema first; a
 * bad, unknown, refused or slow call becomes an error result the model can read, never an exception.
 */

/** What a tool may use: the asker's command runner and the live house. */
export interface ToolEnv {
  principal: Principal;
  /** Runs a protocol command as the asker (command table: schema, role, member binding). */
  runCommand(cmd: Record<string, unknown>): Promise<unknown>;
  backend: DialogueBackend;
  scenes(): Promise<CameraScene[]>;
  /** Shows the model a camera's annotated view after this round's tool results. */
  showView(cameraId: string): Promise<{ camera_id: string; room: string; in_view: string[] }>;
}

interface ToolDef<S extends z.ZodObject> {
  name: string;
  description: string;
  params: S;
  /** The least role the underlying command needs: tools beyond the asker's role are not offered. */
  role: ClientRole;
  run(args: z.infer<S>, env: ToolEnv): Promise<unknown>;
}

function tool<S extends z.ZodObject>(def: ToolDef<S>): ToolDef<z.ZodObject> {
  return def as unknown as ToolDef<z.ZodObject>;
}

const Name = z.string().min(1).max(64).describe('The name of an enrolled person, pet or object, as the household calls them.');

/** The enrolled concept a name means (whole name first, then a name inside the text). */
function conceptNamed(backend: DialogueBackend, name: string): ConceptSummary {
  const concepts = backend.listConcepts();
  const key = foldText(name).trim();
  const exact = concepts.find((c) => foldText(c.name).trim() === key);
  const found = exact ?? concepts.find((c) => c.id === mentionedIds(name, concepts)[0]);
  if (!found) throw new FamiliarError('CONCEPT_NOT_FOUND', `nobody called "${name}" is enrolled`);
  return found;
}

const TOOLS: ToolDef<z.ZodObject>[] = [
  tool({
    name: 'household_roster',
    description: 'Everyone and everything Familiar knows in this household: names, kinds (person, pet, object) and what the household said about each.',
    params: z.object({}).strict(),
    role: 'viewer',
    run: async (_a, env) => {
      const { concepts } = (await env.runCommand({ type: 'concepts/list' })) as { concepts: { name: string; kind: string; context: string }[] };
      return concepts.map((c) => ({ name: c.name, kind: c.kind, context: c.context }));
    },
  }),
  tool({
    name: 'live_scene',
    description: 'Who and what every camera sees right now, by room.',
    params: z.object({}).strict(),
    role: 'viewer',
    run: async (_a, env) => (await env.scenes()).map((s) => ({ camera_id: s.cameraId, room: s.room, in_view: s.entities.map((e) => e.name).filter(Boolean) })),
  }),
  tool({
    name: 'last_seen',
    description: 'Where and when a person, pet or object was last seen, for how long and with whom.',
    params: z.object({ name: Name }).strict(),
    role: 'viewer',
    run: async ({ name }, env) => {
      const c = conceptNamed(env.backend, name as string);
      return env.runCommand({ type: 'memory/last_seen', concept_id: c.id });
    },
  }),
  tool({
    name: 'sightings',
    description: 'Visits seen by the cameras, newest first: optionally of one person, pet or object, in one room, within the last minutes.',
    params: z
      .object({
        name: Name.optional(),
        room: z.string().min(1).max(64).optional().describe('Only visits in this room.'),
        since_minutes: z.number().int().min(1).max(525_600).optional().describe('Only visits in the last this many minutes.'),
        limit: z.number().int().min(1).max(50).optional(),
      })
      .strict(),
    role: 'viewer',
    run: async ({ name, room, since_minutes, limit }, env) => {
      const c = typeof name === 'string' ? conceptNamed(env.backend, name) : undefined;
      const { sightings } = (await env.runCommand({
        type: 'memory/sightings',
        ...(c && { concept_id: c.id }),
        ...(typeof since_minutes === 'number' && { since: Date.now() - since_minutes * 60_000 }),
        limit: typeof room === 'string' ? 200 : ((limit as number | undefined) ?? 20),
      })) as { sightings: { name: string | null; room: string; camera_id: string; first_seen: number; last_seen: number; ongoing: boolean }[] };
      return sightings
        .filter((s) => typeof room !== 'string' || memberKey(s.room) === memberKey(room))
        .slice(0, (limit as number | undefined) ?? 20)
        .map((s) => ({ name: s.name ?? 'an unknown person', room: s.room, camera_id: s.camera_id, from: new Date(s.first_seen).toISOString(), to: new Date(s.last_seen).toISOString(), ongoing: s.ongoing }));
    },
  }),
  tool({
    name: 'notes',
    description: 'What the household said about a person, pet or object (notes), newest first.',
    params: z.object({ name: Name, limit: z.number().int().min(1).max(20).optional() }).strict(),
    role: 'viewer',
    run: async ({ name, limit }, env) => {
      const c = conceptNamed(env.backend, name as string);
      const { notes } = (await env.runCommand({ type: 'notes/list', concept_id: c.id, limit: (limit as number | undefined) ?? 5 })) as { notes: { text: string; speaker: string | null; at: number }[] };
      const byId = new Map(env.backend.listConcepts().map((x) => [x.id, x.name]));
      return notes.map((n) => ({ text: n.text, said_by: n.speaker === null ? null : (byId.get(n.speaker) ?? n.speaker), at: new Date(n.at).toISOString() }));
    },
  }),
  tool({
    name: 'preferences',
    description: 'What a person likes and dislikes.',
    params: z.object({ name: Name }).strict(),
    role: 'viewer',
    run: async ({ name }, env) => {
      const c = conceptNamed(env.backend, name as string);
      const { preferences } = (await env.runCommand({ type: 'preferences/get', concept_id: c.id })) as { preferences: { likes: { text: string }[]; dislikes: { text: string }[] } };
      return { name: c.name, likes: preferences.likes.map((a) => a.text), dislikes: preferences.dislikes.map((a) => a.text) };
    },
  }),
  tool({
    name: 'reminders',
    description: 'The reminders that are set (who they wait for, the message, for whom).',
    params: z.object({}).strict(),
    role: 'viewer',
    run: async (_a, env) => {
      const { triggers } = (await env.runCommand({ type: 'triggers/list' })) as { triggers: { id: string; name: string; message: string; room?: string; once: boolean; created_by: string }[] };
      return triggers.map((t) => ({ id: t.id, waits_for: t.name, message: t.message, room: t.room ?? null, every_time: !t.once, for: t.created_by }));
    },
  }),
  tool({
    name: 'create_reminder',
    description: 'Sets a reminder for the person asking: when the named person, pet or object next appears (optionally in a room, optionally every time), say the message.',
    params: z
      .object({
        name: Name,
        message: z.string().min(1).max(300).describe('What to tell the person asking, e.g. "Remember to call the doctor."'),
        room: z.string().min(1).max(64).optional(),
        every_time: z.boolean().optional(),
      })
      .strict(),
    role: 'viewer',
    run: async ({ name, message, room, every_time }, env) => {
      const c = conceptNamed(env.backend, name as string);
      const { trigger } = (await env.runCommand({ type: 'triggers/add', concept_id: c.id, message, once: every_time !== true, ...(typeof room === 'string' && { room }) })) as { trigger: unknown };
      return trigger;
    },
  }),
  tool({
    name: 'cancel_reminder',
    description: 'Cancels a reminder by its id (from the reminders tool). Only the reminders of the person asking, unless they may control the household.',
    params: z.object({ id: z.string().min(1).max(200) }).strict(),
    role: 'viewer',
    run: async ({ id }, env) => env.runCommand({ type: 'triggers/cancel', trigger_id: id }),
  }),
  tool({
    name: 'camera_view',
    description: 'Looks through another camera: who is in view there now; the picture (with everyone recognised boxed) is shown after this result.',
    params: z.object({ camera: z.string().min(1).max(64).describe('A camera id or a room name.') }).strict(),
    role: 'viewer',
    run: async ({ camera }, env) => {
      const scenes = await env.scenes();
      const key = memberKey(camera as string);
      const scene = scenes.find((s) => s.cameraId === camera) ?? scenes.find((s) => memberKey(s.room) === key);
      if (!scene) throw new FamiliarError('NOT_FOUND', `no camera "${camera}"; cameras: ${scenes.map((s) => `${s.cameraId} (${s.room})`).join(', ')}`);
      return env.showView(scene.cameraId);
    },
  }),
  tool({
    name: 'update_context',
    description: 'Replaces what Familiar knows about a person, pet or object (its context). Needs the control role.',
    params: z.object({ name: Name, context: z.string().max(1000) }).strict(),
    role: 'control',
    run: async ({ name, context }, env) => {
      const c = conceptNamed(env.backend, name as string);
      return env.runCommand({ type: 'concepts/update', concept_id: c.id, context });
    },
  }),
];

/** The functions offered to a principal: those its role may use. */
export function toolSpecs(principal: Principal): ToolSpec[] {
  return TOOLS.filter((t) => hasRole(principal, t.role)).map((t) => {
    const { $schema: _ignored, ...parameters } = z.toJSONSchema(t.params) as Record<string, unknown>;
    return { type: 'function', function: { name: t.name, description: t.description, parameters } };
  });
}

export interface ToolLimits {
  timeoutMs: number;
  resultMaxBytes: number;
}

/** A tool result as the model reads it: JSON, cut to the byte limit (lists lose their tail, and say so). */
function boundedJson(value: unknown, maxBytes: number): string {
  let text = JSON.stringify(value ?? null);
  if (Buffer.byteLength(text) <= maxBytes) return text;
  if (Array.isArray(value)) {
    for (let n = value.length - 1; n >= 0; n--) {
      text = JSON.stringify({ items: value.slice(0, n), truncated: true, total: value.length });
      if (Buffer.byteLength(text) <= maxBytes) return text;
    }
  }
  return JSON.stringify({ truncated: true, text: Buffer.from(text).subarray(0, Math.max(0, maxBytes - 64)).toString('utf8').replace(/\uFFFD$/, '') });
}

/** Runs one call the model made: parse, validate, role, time limit; always resolves with what to tell the model. */
export async function runToolCall(call: ToolCall, env: ToolEnv, limits: ToolLimits): Promise<{ use: ToolUse; content: string }> {
  const fail = (error: string, message: string) => ({ use: { name: call.name, ok: false, error }, content: JSON.stringify({ error, message }) });
  const def = TOOLS.find((t) => t.name === call.name);
  if (!def) return fail('unknown_tool', `there is no function "${call.name}"; use one of: ${toolSpecs(env.principal).map((t) => t.function.name).join(', ')}`);
  let raw: unknown;
  try {
    raw = call.arguments.trim() === '' ? {} : JSON.parse(call.arguments);
  } catch {
    return fail('invalid_arguments', 'the arguments are not valid JSON');
  }
  const args = def.params.safeParse(raw);
  if (!args.success) return fail('invalid_arguments', args.error.issues.map((i) => `${i.path.join('.') || 'arguments'}: ${i.message}`).join('; '));
  if (!hasRole(env.principal, def.role)) return fail('forbidden', `${call.name} needs the ${def.role} role, which the person asking does not have`);
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ToolTimeout()), limits.timeoutMs);
    });
    const value = await Promise.race([def.run(args.data, env), timeout]);
    return { use: { name: call.name, ok: true }, content: boundedJson(value, limits.resultMaxBytes) };
  } catch (err) {
    if (err instanceof ToolTimeout) return fail('timeout', `${call.name} did not answer within ${limits.timeoutMs} ms`);
    const e = toFamiliarError(err);
    if (e.code === 'FORBIDDEN') return fail('forbidden', e.message);
    return fail(e.code, e.code === 'INTERNAL' ? 'the function failed' : e.message);
  } finally {
    clearTimeout(timer);
  }
}

class ToolTimeout extends Error {}
