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

  /** The conversation to continue (its id, and its turns oldest first): `id` when it is alive and `owner`'s, else a new one. */
  open(id: string | undefined, owner: string): { id: string; turns: readonly Turn[] } {
    this.#expire();
    const existing = id === undefined ? undefined : this.#byId.get(id);
    if (id !== undefined && existing && existing.owner === owner) return { id, turns: [...existing.turns] };
    return { id: randomBytes(12).toString('base64url'), turns: [] };
  }

  /** Records a finished turn (creating the conversation on its first turn). */
  append(id: string, owner: string, turn: Turn): void {
    let c = this.#byId.get(id);
    if (c && c.owner !== owner) return;
    if (c) this.#byId.delete(id);
    else c = { owner, turns: [], bytes: 0, lastAt: 0 };
    c.turns.push(turn);
    c.bytes += turnBytes(turn);
    c.lastAt = this.now();
    while (c.turns.length > 0 && (c.turns.length > this.limits.maxTurns || c.bytes > this.limits.maxBytes)) c.bytes -= turnBytes(c.turns.shift()!);
    // Map order is insertion order: re-inserting keeps the most recently used last.
    this.#byId.set(id, c);
    while (this.#byId.size > this.limits.maxConversations) this.#byId.delete(this.#byId.keys().next().value!);
  }

  /** Erases every turn about a forgotten concept (by id, or naming it) from every conversation. */
  forget(conceptId: string, names: readonly string[]): number {
    let removed = 0;
    for (const c of this.#byId.values()) {
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
