import { FamiliarError, toFamiliarError, type AskIntent, type AskMode, type AskResult, type ConceptSummary, type Logger, type Match, type NoteReaderInfo, type ReminderEvent, type RgbImage, type ToolUse, type WireLastSeen } from '@familiar/contracts';
import { OVERLAY_PALETTE, clampBox, renderOverlay, type OverlayOptions } from '@familiar/image';
import { chosenCandidate, understand, withChosenName, type Messages, type UnderstandContext, type Understanding } from '@familiar/language';
import type { CameraScene, DialogueBackend } from './backend.ts';
import { ConversationStore, type PendingClarification, type Turn } from './conversations.ts';
import {
  ENGLISH,
  groundedAnswer,
  lastMentionAnswer,
  notInViewSentence,
  reminderSentence,
  safeName,
  timeAgo,
  triggerConfirmation,
  type GroundedReason,
  type LastVisit,
} from './grounded.ts';
import { HouseAnswers } from './house.ts';
import type { Principal } from './auth.ts';
import type { ChatAnswer, ChatMessage, ChatModel } from './lvlm.ts';
import { runToolCall, toolSpecs, type ToolEnv } from './tools.ts';
import { toWireReminder, toWireTrigger } from './memory-wire.ts';
import { buildAnswerMessages, buildCaptionMessages, sanitiseText, PROMPT_LIMITS, type PromptEntity, type PromptNote, type PromptPreferences } from './prompt.ts';
import { memberKey, personNamed, preferencesVisibleTo, type ReminderInbox } from './reminders.ts';
import { toWireLastSeen } from './wire.ts';

export interface AskerOptions {
  backend: DialogueBackend;
  /** null: answer with the grounded responder only. */
  lvlm: ChatModel | null;
  /** How the annotated image is drawn (font, labels, size, quality). */
  overlay: Pick<OverlayOptions, 'labels' | 'fontFile' | 'maxSide' | 'jpegQuality'>;
  /** Default of AskRequest.mode. */
  captionFirst: boolean;
  /** Fired reminders waiting for their creator's next answer; none are delivered without it. */
  reminders?: ReminderInbox;
  /** Trouble that does not fail an answer (a note not stored, an LVLM that failed) is reported here. */
  log?: Logger;
  /** The built-in sentences (default English). */
  messages?: Messages;
  /** Per-conversation history (default: 8 turns, 8000 bytes, 30 minutes idle, 1000 conversations). */
  conversations?: ConversationStore;
  /** Household memory offered to the LVLM as functions (the lvlm.tools* settings); absent: never. */
  tools?: { mode: 'auto' | 'on' | 'off'; rounds: number; timeoutMs: number; resultMaxBytes: number };
  now?: () => number;
}

/** A question about a camera's current view or about an uploaded (already decoded) image. */
export interface AskRequest {
  question: string;
  cameraId?: string | undefined;
  image?: RgbImage | undefined;
  /** The household member asking (a name): the speaker of the stored note, who reminders are for. */
  asker?: string | undefined;
  mode?: AskMode | undefined;
  /** The client's (token's) name: who reminders are for when there is no asker. */
  client?: string | undefined;
  /** Continue this conversation (unknown or expired: a new one). */
  conversationId?: string | undefined;
  /** The asker's identity and command runner, for the LVLM's memory functions (the transport supplies it). */
  tools?: { principal: Principal; runCommand(cmd: Record<string, unknown>): Promise<unknown> } | undefined;
  /** Whose private notes and preferences the answer may use (see NoteReaderInfo); absent: everything (control). */
  reader?: NoteReaderInfo | undefined;
}

/** Calls of one round beyond this are refused: every call costs a memory query and prompt space. */
const MAX_CALLS_PER_ROUND = 8;

export interface AskCallbacks {
  signal?: AbortSignal | undefined;
  /** Pieces of the answer in order; their concatenation is the final answer. */
  onDelta?: ((text: string) => void) | undefined;
}

/** The first eight matches by confidence, one per concept, inside the image: the palette has eight distinct colours. */
function selectMatches(matches: readonly Match[], width: number, height: number): Match[] {
  const best = new Map<string, Match>();
  for (const m of matches) {
    if (!clampBox(m.box, width, height)) continue;
    const prev = best.get(m.conceptId);
    if (!prev || m.confidence > prev.confidence) best.set(m.conceptId, m);
  }
  return [...best.values()].sort((a, b) => b.confidence - a.confidence).slice(0, OVERLAY_PALETTE.length);
}

function checkCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new FamiliarError('CANCELLED', 'the question was cancelled');
}

/**
 * A note's speaker as a name (a person concept id becomes its name) and whether it is `asker` (by name, or
 * by the asker's person concept id).
 */
export function mentionSpeaker(speaker: string | null, concepts: readonly ConceptSummary[], asker: string | undefined): { name: string | null; you: boolean } {
  if (speaker === null) return { name: null, you: false };
  const name = concepts.find((c) => c.id === speaker)?.name ?? speaker;
  return { name, you: asker !== undefined && (memberKey(name) === memberKey(asker) || speaker === personNamed(concepts, asker)?.id) };
}

/** What one ask knows before it answers. */
interface AskContext {
  concepts: ConceptSummary[];
  mentioned: ConceptSummary[];
  understood: Understanding;
  messages: Messages;
  /** Earlier turns of this conversation, oldest first. */
  history: readonly Turn[];
  /** The asker's own person concept, if enrolled. */
  askerConcept: ConceptSummary | undefined;
  /** Reminders this answer delivers (taken from the inbox). */
  reminders: ReminderEvent[];
  /** What a species question needs said before the answer ("I know 2 dogs: Billy and Rex."); '' when nothing. */
  preface: string;
  /** Set when the answer asks which concept is meant ("Which dog do you mean: Billy or Rex?"): held with the conversation. */
  pending?: PendingClarification;
  now: number;
  emit: (text: string) => void;
  streamed: () => boolean;
}

/**
 * Answers questions by visually prompting an LVLM (PeKit): the view with one coloured box per recognised
 * concept, and "the entity enclosed in a {colour} box is called {name}" + what the household said about it
 * (context, recent notes, a person's preferences). Concepts the question names that are not in view get an
 * honest "I don't see X right now" with their last visit, never a guess, and are not sent to the LVLM. With
 * no LVLM, or when it fails before sending any text, the grounded responder answers from recognition and
 * memory (result.source = 'grounded', result.lvlm_error says why). A failure after text was streamed is
 * thrown (the client already has part of an answer; a different answer appended would be worse).
 *
 * Memory beyond identity: a question that names enrolled concepts is stored as a note (speaker = asker);
 * "remind me when…" creates a trigger; "what was I doing when I last mentioned X?" is answered from notes
 * and sightings; reminders that fired for the asker open the answer.
 */
export class Asker {
  private readonly now: () => number;
  private readonly m: Messages;
  private readonly house: HouseAnswers;
  readonly conversations: ConversationStore;
  /** lvlm.tools auto: false once the server refused a request with tools. */
  private toolsSupported = true;

  constructor(private readonly options: AskerOptions) {
    this.now = options.now ?? Date.now;
    this.m = options.messages ?? ENGLISH;
    this.house = new HouseAnswers(options.backend, this.m);
    this.conversations = options.conversations ?? new ConversationStore({ maxTurns: 8, maxBytes: 8000, idleMs: 30 * 60_000, maxConversations: 1000 }, this.now);
  }

  /** Erases a forgotten concept from every conversation and from the reminders waiting for delivery. */
  forgetConcept(conceptId: string, names: readonly string[]): void {
    this.conversations.forget(conceptId, names);
    this.options.reminders?.forget(conceptId, names);
  }

  async ask(req: AskRequest, callbacks: AskCallbacks = {}): Promise<AskResult> {
    const concepts = this.options.backend.listConcepts();
    const askerConcept = personNamed(concepts, req.asker);
    const owner = req.asker ?? req.client;
    const conversationOwner = `${req.client ?? ''}\u0000${req.asker ?? ''}`;
    const conversation = this.conversations.open(req.conversationId, conversationOwner);
    const scenes = await this.house.scenes();
    const uctx: UnderstandContext = { concepts, rooms: this.house.rooms(scenes) };
    // "Rex", after "Which dog do you mean: Billy or Rex?": what was said, carried out with that name.
    const clarified = conversation.pending && !req.image ? this.clarified(conversation.pending, req.question, uctx) : undefined;
    const asked: AskRequest = clarified ? { ...req, question: clarified.sentence } : req;
    const understood = clarified ? clarified.understood : understand(req.question, uctx);
    const byId = new Map(concepts.map((c) => [c.id, c]));
    const last = conversation.turns.at(-1);
    // "and Mochi?" is read like the question before it, when there was one.
    if (understood.elliptic && last && ELLIPTIC_REUSE.has(last.intent)) understood.intent = last.intent;
    const reminders = owner && this.options.reminders ? this.options.reminders.take([owner, ...(askerConcept ? [askerConcept.id] : [])]) : [];
    let streamed = false;
    const ctx: AskContext = {
      concepts,
      mentioned: understood.conceptIds.map((id) => byId.get(id)!).filter(Boolean),
      understood,
      messages: this.m,
      history: conversation.turns,
      askerConcept,
      reminders,
      preface: '',
      now: this.now(),
      emit: (text) => {
        if (!text) return;
        streamed = true;
        callbacks.onDelta?.(text);
      },
      streamed: () => streamed,
    };
    let result: Omit<AskResult, 'intent' | 'conversation_id'>;
    try {
      result = await this.route(asked, ctx, scenes, owner, callbacks.signal);
    } catch (err) {
      // Delivered only with an answer that arrived.
      this.options.reminders?.restore(reminders);
      throw err;
    }
    // The turn keeps the words said ("Rex"); a clarification asked now waits for the next turn, any other drops it.
    this.conversations.append(conversation.id, conversationOwner, { question: req.question, answer: result.answer, intent: understood.intent, conceptIds: understood.conceptIds, at: ctx.now }, ctx.pending);
    return { ...result, intent: understood.intent, conversation_id: conversation.id };
  }

  /**
   * The sentence a reply to a clarifying question means ("Rex" → "Rex threw up on the rug"), read again: only
   * when the reply is just one of the names offered that are still enrolled (chosenCandidate's rule) and the
   * sentence with that name is still the same statement or reminder about it. Anything else: undefined, and the
   * reply is read as a sentence of its own.
   */
  private clarified(pending: PendingClarification, reply: string, uctx: UnderstandContext): { sentence: string; understood: Understanding } | undefined {
    const candidates = pending.candidateIds.map((id) => uctx.concepts.find((c) => c.id === id)).filter((c) => c !== undefined);
    const chosen = chosenCandidate(reply, candidates);
    if (chosen === undefined) return undefined;
    const sentence = withChosenName(pending.question, uctx.concepts, chosen);
    if (sentence === undefined) return undefined;
    const understood = understand(sentence, uctx);
    if (understood.intent !== pending.intent || !understood.conceptIds.includes(chosen)) return undefined;
    return { sentence, understood };
  }

  /** One grammar decides; the LVLM (when configured) answers what needs eyes, memory answers the rest. */
  private async route(req: AskRequest, ctx: AskContext, scenes: CameraScene[], owner: string | undefined, signal: AbortSignal | undefined): Promise<Omit<AskResult, 'intent' | 'conversation_id'>> {
    const u = ctx.understood;
    const named = ctx.mentioned;
    const ownerKeys = [...(owner ? [owner] : []), ...(ctx.askerConcept ? [ctx.askerConcept.name] : [])];
    if (req.image) return this.answerView(req, ctx, signal, null);
    // "Where is the cat?": answered about the cat(s) the household has, or honestly that it has none.
    if (CATEGORY_INTENTS.has(u.intent)) {
      ctx.preface = this.house.categories(u, ctx.concepts);
      if (ctx.preface && named.length === 0) return this.memoryAnswer(ctx, '', {});
    }
    // "The dog threw up" with two dogs: nothing is stored until it is clear which one.
    if (u.ambiguous && (u.intent === 'note' || u.intent === 'remind')) {
      const candidateIds = u.ambiguous.conceptIds.filter((id) => ctx.concepts.some((c) => c.id === id));
      ctx.pending = { question: req.question, intent: u.intent, candidateIds };
      return this.memoryAnswer(ctx, this.house.which(u.ambiguous, ctx.concepts), {});
    }
    switch (u.intent) {
      case 'remind':
        return this.createReminder(req, ctx);
      case 'last_mention':
        return this.recallMention(req, ctx);
      case 'note':
        return this.storeStatement(req, ctx);
      case 'reminders':
        return this.memoryAnswer(ctx, await this.house.reminders(ownerKeys), {});
      case 'cancel_reminder': {
        const { text } = await this.house.cancel(req.question, named, ownerKeys);
        return this.memoryAnswer(ctx, text, {});
      }
      case 'where':
      case 'last_seen':
        if (named.length > 0) {
          const text = await this.house.where(named, scenes, ctx.now, u.yesNo === true);
          return this.memoryAnswer(ctx, text, { not_in_view: await this.notInView(named, scenes) });
        }
        break;
      case 'presence':
        if (named.length > 0 && !this.options.lvlm) return this.memoryAnswer(ctx, await this.house.presence(named, u, scenes, ctx.now), {});
        break;
      case 'room':
        if (u.room === undefined || !this.options.lvlm) return this.memoryAnswer(ctx, this.house.room(u, scenes), {});
        break;
      case 'count':
        return this.memoryAnswer(ctx, this.house.count(u, ctx.concepts, scenes), {});
      case 'roster':
        return this.memoryAnswer(ctx, await this.house.roster(u, ctx.concepts, named, scenes, ctx.now), {});
      case 'visitors':
        return this.memoryAnswer(ctx, await this.house.visitors(u, ctx.now), {});
      case 'notes':
        return this.memoryAnswer(ctx, await this.house.notes(named, ctx.concepts, ctx.askerConcept, req.asker, ctx.now, req.reader), {});
      case 'preferences':
        return this.memoryAnswer(ctx, await this.house.preferences(named, req.reader), {});
      case 'unknown':
        if (!this.options.lvlm && !req.cameraId) return this.memoryAnswer(ctx, this.m.t('unknown'), {});
        break;
      case 'view':
        break;
    }
    return this.answerView(req, ctx, signal, this.cameraFor(req, ctx, scenes));
  }

  /**
   * One answer from the LVLM, offering household memory as functions when configured (lvlm.tools) and the ask
   * came with the asker's command runner: up to `rounds` rounds of calls, each validated, role-checked, time-
   * and size-capped (tools.ts); then the model answers without tools. `auto` stops offering tools, for good,
   * when the server refuses a request that carries them (HTTP 400/404/422: no function calling), and answers
   * without them.
   */
  private async converse(lvlm: ChatModel, messages: ChatMessage[], req: AskRequest, signal: AbortSignal | undefined, stream: { onDelta: (text: string) => void }): Promise<{ text: string; toolsUsed: ToolUse[] }> {
    const cfg = this.options.tools;
    const runner = req.tools;
    if (!cfg || cfg.mode === 'off' || !runner || (cfg.mode === 'auto' && !this.toolsSupported)) {
      return { text: (await lvlm.chat(messages, { signal, onDelta: stream.onDelta })).text, toolsUsed: [] };
    }
    const specs = toolSpecs(runner.principal);
    const used: ToolUse[] = [];
    const convo: ChatMessage[] = [...messages];
    const limits = { timeoutMs: cfg.timeoutMs, resultMaxBytes: cfg.resultMaxBytes };
    for (let round = 0; ; round++) {
      const last = round >= cfg.rounds;
      let reply: ChatAnswer;
      try {
        reply = await lvlm.chat(convo, { signal, onDelta: stream.onDelta, ...(!last && { tools: specs }) });
      } catch (err) {
        const e = toFamiliarError(err);
        const status = e.details?.status;
        if (round === 0 && cfg.mode === 'auto' && e.code === 'LVLM_UNAVAILABLE' && (status === 400 || status === 404 || status === 422)) {
          this.toolsSupported = false;
          this.options.log?.('warn', 'the LVLM server refused a request with tools; answering without them from now on (lvlm.tools: auto)', { code: e.code, error: e.message });
          return { text: (await lvlm.chat(messages, { signal, onDelta: stream.onDelta })).text, toolsUsed: [] };
        }
        throw e;
      }
      if (reply.toolCalls.length === 0 || last) return { text: reply.text, toolsUsed: used };
      convo.push({
        role: 'assistant',
        content: reply.text || null,
        tool_calls: reply.toolCalls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } })),
      });
      const views: string[] = [];
      const env: ToolEnv = {
        principal: runner.principal,
        runCommand: runner.runCommand,
        backend: this.options.backend,
        scenes: () => this.house.scenes(),
        showView: async (cameraId) => {
          const view = await this.annotatedView(cameraId);
          views.push(view.url);
          return { camera_id: view.cameraId, room: view.room, in_view: view.names };
        },
      };
      for (const [i, call] of reply.toolCalls.entries()) {
        checkCancelled(signal);
        // Every call needs an answer in the conversation; past the per-round cap it is a refusal.
        const r = i < MAX_CALLS_PER_ROUND ? await runToolCall(call, env, limits) : { use: { name: call.name, ok: false, error: 'too_many_calls' }, content: JSON.stringify({ error: 'too_many_calls', message: `at most ${MAX_CALLS_PER_ROUND} calls per round` }) };
        used.push(r.use);
        if (!r.use.ok) this.options.log?.('warn', 'LVLM tool call refused', { code: r.use.error ?? 'unknown', error: `${call.name}: ${r.content.slice(0, 200)}` });
        convo.push({ role: 'tool', tool_call_id: call.id, content: r.content });
      }
      if (views.length > 0) convo.push({ role: 'user', content: [...views.map((url) => ({ type: 'image_url' as const, image_url: { url } })), { type: 'text' as const, text: 'The camera view you asked for (recognised entities boxed and named).' }] });
    }
  }

  /** A camera's current view with every recognised entity boxed and labelled, as a data URL. */
  private async annotatedView(cameraId: string): Promise<{ cameraId: string; room: string; names: string[]; url: string }> {
    const view = await this.options.backend.currentView(cameraId);
    if (!view) throw new FamiliarError('NOT_FOUND', `camera "${cameraId}" has no frame yet`);
    const shown = selectMatches(view.matches, view.image.width, view.image.height);
    const overlay = await renderOverlay(view.image, shown.map((m) => ({ box: m.box, label: m.name })), this.options.overlay);
    return { cameraId: view.cameraId, room: view.room, names: shown.map((m) => m.name), url: `data:image/jpeg;base64,${Buffer.from(overlay.jpeg).toString('base64')}` };
  }

  /** The named concepts no camera sees now, with their last visit (AskResult.not_in_view). */
  private async notInView(named: readonly ConceptSummary[], scenes: readonly CameraScene[]): Promise<AskResult['not_in_view']> {
    const absent = named.filter((c) => !HouseAnswers.find(scenes, c.id));
    return Promise.all(
      absent.map(async (c) => {
        const visit = await this.house.lastVisit(c.id);
        return { concept_id: c.id, name: c.name, last_seen: visit ? toWireLastVisit(visit) : null };
      }),
    );
  }

  /** The camera a question is about: the one asked, else one that sees a named concept, else one in the named room. */
  private cameraFor(req: AskRequest, ctx: AskContext, scenes: readonly CameraScene[]): string | undefined {
    if (req.cameraId) return req.cameraId;
    for (const c of ctx.mentioned) {
      const w = HouseAnswers.find(scenes, c.id);
      if (w) return w.scene.cameraId;
    }
    const room = ctx.understood.room;
    if (room) return scenes.find((s) => memberKey(s.room) === memberKey(room))?.cameraId;
    return undefined;
  }

  private async answerView(req: AskRequest, ctx: AskContext, signal: AbortSignal | undefined, camera: string | null | undefined): Promise<Omit<AskResult, 'intent' | 'conversation_id'>> {
    const { backend } = this.options;
    const { emit, mentioned, now } = ctx;

    let image: RgbImage;
    let matches: Match[];
    let cameraId: string | null = null;
    let room: string | null = null;
    let capturedAt: number | null = null;
    if (req.image) {
      image = req.image;
      matches = await backend.recognise(image, signal);
    } else {
      const view = await backend.currentView(camera ?? undefined);
      if (!view) throw new FamiliarError('NOT_FOUND', camera ? `camera "${camera}" has no frame yet` : 'no camera has a frame yet');
      ({ image, matches, cameraId, room, capturedAt } = view);
    }
    checkCancelled(signal);

    const byId = new Map<string, ConceptSummary>(ctx.concepts.map((c) => [c.id, c]));
    const shown = selectMatches(matches, image.width, image.height);
    const shownIds = new Set(shown.map((m) => m.conceptId));
    const absent = await Promise.all(mentioned.filter((c) => !shownIds.has(c.id)).map(async (c) => ({ concept: c, lastSeen: await this.house.lastVisit(c.id) })));
    const mentionedInView = shown.filter((m) => mentioned.some((c) => c.id === m.conceptId));
    const noteId = undefined;

    // Names and context as memory has them now (a rename since the frame was recognised wins).
    const entities: PromptEntity[] = shown.map((m, i) => ({
      colour: OVERLAY_PALETTE[i]!.name,
      name: byId.get(m.conceptId)?.name ?? m.name,
      kind: m.kind,
      context: byId.get(m.conceptId)?.context ?? '',
    }));
    const groundedOn = shown.map((m, i) => ({
      concept_id: m.conceptId,
      name: entities[i]!.name,
      kind: m.kind,
      colour: entities[i]!.colour,
      box: m.box,
      confidence: m.confidence,
    }));
    const base = {
      camera_id: cameraId,
      room,
      captured_at: capturedAt,
      not_in_view: absent.map((a) => ({ concept_id: a.concept.id, name: a.concept.name, last_seen: a.lastSeen ? toWireLastVisit(a.lastSeen) : null })),
      ...memoryFields(ctx, noteId),
    };
    const remindersText = reminderSentences(ctx, this.m);

    const grounded = (reason: GroundedReason, lvlmError?: FamiliarError): Omit<AskResult, 'intent' | 'conversation_id'> => {
      const text = groundedAnswer({
        messages: this.m,
        matches: shown,
        imageWidth: image.width,
        room,
        mentionedInView,
        absent: absent.map((a) => ({ name: a.concept.name, lastSeen: a.lastSeen })),
        reason,
        now,
      });
      const answer = [remindersText, ctx.preface, text].filter(Boolean).join(' ');
      emit(answer);
      return {
        answer,
        source: 'grounded',
        ...base,
        grounded_on: reason === 'absent-only' ? [] : groundedOn,
        ...(lvlmError ? { lvlm_error: lvlmError.toJSON() } : {}),
      };
    };

    // Asked only about concepts that are not here: the honest answer needs no model, and a model shown the
    // frame would be tempted to find them in it.
    if (mentioned.length > 0 && mentionedInView.length === 0) return grounded('absent-only');
    const lvlm = this.options.lvlm;
    if (!lvlm) return grounded('no-lvlm');

    // What the household said about them lately, and what the people here (and the asker) like.
    await Promise.all(
      shown.map(async (m, i) => {
        entities[i]!.notes = await this.recentNotes(m.conceptId, noteId, byId, req.reader);
        if (m.kind === 'person') entities[i]!.preferences = await this.preferenceLists(m.conceptId, req.reader);
      }),
    );
    const askerPreferences = ctx.askerConcept && !shownIds.has(ctx.askerConcept.id) ? await this.preferenceLists(ctx.askerConcept.id, req.reader) : undefined;
    checkCancelled(signal);

    // renderOverlay colours items in palette order, the same order `entities` took its colours from.
    const overlay = await renderOverlay(
      image,
      shown.map((m, i) => ({ box: m.box, label: entities[i]!.name })),
      this.options.overlay,
    );
    checkCancelled(signal);
    const imageUrl = `data:image/jpeg;base64,${Buffer.from(overlay.jpeg).toString('base64')}`;
    const absentNames = absent.map((a) => a.concept.name);
    const prefix = [remindersText, ctx.preface, ...absent.map((a) => notInViewSentence(a.concept.name, a.lastSeen, now, this.m))].filter(Boolean).join(' ');
    const history = ctx.history.map((t) => ({ question: t.question, answer: t.answer }));

    let answer = '';
    try {
      let caption: string | undefined;
      if ((req.mode ?? (this.options.captionFirst ? 'caption_first' : 'direct')) === 'caption_first') {
        caption = (await lvlm.chat(buildCaptionMessages({ imageUrl, entities, asker: req.asker, absent: absentNames, askerPreferences }), { signal })).text;
        caption = sanitiseText(caption, PROMPT_LIMITS.caption) || undefined;
      }
      const messages = buildAnswerMessages({ imageUrl, entities, question: req.question, asker: req.asker, absent: absentNames, caption, askerPreferences, history });
      let first = true;
      const reply = await this.converse(lvlm, messages, req, signal, {
        onDelta: (text) => {
          // The honest part about absent concepts (and the reminders) goes out only once the model has
          // started answering, so a failure before that can still fall back to the grounded responder cleanly.
          if (first && prefix) {
            emit(`${prefix} `);
            answer += `${prefix} `;
          }
          first = false;
          emit(text);
          answer += text;
        },
      });
      if (!reply.text.trim()) throw new FamiliarError('LVLM_BAD_RESPONSE', 'the LVLM returned an empty answer');
      return { answer, source: 'lvlm', ...base, grounded_on: groundedOn, ...(reply.toolsUsed.length > 0 && { tools_used: reply.toolsUsed }) };
    } catch (err) {
      const e = toFamiliarError(err);
      if (e.code === 'CANCELLED' || signal?.aborted) throw new FamiliarError('CANCELLED', 'the question was cancelled', { cause: err });
      this.options.log?.('warn', ctx.streamed() ? 'LVLM failed mid-answer' : 'LVLM failed; the built-in responder answers', { code: e.code, error: e.message });
      if (!ctx.streamed() && (e.code === 'LVLM_UNAVAILABLE' || e.code === 'LVLM_TIMEOUT' || e.code === 'LVLM_BAD_RESPONSE')) return grounded('lvlm-failed', e);
      throw e;
    }
  }

  /** "Remind me when…": the runtime parses the sentence into a trigger; the answer confirms it or says why not. */
  private async createReminder(req: AskRequest, ctx: AskContext): Promise<Omit<AskResult, 'intent' | 'conversation_id'>> {
    let text: string;
    let trigger: AskResult['trigger'];
    try {
      const t = await this.options.backend.addTrigger({ text: req.question, createdBy: req.asker ?? req.client ?? 'unknown' });
      trigger = toWireTrigger(t);
      text = triggerConfirmation(t, this.m);
    } catch (err) {
      const e = toFamiliarError(err);
      if (e.code === 'INTERNAL') throw e;
      text = this.m.t('trigger.failed', { reason: sanitiseText(e.message, PROMPT_LIMITS.note) });
    }
    return this.memoryAnswer(ctx, text, { ...(trigger && { trigger }) });
  }

  /** "What was I doing when I last mentioned Grandma?" from notes and sightings. */
  private async recallMention(req: AskRequest, ctx: AskContext): Promise<Omit<AskResult, 'intent' | 'conversation_id'>> {
    const concept = ctx.mentioned[0];
    if (!concept) return this.memoryAnswer(ctx, this.m.t('followup.nothing'), {});
    const recall = await this.options.backend.lastMention(concept.id, req.reader);
    const speaker = mentionSpeaker(recall?.note.speaker ?? null, ctx.concepts, req.asker);
    return this.memoryAnswer(ctx, lastMentionAnswer(concept.name, recall, speaker.name, speaker.you, ctx.now, this.m), {});
  }

  /** "Billy had his vaccination today": a statement about someone becomes a note (questions never do). */
  private async storeStatement(req: AskRequest, ctx: AskContext): Promise<Omit<AskResult, 'intent' | 'conversation_id'>> {
    try {
      const note = await this.options.backend.addNote({
        text: req.question,
        // The speaker as memory keys people: the asker's person concept when enrolled (sightings find it), else the name.
        speaker: ctx.askerConcept?.id ?? req.asker ?? null,
        conceptIds: ctx.mentioned.map((c) => c.id),
        ...(req.cameraId !== undefined && { cameraId: req.cameraId }),
      });
      return this.memoryAnswer(ctx, this.m.t('note.stored', { names: this.m.list(ctx.mentioned.map((c) => safeName(c.name))) }), memoryFields(ctx, note.id));
    } catch (err) {
      const e = toFamiliarError(err);
      if (e.code === 'INTERNAL') throw e;
      this.options.log?.('warn', 'statement not stored as a note', { code: e.code, error: e.message });
      return this.memoryAnswer(ctx, this.m.t('note.failed', { reason: sanitiseText(e.message, PROMPT_LIMITS.note) }), {});
    }
  }

  private memoryAnswer(ctx: AskContext, text: string, extra: Partial<AskResult>): Omit<AskResult, 'intent' | 'conversation_id'> {
    const answer = [reminderSentences(ctx, this.m), ctx.preface, text].filter(Boolean).join(' ');
    ctx.emit(answer);
    return { answer, source: 'grounded', camera_id: null, room: null, captured_at: null, grounded_on: [], not_in_view: [], ...memoryFields(ctx, undefined), ...extra };
  }

  /** Recent notes about a concept for its prompt line, without the note this question just made. */
  private async recentNotes(conceptId: string, exclude: string | undefined, byId: ReadonlyMap<string, ConceptSummary>, reader: NoteReaderInfo | undefined): Promise<PromptNote[]> {
    try {
      const notes = await this.options.backend.notes(conceptId, PROMPT_LIMITS.notesPerConcept + 1, reader);
      return notes
        .filter((n) => n.id !== exclude)
        .slice(0, PROMPT_LIMITS.notesPerConcept)
        .map((n) => ({ text: n.text, speaker: n.speaker === null ? null : (byId.get(n.speaker)?.name ?? n.speaker), when: timeAgo(n.at, this.now()) }));
    } catch {
      return [];
    }
  }

  /** A person's likes for the prompt, when the reader may know them (another member's stay out of the prompt). */
  private async preferenceLists(conceptId: string, reader: NoteReaderInfo | undefined): Promise<PromptPreferences | undefined> {
    const person = this.options.backend.listConcepts().find((c) => c.id === conceptId);
    if (!person || !preferencesVisibleTo(reader, person)) return undefined;
    try {
      const p = await this.options.backend.preferences(conceptId);
      return { likes: p.likes.map((a) => a.text), dislikes: p.dislikes.map((a) => a.text) };
    } catch {
      return undefined;
    }
  }
}

/** Intents about particular concepts: a species or category in them ("the cat") may need a sentence first. */
const CATEGORY_INTENTS: ReadonlySet<AskIntent> = new Set(['where', 'last_seen', 'presence', 'roster', 'notes', 'preferences', 'last_mention', 'view']);

/** Intents a bare "and Mochi?" may repeat from the previous turn. */
const ELLIPTIC_REUSE: ReadonlySet<AskIntent> = new Set(['where', 'presence', 'last_seen', 'notes', 'preferences', 'roster', 'view']);

/** The reminders an answer opens with, as one run of sentences ('' when none). */
function reminderSentences(ctx: AskContext, m: Messages): string {
  return ctx.reminders.map((r) => reminderSentence(r, ctx.now, m)).join(' ');
}

/** The memory fields of an AskResult: reminders delivered, the note stored. */
function memoryFields(ctx: AskContext, noteId: string | undefined): Pick<AskResult, 'reminders' | 'note_id'> {
  return {
    ...(ctx.reminders.length > 0 && { reminders: ctx.reminders.map((r) => toWireReminder(r, ctx.now, ctx.messages)) }),
    ...(noteId !== undefined && { note_id: noteId }),
  };
}

function toWireLastVisit(v: LastVisit): WireLastSeen {
  return {
    ...toWireLastSeen(v),
    ...(v.firstSeen !== undefined && { first_seen: v.firstSeen }),
    ...(v.withOthers !== undefined && { with_others: [...v.withOthers] }),
  };
}
