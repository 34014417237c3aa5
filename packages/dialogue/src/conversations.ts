import { randomBytes } from 'node:crypto';
import type { AskIntent } from '@familiar/contracts';
import { mentionsAny } from '@familiar/language';

/** One question and its answer. */
export interface Turn {
  question: string;
  answer: string;
  intent: AskIntent;
  /** Concepts the question was about (follow-ups like "and Mochi?" reuse the intent; forget erases the turn). */
  conceptIds: string[];
  at: number;
}

/**
 * A clarifying question waiting for its answer: "The dog threw up" with two dogs was answered "Which dog do you
 * mean: Billy or Rex?", and the next ask of the same conversation may be just one of the names. Held with the
 * conversation (never in memory), so it has its owner, its idle expiry and its cap; any other next turn drops it.
 */
export interface PendingClarification {
  /** The statement or reminder as said ("The dog threw up on the rug"). */
  question: string;
  intent: AskIntent;
  /** The concepts the question offered, in the order named. */
  candidateIds: string[];
}

/** A clarification offering more than this many concepts is asked but not held (nobody answers a list that long). */
const MAX_CANDIDATES = 16;

export interface ConversationLimits {
  maxTurns: number;
  maxBytes: number;
  idleMs: number;
  maxConversations: number;
}

interface Conversation {
  /** Who may continue it (the client and member that started it): an id is not a capability to read others' turns. */
  owner: string;
  turns: Turn[];
  bytes: number;
  lastAt: number;
  /** Set by the turn that asked it; the next turn replaces or drops it. */
  pending?: PendingClarification;
}

const turnBytes = (t: Turn) => Buffer.byteLength(t.question) + Buffer.byteLength(t.answer);

/**
 * Per-conversation history for follow-ups, in memory and bounded on every axis: turns, bytes and idle time per
 * conversation, and the number of conversations (the one idle longest is dropped first). Ids are random and
 * unguessable; an unknown or expired id simply starts a new conversation.
 */
export class ConversationStore {
  readonly #byId = new Map<string, Conversation>();

  constructor(
    private readonly limits: ConversationLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The conversation to continue (its id, its turns oldest first, and the clarification its last answer asked):
   * `id` when it is alive and `owner`'s, else a new one.
   */
  open(id: string | undefined, owner: string): { id: string; turns: readonly Turn[]; pending?: PendingClarification } {
    this.#expire();
    const existing = id === undefined ? undefined : this.#byId.get(id);
    if (id !== undefined && existing && existing.owner === owner) return { id, turns: [...existing.turns], ...(existing.pending && { pending: existing.pending }) };
    return { id: randomBytes(12).toString('base64url'), turns: [] };
  }

  /**
   * Records a finished turn (creating the conversation on its first turn), with the clarification its answer asks
   * (`pending`); without one, any clarification waiting is dropped. One longer than the byte limit, or offering
   * more than 16 concepts, is not held.
   */
  append(id: string, owner: string, turn: Turn, pending?: PendingClarification): void {
    let c = this.#byId.get(id);
    if (c && c.owner !== owner) return;
    if (c) this.#byId.delete(id);
    else c = { owner, turns: [], bytes: 0, lastAt: 0 };
    delete c.pending;
    if (pending && pending.candidateIds.length <= MAX_CANDIDATES && Buffer.byteLength(pending.question) <= this.limits.maxBytes) {
      c.pending = { question: pending.question, intent: pending.intent, candidateIds: [...pending.candidateIds] };
    }
    c.turns.push(turn);
    c.bytes += turnBytes(turn);
    c.lastAt = this.now();
    while (c.turns.length > 0 && (c.turns.length > this.limits.maxTurns || c.bytes > this.limits.maxBytes)) c.bytes -= turnBytes(c.turns.shift()!);
    // Map order is insertion order: re-inserting keeps the most recently used last.
    this.#byId.set(id, c);
    while (this.#byId.size > this.limits.maxConversations) this.#byId.delete(this.#byId.keys().next().value!);
  }

  /** Erases every turn about a forgotten concept (by id, or naming it), and every clarification offering it, from every conversation. */
  forget(conceptId: string, names: readonly string[]): number {
    let removed = 0;
    for (const c of this.#byId.values()) {
      if (c.pending && (c.pending.candidateIds.includes(conceptId) || mentionsAny(c.pending.question, names))) delete c.pending;
      const keep = c.turns.filter((t) => !t.conceptIds.includes(conceptId) && !mentionsAny(t.question, names) && !mentionsAny(t.answer, names));
      removed += c.turns.length - keep.length;
      c.turns = keep;
      c.bytes = keep.reduce((n, t) => n + turnBytes(t), 0);
    }
    return removed;
  }

  /** Every turn still held (for tests and status). */
  turns(): Turn[] {
    return [...this.#byId.values()].flatMap((c) => c.turns);
  }

  get size(): number {
    return this.#byId.size;
  }

  #expire(): void {
    const oldest = this.now() - this.limits.idleMs;
    for (const [id, c] of this.#byId) if (c.lastAt < oldest) this.#byId.delete(id);
  }
}
