import type { z } from 'zod';
import {
  FamiliarError,
  PROTOCOL_VERSION,
  toFamiliarError,
  type AskResult,
  type ClientCommand,
  type ClientRole,
  type CommandType,
  type ServerMessage,
  type StatusResult,
  type UnsubscribeResult,
} from '@familiar/contracts';
import { formatZodError, type ServerConfig } from '@familiar/config';
import { decodeImage, encodeJpeg, type ImageLimits } from '@familiar/image';
import type { Asker } from './ask.ts';
import type { Messages } from '@familiar/language';
import { hasRole, noteReader, speakerOf, type Principal } from './auth.ts';
import type { DialogueBackend, Snapshot } from './backend.ts';
import { checkedImage, decodeBase64 } from './image-input.ts';
import type { ChatModel } from './lvlm.ts';
import { memoryCommands } from './memory-commands.ts';
import { commandSchemas, type ProtocolLimits } from './schema.ts';
import { toWireCameraStats, toWireConcept, toWireSnapshot } from './wire.ts';

/**
 * The command table: for every command type its schema, the role it needs and its handler. Transports (the
 * WebSocket server) authenticate, bound and frame messages, then hand each one to `dispatch`; they never
 * look at a command's type themselves. Adding a command: its contract type, its schema in schema.ts, and one
 * entry here (or in memory-commands.ts) — the compiler refuses a table without it.
 */

/** What a handler may use of the connection that sent the command. */
export interface CommandSession {
  /** Asks in flight on this connection, by command id. */
  readonly asks: Map<number, AbortController>;
  /** Scene subscriptions: subscription id → camera filter (undefined = all cameras). */
  readonly subscriptions: Map<number, string | undefined>;
  send(msg: ServerMessage): void;
  /**
   * Set by `supported_features`, which only Home Assistant clients send: such a client takes events only on
   * subscriptions (an event on a plain command's id crashes home-assistant-js-websocket), so its plain `ask`
   * answers with the result alone; `ask/subscribe` streams.
   */
  haClient?: boolean;
}

/** What a handler may use of the server: built once at start. */
export interface CommandServices {
  cfg: ServerConfig;
  /** The table itself: the LVLM's memory functions run its commands as the asker. */
  table: CommandTable;
  /** The built-in sentences (server.language). */
  messages: Messages;
  backend: DialogueBackend;
  asker: Asker;
  /** null: no LVLM configured (grounded answers and deterministic extraction only). */
  chatModel: ChatModel | null;
  imageLimits: ImageLimits;
  asks: AskSlots;
  startedAt: number;
  clientCount(): number;
  now(): number;
}

export interface CommandContext {
  server: CommandServices;
  session: CommandSession;
  principal: Principal;
}

export type CommandOf<T extends CommandType> = Extract<ClientCommand, { type: T }>;

export interface CommandHandler<T extends CommandType> {
  /** The least role that may send it ('viewer': everyone; 'control': control only). */
  role: ClientRole;
  /** The result payload, or undefined when the handler answered itself (ping's pong). */
  run(cmd: CommandOf<T>, ctx: CommandContext): Promise<unknown> | unknown;
}

export type CommandHandlers<T extends CommandType> = { [K in T]: CommandHandler<K> };

export interface CommandEntry<T extends CommandType> extends CommandHandler<T> {
  schema: z.ZodType<CommandOf<T>>;
}

export type CommandTable = { [T in CommandType]: CommandEntry<T> };

/**
 * Counts asks in flight, per connection and in all, refusing past the configured limits (RATE_LIMITED), and
 * gives each one an AbortController its connection cancels.
 */
export class AskSlots {
  inFlight = 0;

  constructor(
    private readonly perClient: number,
    private readonly total: number,
  ) {}

  begin(session: CommandSession, id: number): AbortController {
    if (session.asks.size >= this.perClient) throw new FamiliarError('RATE_LIMITED', `at most ${this.perClient} asks in flight per connection`);
    if (this.inFlight >= this.total) throw new FamiliarError('RATE_LIMITED', 'the server is answering too many questions; try again shortly');
    const ac = new AbortController();
    session.asks.set(id, ac);
    this.inFlight++;
    return ac;
  }

  end(session: CommandSession, id: number): void {
    this.inFlight--;
    session.asks.delete(id);
  }
}

/**
 * Uploaded images are decoded no larger than this: recognition and the LVLM work on far fewer pixels, and a
 * 50-megapixel upload would otherwise hold 150 MB of RGB per ask.
 */
const ASK_IMAGE_MAX_SIDE = 2048;

/** JPEG quality of snapshots the server has to encode itself (for people to look at, not for models). */
const SNAPSHOT_JPEG_QUALITY = 80;
/**
 * A snapshot JPEG larger than this is scaled down to SNAPSHOT_MAX_SIDE first: a 4K camera's frame, base64,
 * would alone exceed a client's send buffer (maxBufferedBytes) and get it dropped, and a screen shows less.
 */
const SNAPSHOT_MAX_BYTES = 1024 * 1024;
const SNAPSHOT_MAX_SIDE = 1280;

const coreCommands: CommandHandlers<Exclude<CommandType, keyof typeof memoryCommands>> = {
  ping: {
    role: 'viewer',
    run(cmd, { session }) {
      session.send({ id: cmd.id, type: 'pong' });
      return undefined;
    },
  },
  status: {
    role: 'viewer',
    run(_cmd, { server }) {
      const result: StatusResult = {
        protocol: PROTOCOL_VERSION,
        uptime_s: Math.round((server.now() - server.startedAt) / 1000),
        clients: server.clientCount(),
        asks_in_flight: server.asks.inFlight,
        lvlm: { configured: server.chatModel !== null, model: server.chatModel?.model ?? null },
        cameras: (server.backend.cameras?.() ?? []).map(toWireCameraStats),
        backend: server.backend.status(),
      };
      return result;
    },
  },
  'concepts/list': {
    role: 'viewer',
    run: (_cmd, { server }) => ({ concepts: server.backend.listConcepts().map(toWireConcept) }),
  },
  'concepts/enrol': {
    role: 'control',
    async run(cmd, { server }) {
      const common = { name: cmd.name.trim(), kind: cmd.kind, context: cmd.context ?? '' };
      if (cmd.photos) {
        const photos: Uint8Array[] = [];
        for (const p of cmd.photos) photos.push(await checkedImage(p, server.imageLimits));
        return { concept: toWireConcept(await server.backend.enrol({ ...common, photos })) };
      }
      return { concept: toWireConcept(await server.backend.enrol({ ...common, cameraId: cmd.camera_id!, box: cmd.box })) };
    },
  },
  'concepts/update': {
    role: 'control',
    run: async (cmd, { server }) => ({ concept: toWireConcept(await server.backend.updateConcept(cmd.concept_id, { name: cmd.name?.trim(), context: cmd.context })) }),
  },
  'concepts/forget': {
    role: 'control',
    async run(cmd, { server }) {
      const names = server.backend.listConcepts().filter((c) => c.id === cmd.concept_id).map((c) => c.name);
      await server.backend.forget(cmd.concept_id);
      // Conversations held it too: its turns go from every one.
      server.asker.forgetConcept(cmd.concept_id, names);
      return { concept_id: cmd.concept_id };
    },
  },
  ask: {
    role: 'viewer',
    run: (cmd, ctx) => answer(cmd, ctx, ctx.server.asks.begin(ctx.session, cmd.id)),
  },
  'ask/subscribe': {
    role: 'viewer',
    run(cmd, ctx) {
      const { session } = ctx;
      // Refused (RATE_LIMITED) as a failed result, before anything is subscribed.
      const ac = ctx.server.asks.begin(session, cmd.id);
      session.send({ id: cmd.id, type: 'result', success: true, result: { subscription: cmd.id } });
      answer(cmd, ctx, ac).then(
        (result) => session.send({ id: cmd.id, type: 'event', event: { kind: 'answer', answer: result } }),
        (err: unknown) => {
          // Unsubscribed: the client has forgotten this id, and an event on it would only puzzle it.
          if (unsubscribedAsks.has(ac.signal)) return;
          const e = toFamiliarError(err);
          session.send({ id: cmd.id, type: 'event', event: { kind: 'error', error: { code: e.code, message: e.code === 'INTERNAL' ? 'internal error' : e.message } } });
        },
      );
      return undefined;
    },
  },
  supported_features: {
    role: 'viewer',
    run(_cmd, { session }) {
      // Coalescing is the only feature Home Assistant clients ask for; one message per frame is still valid for them.
      session.haClient = true;
      return null;
    },
  },
  unsubscribe_events: {
    role: 'viewer',
    run: (cmd, { session }) => unsubscribe(session, cmd.subscription),
  },
  'ask/cancel': {
    role: 'viewer',
    run(cmd, { session }) {
      const ac = session.asks.get(cmd.ask_id);
      ac?.abort();
      return { cancelled: ac !== undefined };
    },
  },
  'scene/subscribe': {
    role: 'viewer',
    run(cmd, { server, session }) {
      const max = server.cfg.maxSubscriptionsPerClient;
      if (session.subscriptions.size >= max) throw new FamiliarError('RATE_LIMITED', `at most ${max} subscriptions per connection`);
      session.subscriptions.set(cmd.id, cmd.camera_id);
      return { subscription: cmd.id };
    },
  },
  unsubscribe: {
    role: 'viewer',
    run: (cmd, { session }) => unsubscribe(session, cmd.subscription),
  },
  'camera/snapshot': {
    role: 'viewer',
    async run(cmd, { server }) {
      const snap = await snapshotOf(server.backend, cmd.camera_id, server.imageLimits);
      if (!snap) throw new FamiliarError('NOT_FOUND', cmd.camera_id ? `camera "${cmd.camera_id}" has no frame yet` : 'no camera has a frame yet');
      return toWireSnapshot(snap);
    },
  },
  'concepts/thumbnail': {
    role: 'viewer',
    async run(cmd, { server }) {
      const jpeg = server.backend.thumbnail ? await server.backend.thumbnail(cmd.concept_id) : null;
      return { concept_id: cmd.concept_id, jpeg: jpeg ? Buffer.from(jpeg).toString('base64') : null };
    },
  },
};

/** Answers an ask (or ask/subscribe) whose slot `ac` is taken; frees the slot however it ends. */
async function answer(cmd: CommandOf<'ask'> | CommandOf<'ask/subscribe'>, { server, session, principal }: CommandContext, ac: AbortController): Promise<AskResult> {
  try {
    const limits = server.imageLimits;
    const image = cmd.image ? (await decodeImage(decodeBase64(cmd.image, limits), { limits, maxSide: ASK_IMAGE_MAX_SIDE })).image : undefined;
    return await server.asker.ask(
      {
        question: cmd.question,
        cameraId: cmd.camera_id,
        image,
        asker: speakerOf(principal, cmd.asker, 'asker', undefined),
        reader: noteReader(principal),
        mode: cmd.mode,
        client: principal.name,
        conversationId: cmd.conversation_id,
        tools: { principal, runCommand: (msg) => runAs({ server, session, principal }, cmd.id, msg) },
      },
      { signal: ac.signal, onDelta: (text) => (cmd.type === 'ask' && session.haClient ? undefined : session.send({ id: cmd.id, type: 'event', event: { kind: 'delta', text } })) },
    );
  } finally {
    server.asks.end(session, cmd.id);
  }
}

/** Runs a command from inside an answer (an LVLM tool call) exactly as if the asker had sent it. */
async function runAs(ctx: CommandContext, id: number, msg: Record<string, unknown>): Promise<unknown> {
  const admitted = admitCommand(ctx.server.table, { id, ...msg }, ctx.principal);
  if ('code' in admitted) throw new FamiliarError(admitted.code, admitted.message);
  return admitted.entry.run(admitted.cmd, ctx);
}

/** Asks ended by an unsubscribe (their signals), which send no closing event. */
const unsubscribedAsks = new WeakSet<AbortSignal>();

/** Ends a scene subscription, or cancels the ask of an ask/subscribe still answering. */
function unsubscribe(session: CommandSession, id: number): UnsubscribeResult {
  if (session.subscriptions.delete(id)) return { unsubscribed: true };
  const ask = session.asks.get(id);
  if (!ask) throw new FamiliarError('NOT_FOUND', `no subscription ${id}`);
  unsubscribedAsks.add(ask.signal);
  ask.abort();
  return { unsubscribed: true };
}

/** The table for the given protocol limits (they shape the schemas). */
export function commandTable(limits: ProtocolLimits): CommandTable {
  const { byType } = commandSchemas(limits);
  const handlers: CommandHandlers<CommandType> = { ...coreCommands, ...memoryCommands };
  const table = {} as Record<CommandType, CommandEntry<CommandType>>;
  for (const type of Object.keys(handlers) as CommandType[]) {
    table[type] = { ...(handlers[type] as CommandHandler<CommandType>), schema: byType[type] as z.ZodType<ClientCommand> };
  }
  return table as CommandTable;
}

/** A refusal before a handler runs: the wire error code and its message. */
export interface CommandRefusal {
  code: 'MESSAGE_INVALID' | 'FORBIDDEN';
  message: string;
}

/**
 * Validates `msg` (an object with a numeric id, already checked by the transport) against its type's schema
 * and the sender's role. Returns the command ready to run, or why it is refused.
 */
export function admitCommand(table: CommandTable, msg: Record<string, unknown>, principal: Principal): { cmd: ClientCommand; entry: CommandEntry<CommandType> } | CommandRefusal {
  const type = msg.type;
  const entry = typeof type === 'string' && Object.hasOwn(table, type) ? (table[type as CommandType] as unknown as CommandEntry<CommandType>) : undefined;
  if (!entry) return { code: 'MESSAGE_INVALID', message: `unknown command type; expected one of ${Object.keys(table).join(', ')}` };
  const parsed = entry.schema.safeParse(msg);
  if (!parsed.success) return { code: 'MESSAGE_INVALID', message: describeZodError(parsed.error) };
  if (!hasRole(principal, entry.role)) return { code: 'FORBIDDEN', message: `${type as string} needs the control role` };
  return { cmd: parsed.data, entry };
}

function describeZodError(err: z.ZodError): string {
  const issue = err.issues[0];
  if (issue?.code === 'unrecognized_keys') return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  return formatZodError(err, 'invalid message').replace(/^invalid message: /, '');
}

/**
 * The backend's own snapshot, or its current view encoded here (its image taken to be in frame pixels); a
 * JPEG over SNAPSHOT_MAX_BYTES scaled down (boxes stay in frame pixels, the protocol allows a smaller JPEG).
 */
async function snapshotOf(backend: DialogueBackend, cameraId: string | undefined, limits: ImageLimits): Promise<Snapshot | null> {
  let snap: Snapshot | null;
  if (backend.snapshot) snap = await backend.snapshot(cameraId);
  else {
    const view = await backend.currentView(cameraId);
    snap = view && {
      cameraId: view.cameraId,
      room: view.room,
      capturedAt: view.capturedAt,
      jpeg: await encodeJpeg(view.image, SNAPSHOT_JPEG_QUALITY),
      width: view.image.width,
      height: view.image.height,
      entities: view.matches,
    };
  }
  if (!snap || snap.jpeg.byteLength <= SNAPSHOT_MAX_BYTES) return snap;
  const { image } = await decodeImage(snap.jpeg, { limits, maxSide: SNAPSHOT_MAX_SIDE });
  return { ...snap, jpeg: await encodeJpeg(image, SNAPSHOT_JPEG_QUALITY) };
}
