import { describe, expect, it } from 'vitest';
import { ConversationStore, type PendingClarification } from './conversations.ts';

const turn = (question: string, answer = 'ok') => ({ question, answer, intent: 'note' as const, conceptIds: [], at: 0 });
const WHICH: PendingClarification = { question: 'The dog threw up on the rug', intent: 'note', candidateIds: ['billy', 'rex'] };

describe('a clarification waiting in a conversation', () => {
  it('is held for the next turn of the same conversation and owner only, and any other turn drops it', () => {
    const store = new ConversationStore({ maxTurns: 8, maxBytes: 8000, idleMs: 60_000, maxConversations: 10 }, () => 0);
    const { id } = store.open(undefined, 'phone\u0000Tom');
    store.append(id, 'phone\u0000Tom', turn(WHICH.question, 'Which dog do you mean: Billy or Rex?'), WHICH);
    expect(store.open(id, 'phone\u0000Tom').pending).toEqual(WHICH);
    // Another owner holding the id gets a new conversation, without it.
    const theirs = store.open(id, 'phone\u0000Anna');
    expect(theirs.id).not.toBe(id);
    expect(theirs.pending).toBeUndefined();
    // A turn that asks nothing drops it.
    store.append(id, 'phone\u0000Tom', turn('Where is Mochi?'));
    expect(store.open(id, 'phone\u0000Tom').pending).toBeUndefined();
  });

  it('expires with its conversation (idle time, and the cap on conversations) and goes with a forgotten concept', () => {
    let now = 0;
    const store = new ConversationStore({ maxTurns: 8, maxBytes: 8000, idleMs: 60_000, maxConversations: 2 }, () => now);
    const started = (owner: string) => {
      const { id } = store.open(undefined, owner);
      store.append(id, owner, turn(WHICH.question), WHICH);
      return id;
    };
    const idle = started('a');
    now = 60_001;
    expect(store.open(idle, 'a')).toMatchObject({ turns: [] });
    expect(store.open(idle, 'a').pending).toBeUndefined();

    const oldest = started('a');
    started('b');
    started('c');
    expect(store.size).toBe(2);
    expect(store.open(oldest, 'a').pending).toBeUndefined();

    const kept = started('d');
    store.forget('mochi', ['Mochi']);
    expect(store.open(kept, 'd').pending).toEqual(WHICH);
    store.forget('rex', ['Rex']);
    expect(store.open(kept, 'd').pending).toBeUndefined();
  });

  it('is bounded: a sentence over the byte limit, or a list of more than 16 concepts, is not held', () => {
    const store = new ConversationStore({ maxTurns: 8, maxBytes: 40, idleMs: 60_000, maxConversations: 10 }, () => 0);
    const { id } = store.open(undefined, 'o');
    store.append(id, 'o', turn('x'), { ...WHICH, question: `The dog ${'very '.repeat(10)}much threw up` });
    expect(store.open(id, 'o').pending).toBeUndefined();
    store.append(id, 'o', turn('x'), { ...WHICH, candidateIds: Array.from({ length: 17 }, (_, i) => `dog${i}`) });
    expect(store.open(id, 'o').pending).toBeUndefined();
    store.append(id, 'o', turn('x'), WHICH);
    expect(store.open(id, 'o').pending).toEqual(WHICH);
  });
});
