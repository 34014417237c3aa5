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
import type { Principal } from './auth.ts';
import type { DialogueBackend } from './backend.ts';
import { lastMentionAnswer, lastSeenAnswer } from './grounded.ts';
import type { ChatModel } from './lvlm.ts';
import { toWireMentionRecall, toWireNote, toWirePreferences, toWireSighting, toWireTrigger, toWireUnknown } from './memory-wire.ts';
import { extractPreferenceLists } from './preference-lvlm.ts';
import { memberKey, personNamed } from './reminders.ts';
import { toWireConcept } from './wire.ts';

/** What the memory commands need from the server. */
export interface MemoryCommandContext {
  backend: DialogueBackend;
  principal: Principal;
  /** Extracts preferences from comments; null: the deterministic extractor only. */
  chatModel: ChatModel | null;
  /** Base64 → the image's bytes, checked against the image limits and decodable (typed IMAGE_* errors). */
  checkedImage(base64: string): Promise<Uint8Array>;
  now(): number;
}

const DEFAULT_LIST_LIMIT = 20;

function conceptOf(backend: DialogueBackend, id: string): ConceptSummary {
  const c = backend.listConcepts().find((x) => x.id === id);
  if (!c) throw new FamiliarError('CONCEPT_NOT_FOUND', `no concept with id ${id}`, { details: { id } });
  return c;
}

/** The names (and person concept id) a token's member goes by. */
function selfNames(ctx: MemoryCommandContext): string[] {
  const member = ctx.principal.member;
  if (!member) return [ctx.principal.name];
  const person = personNamed(ctx.backend.listConcepts(), member);
  return [member, ctx.principal.name, ...(person ? [person.id] : [])];
}

/** A person's preferences are theirs: the control role, or the token bound to that very member. */
function assertSelfOrControl(ctx: MemoryCommandContext, person: ConceptSummary, type: string): void {
  if (ctx.principal.role === 'control') return;
  const member = ctx.principal.member;
  if (member && (memberKey(member) === memberKey(person.name) || member === person.id)) return;
  throw new FamiliarError('FORBIDDEN', `${type} needs the control role or ${person.name}'s own token`);
}

function assertPerson(c: ConceptSummary): void {
  if (c.kind !== 'person') throw new FamiliarError('INPUT_INVALID', `preferences are kept for persons only; ${c.name} is a ${c.kind}`);
}

/**
 * Runs a memory command (sightings, notes, reminders, preferences, corrections, unknown visitors) and
 * returns its result payload. The role checks that depend only on the command type are the server's
 * (CONTROL_ONLY); those that depend on who owns the record are made here.
 */
export async function runMemoryCommand(ctx: MemoryCommandContext, cmd: MemoryCommand): Promise<unknown> {
  const { backend } = ctx;
  switch (cmd.type) {
    case 'memory/last_seen': {
      const c = conceptOf(backend, cmd.concept_id);
      const [visit] = await backend.sightings({ conceptId: c.id, limit: 1 });
      const result: LastSeenResult = {
        concept_id: c.id,
        name: c.name,
        sighting: visit ? toWireSighting(visit) : null,
        answer: lastSeenAnswer(c.name, visit ?? null, ctx.now()),
      };
      return result;
    }
    case 'memory/sightings': {
      if (typeof cmd.concept_id === 'string') conceptOf(backend, cmd.concept_id);
      const sightings = await backend.sightings({
        ...(cmd.concept_id !== undefined && { conceptId: cmd.concept_id }),
        ...(cmd.camera_id !== undefined && { cameraId: cmd.camera_id }),
        ...(cmd.since !== undefined && { since: cmd.since }),
        limit: cmd.limit ?? DEFAULT_LIST_LIMIT,
      });
      return { sightings: sightings.map(toWireSighting) };
    }
    case 'notes/add': {
      for (const id of cmd.concept_ids ?? []) conceptOf(backend, id);
      const note = await backend.addNote({
        text: cmd.text,
        speaker: cmd.speaker ?? ctx.principal.member ?? null,
        ...(cmd.concept_ids !== undefined && { conceptIds: [...new Set(cmd.concept_ids)] }),
        ...(cmd.camera_id !== undefined && { cameraId: cmd.camera_id }),
      });
      return { note: toWireNote(note) };
    }
    case 'notes/list': {
      const c = conceptOf(backend, cmd.concept_id);
      return { notes: (await backend.notes(c.id, cmd.limit ?? DEFAULT_LIST_LIMIT)).map(toWireNote) };
    }
    case 'memory/last_mention': {
      const c = conceptOf(backend, cmd.concept_id);
      const recall = await backend.lastMention(c.id);
      const speaker = mentionSpeaker(recall?.note.speaker ?? null, backend.listConcepts(), ctx.principal.member);
      const result: LastMentionResult = {
        concept_id: c.id,
        name: c.name,
        mention: recall ? toWireMentionRecall(recall) : null,
        answer: lastMentionAnswer(c.name, recall, speaker.name, speaker.you, ctx.now()),
      };
      return result;
    }
    case 'triggers/add': {
      const createdBy = cmd.created_by?.trim() ?? ctx.principal.member ?? ctx.principal.name;
      if (cmd.text !== undefined) return { trigger: toWireTrigger(await backend.addTrigger({ text: cmd.text, createdBy })) };
      const c = conceptOf(backend, cmd.concept_id!);
      const trigger = await backend.addTrigger({ conceptId: c.id, message: cmd.message!, once: cmd.once ?? true, ...(cmd.room !== undefined && { room: cmd.room.trim() }), createdBy });
      return { trigger: toWireTrigger(trigger) };
    }
    case 'triggers/list':
      return { triggers: (await backend.triggers()).map(toWireTrigger) };
    case 'triggers/cancel': {
      if (ctx.principal.role !== 'control') {
        const trigger = (await backend.triggers()).find((t) => t.id === cmd.trigger_id);
        if (!trigger) throw new FamiliarError('NOT_FOUND', `no trigger ${cmd.trigger_id}`);
        const mine = new Set(selfNames(ctx).map(memberKey));
        if (!mine.has(memberKey(trigger.createdBy))) throw new FamiliarError('FORBIDDEN', 'triggers/cancel needs the control role or the token of the member the reminder is for');
      }
      return { trigger: toWireTrigger(await backend.cancelTrigger(cmd.trigger_id)) };
    }
    case 'preferences/get': {
      const c = conceptOf(backend, cmd.concept_id);
      assertPerson(c);
      return { preferences: toWirePreferences(await backend.preferences(c.id)) };
    }
    case 'preferences/set': {
      const c = conceptOf(backend, cmd.concept_id);
      assertSelfOrControl(ctx, c, cmd.type);
      assertPerson(c);
      const lists = { likes: cmd.likes.map((t) => t.trim()), dislikes: cmd.dislikes.map((t) => t.trim()) };
      return { preferences: toWirePreferences(await backend.setPreferences(c.id, lists)) };
    }
    case 'preferences/comment': {
      const c = conceptOf(backend, cmd.concept_id);
      assertSelfOrControl(ctx, c, cmd.type);
      assertPerson(c);
      const found = await extractPreferenceLists(cmd.comment, c.name, ctx.chatModel, (comment) => backend.extractPreferences(comment));
      const { likes, dislikes } = found.lists;
      const preferences = likes.length + dislikes.length > 0 ? await backend.mergePreferences(c.id, found.lists) : await backend.preferences(c.id);
      const result: PreferencesCommentResult = {
        preferences: toWirePreferences(preferences),
        extracted: { likes: [...likes], dislikes: [...dislikes] },
        extractor: found.extractor,
        ...(found.lvlmError && { lvlm_error: found.lvlmError.toJSON() }),
      };
      return result;
    }
    case 'concepts/correct': {
      const c = conceptOf(backend, cmd.concept_id);
      const source = cmd.image !== undefined ? { image: await ctx.checkedImage(cmd.image) } : { cameraId: cmd.camera_id! };
      const corrected = await backend.correct({ conceptId: c.id, verdict: cmd.verdict, ...source, ...(cmd.box !== undefined && { box: cmd.box }) });
      const result: CorrectResult = { concept: toWireConcept(corrected.concept), views: corrected.views };
      return result;
    }
    case 'unknowns/list': {
      const now = ctx.now();
      return { unknowns: (await backend.unknowns()).map((u) => toWireUnknown(u, now)) };
    }
    case 'unknowns/name':
      return { concept: toWireConcept(await backend.nameUnknown(cmd.unknown_id, { name: cmd.name.trim(), context: cmd.context ?? '' })) };
    case 'unknowns/dismiss':
      await backend.dismissUnknown(cmd.unknown_id);
      return { unknown_id: cmd.unknown_id };
  }
}
