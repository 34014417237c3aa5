/**
 * Conversations over a real WebSocket with the local OpenAI-compatible server: a follow-up's prompt carries
 * the earlier turns as chat messages, a forgotten concept's turns leave every conversation, an unknown id
 * starts a new conversation, and duplicate reminders are merged instead of set twice.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AskResult, TriggersListResult } from '@familiar/contracts';
import { CONTROL_TOKEN, VIEWER_TOKEN, startHarness, type Harness } from './support/dialogue-harness.ts';
import { FakeLvlmServer } from './support/fake-lvlm.ts';
import { ok, TestClients } from './support/ws-client.ts';

let fake: FakeLvlmServer;
let h: Harness;
const clients = new TestClients();

beforeAll(async () => {
  fake = await FakeLvlmServer.start();
});
beforeEach(async () => {
  fake.setDefault({ kind: 'stream' });
  h = await startHarness({ lvlm: { baseUrl: fake.baseUrl, model: 'fake-vl', connectTimeoutMs: 800, firstTokenTimeoutMs: 1500, totalTimeoutMs: 5000, retries: 0 } });
});
afterEach(async () => {
  clients.closeAll();
  await h.close();
});
afterAll(async () => {
  await fake.close();
});

type Message = { role: string; content: unknown };
const messagesOf = (i: number) => (fake.requests.at(i)!.body!.messages as Message[]).map((m) => ({ role: m.role, text: typeof m.content === 'string' ? m.content : JSON.stringify(m.content) }));

describe('conversations', () => {
  it("sends a follow-up's earlier turns to the LVLM, and forgets a concept's turns everywhere", async () => {
    const c = await clients.connect(h.url, CONTROL_TOKEN);
    const first = ok(await c.request<AskResult>({ type: 'ask', question: 'What is Billy doing?', camera_id: 'living' }));
    expect(first.source).toBe('lvlm');
    expect(first.conversation_id).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(messagesOf(-1).map((m) => m.role)).toEqual(['system', 'user']);

    const second = ok(await c.request<AskResult>({ type: 'ask', question: 'And before that?', camera_id: 'living', conversation_id: first.conversation_id }));
    expect(second.conversation_id).toBe(first.conversation_id);
    const sent = messagesOf(-1);
    expect(sent.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(sent[1]!.text).toContain('What is Billy doing?');
    expect(sent[2]!.text).toBe(first.answer);
    expect(sent[3]!.text).toContain('And before that?');

    // Another conversation (a new id) does not see it; a made-up id starts a fresh one.
    const other = ok(await c.request<AskResult>({ type: 'ask', question: 'What is Mochi doing?', camera_id: 'living', conversation_id: 'not-a-real-conversation' }));
    expect(other.conversation_id).not.toBe('not-a-real-conversation');
    expect(messagesOf(-1).map((m) => m.role)).toEqual(['system', 'user']);

    // Forgetting Billy erases the turns about him from every conversation.
    ok(await c.request({ type: 'concepts/forget', concept_id: h.backend.byName('Billy').id }));
    ok(await c.request<AskResult>({ type: 'ask', question: 'And now?', camera_id: 'living', conversation_id: first.conversation_id }));
    const after = messagesOf(-1);
    expect(after.some((m) => m.text.includes('Billy'))).toBe(false);
    expect(after.map((m) => m.role)).toEqual(['system', 'user']);
  });

  it('reads "and Mochi?" like the question before it, without an LVLM', async () => {
    const x = await startHarness({ chatModel: null });
    try {
      const c = await clients.connect(x.url, VIEWER_TOKEN);
      const first = ok(await c.request<AskResult>({ type: 'ask', question: 'Where is Anna?' }));
      expect(first).toMatchObject({ intent: 'where' });
      const follow = ok(await c.request<AskResult>({ type: 'ask', question: 'And Mochi?', conversation_id: first.conversation_id }));
      expect(follow).toMatchObject({ intent: 'where', answer: 'Mochi is in the living room (camera living) right now.' });
    } finally {
      await x.close();
    }
  });

  it('merges a repeated reminder instead of setting it twice', async () => {
    const c = await clients.connect(h.url, CONTROL_TOKEN);
    const first = ok(await c.request<AskResult>({ type: 'ask', question: 'Can you remind me to feed Mochi when she comes in?' }));
    expect(first).toMatchObject({ intent: 'remind', answer: 'OK, the next time Mochi shows up I\'ll tell you: "Remember to feed Mochi."' });
    const again = ok(await c.request<AskResult>({ type: 'ask', question: 'Please remind me to feed Mochi when she comes in' }));
    expect(again.answer).toBe('You already have that reminder: the next time Mochi shows up I\'ll tell you: "Remember to feed Mochi."');
    expect(again.trigger?.id).toBe(first.trigger?.id);
    expect(ok(await c.request<TriggersListResult>({ type: 'triggers/list' })).triggers).toHaveLength(1);
  });
});
