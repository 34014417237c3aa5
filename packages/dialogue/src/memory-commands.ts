import {
  FamiliarError,
  type ConceptSummary,
  type CorrectResult,
  type LastMentionResult,
  type LastSeenResult,
  type MemoryCommand,
  type PreferencesCommentResult,
} from '@familiar/contracts';
import { mentionSpeaker } from './ask.ts';
import { hasRole, noteReader, speakerOf } from './auth.ts';
import type { DialogueBackend } from './backend.ts';
import type { CommandContext, CommandHandlers } from './commands.ts';
import { lastMentionAnswer, lastSeenAnswer } from './grounded.ts';
import { checkedImage } from './image-input.ts';
import { toWireMentionRecall, toWireNote, toWirePreferences, toWireSighting, toWireTrigger, toWireUnknown } from './memory-wire.ts';
import { extractPreferenceLists } from './preference-lvlm.ts';
import { memberKey, personNamed } from './reminders.ts';
import { toWireConcept } from './wire.ts';

const DEFAULT_LIST_LIMIT = 20;

function conceptOf(backend: DialogueBackend, id: string): ConceptSummary {
  const c = backend.listConcepts().find((x) => x.id === id);
  if (!c) throw new FamiliarError('CONCEPT_NOT_FOUND', `no concept with id ${id}`, { details: { id } });
  return c;
}

/** The names (and person concept id) a token's member goes by. */
function selfNames(ctx: CommandContext): string[] {
  const member = ctx.principal.member;
  if (!member) return [ctx.principal.name];
  const person = personNamed(ctx.server.backend.listConcepts(), member);
  return [member, ctx.principal.name, ...(person ? [person.id] : [])];
}

/** A person's preferences are theirs: the control role, or the token bound to that very member. */
function assertSelfOrControl(ctx: CommandContext, person: ConceptSummary, type: string): void {
  if (hasRole(ctx.principal, 'control')) return;
  const member = ctx.principal.member;
  if (member && (memberKey(member) === memberKey(person.name) || member === person.id)) return;
  throw new FamiliarError('FORBIDDEN', `${type} needs the control role or ${person.name}'s own token`);
}

function assertPerson(c: ConceptSummary): void {
  if (c.kind !== 'person') throw new FamiliarError('INPUT_INVALID', `preferences are kept for persons only; ${c.name} is a ${c.kind}`);
}

/**
 * Sightings, notes, reminders, preferences, corrections and unknown visitors: their part of the command table
 * (commands.ts). Roles come from the table; checks that depend on who owns a record are made here.
 */
export const memoryCommands: CommandHandlers<MemoryCommand['type']> = {
  'memory/last_seen': {
    role: 'viewer',
    async run(cmd, { server }) {
      const c = conceptOf(server.backend, cmd.concept_id);
      const [visit] = await server.backend.sightings({ conceptId: c.id, limit: 1 });
      const result: LastSeenResult = {
        concept_id: c.id,
        name: c.name,
        sighting: visit ? toWireSighting(visit) : null,
        answer: lastSeenAnswer(c.name, visit ?? null, server.now(), server.messages),
      };
      return result;
    },
  },
  'memory/sightings': {
    role: 'viewer',
    async run(cmd, { server }) {
      if (typeof cmd.concept_id === 'string') conceptOf(server.backend, cmd.concept_id);
      const sightings = await server.backend.sightings({
        ...(cmd.concept_id !== undefined && { conceptId: cmd.concept_id }),
        ...(cmd.camera_id !== undefined && { cameraId: cmd.camera_id }),
        ...(cmd.since !== undefined && { since: cmd.since }),
        limit: cmd.limit ?? DEFAULT_LIST_LIMIT,
      });
      return { sightings: sightings.map(toWireSighting) };
    },
  },
  'notes/add': {
    role: 'viewer',
    async run(cmd, { server, principal }) {
      for (const id of cmd.concept_ids ?? []) conceptOf(server.backend, id);
      const note = await server.backend.addNote({
        text: cmd.text,
        speaker: speakerOf(principal, cmd.speaker, 'speaker', null),
        ...(cmd.concept_ids !== undefined && { conceptIds: [...new Set(cmd.concept_ids)] }),
        ...(cmd.camera_id !== undefined && { cameraId: cmd.camera_id }),
        ...(cmd.visibility !== undefined && { visibility: cmd.visibility }),
      });
      return { note: toWireNote(note) };
    },
  },
  'notes/list': {
    role: 'viewer',
    async run(cmd, { server, principal }) {
      const c = conceptOf(server.backend, cmd.concept_id);
      return { notes: (await server.backend.notes(c.id, cmd.limit ?? DEFAULT_LIST_LIMIT, noteReader(principal))).map(toWireNote) };
    },
  },
  'memory/last_mention': {
    role: 'viewer',
    async run(cmd, { server, principal }) {
      const { backend } = server;
      const c = conceptOf(backend, cmd.concept_id);
      const recall = await backend.lastMention(c.id, noteReader(principal));
      const speaker = mentionSpeaker(recall?.note.speaker ?? null, backend.listConcepts(), principal.member);
      const result: LastMentionResult = {
        concept_id: c.id,
        name: c.name,
        mention: recall ? toWireMentionRecall(recall) : null,
        answer: lastMentionAnswer(c.name, recall, speaker.name, speaker.you, server.now(), server.messages),
      };
      return result;
    },
  },
  'triggers/add': {
    role: 'viewer',
    async run(cmd, { server, principal }) {
      const { backend } = server;
      const createdBy = speakerOf(principal, cmd.created_by?.trim(), 'created_by', principal.name);
      if (cmd.text !== undefined) return { trigger: toWireTrigger(await backend.addTrigger({ text: cmd.text, createdBy })) };
      const c = conceptOf(backend, cmd.concept_id!);
      const trigger = await backend.addTrigger({ conceptId: c.id, message: cmd.message!, once: cmd.once ?? true, ...(cmd.room !== undefined && { room: cmd.room.trim() }), createdBy });
      return { trigger: toWireTrigger(trigger) };
    },
  },
  'triggers/list': {
    role: 'viewer',
    run: async (_cmd, { server }) => ({ triggers: (await server.backend.triggers()).map(toWireTrigger) }),
  },
  'triggers/cancel': {
    role: 'viewer',
    async run(cmd, ctx) {
      const { backend } = ctx.server;
      if (!hasRole(ctx.principal, 'control')) {
        const trigger = (await backend.triggers()).find((t) => t.id === cmd.trigger_id);
        if (!trigger) throw new FamiliarError('NOT_FOUND', `no trigger ${cmd.trigger_id}`);
        const mine = new Set(selfNames(ctx).map(memberKey));
        if (!mine.has(memberKey(trigger.createdBy))) throw new FamiliarError('FORBIDDEN', 'triggers/cancel needs the control role or the token of the member the reminder is for');
      }
      return { trigger: toWireTrigger(await backend.cancelTrigger(cmd.trigger_id)) };
    },
  },
  'preferences/get': {
    role: 'viewer',
    async run(cmd, ctx) {
      const { server } = ctx;
      const c = conceptOf(server.backend, cmd.concept_id);
      // A person's likes are theirs: another member's token may not read them (the control role may).
      assertSelfOrControl(ctx, c, cmd.type);
      assertPerson(c);
      return { preferences: toWirePreferences(await server.backend.preferences(c.id)) };
    },
  },
  'preferences/set': {
    role: 'viewer',
    async run(cmd, ctx) {
      const c = conceptOf(ctx.server.backend, cmd.concept_id);
      assertSelfOrControl(ctx, c, cmd.type);
      assertPerson(c);
      const lists = { likes: cmd.likes.map((t) => t.trim()), dislikes: cmd.dislikes.map((t) => t.trim()) };
      return { preferences: toWirePreferences(await ctx.server.backend.setPreferences(c.id, lists)) };
    },
  },
  'preferences/comment': {
    role: 'viewer',
    async run(cmd, ctx) {
      const { backend, chatModel } = ctx.server;
      const c = conceptOf(backend, cmd.concept_id);
      assertSelfOrControl(ctx, c, cmd.type);
      assertPerson(c);
      // An LVLM call like an ask: counted against the same limits, cancelled by ask/cancel or when the client goes.
      const ac = chatModel ? ctx.server.asks.begin(ctx.session, cmd.id) : undefined;
      let found: Awaited<ReturnType<typeof extractPreferenceLists>>;
      try {
        found = await extractPreferenceLists(cmd.comment, c.name, chatModel, (comment) => backend.extractPreferences(comment), ac?.signal);
      } finally {
        if (ac) ctx.server.asks.end(ctx.session, cmd.id);
      }
      const { likes, dislikes } = found.lists;
      const preferences = likes.length + dislikes.length > 0 ? await backend.mergePreferences(c.id, found.lists) : await backend.preferences(c.id);
      const result: PreferencesCommentResult = {
        preferences: toWirePreferences(preferences),
        extracted: { likes: [...likes], dislikes: [...dislikes] },
        extractor: found.extractor,
        ...(found.lvlmError && { lvlm_error: found.lvlmError.toJSON() }),
      };
      return result;
    },
  },
  'concepts/correct': {
    role: 'control',
    async run(cmd, { server }) {
      const c = conceptOf(server.backend, cmd.concept_id);
      const source = cmd.image !== undefined ? { image: await checkedImage(cmd.image, server.imageLimits) } : { cameraId: cmd.camera_id! };
      const corrected = await server.backend.correct({ conceptId: c.id, verdict: cmd.verdict, ...source, ...(cmd.box !== undefined && { box: cmd.box }) });
      const result: CorrectResult = { concept: toWireConcept(corrected.concept), views: corrected.views };
      return result;
    },
  },
  'unknowns/list': {
    role: 'viewer',
    async run(_cmd, { server }) {
      const now = server.now();
      return { unknowns: (await server.backend.unknowns()).map((u) => toWireUnknown(u, now, server.messages)) };
    },
  },
  'unknowns/name': {
    role: 'control',
    run: async (cmd, { server }) => ({ concept: toWireConcept(await server.backend.nameUnknown(cmd.unknown_id, { name: cmd.name.trim(), context: cmd.context ?? '' })) }),
  },
  'unknowns/dismiss': {
    role: 'control',
    async run(cmd, { server }) {
      await server.backend.dismissUnknown(cmd.unknown_id);
      return { unknown_id: cmd.unknown_id };
    },
  },
};
