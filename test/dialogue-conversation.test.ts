/**
 * Conversations over a real WebSocket with the local OpenAI-compatible server: a follow-up's prompt carries
 * the earlier turns as chat messages, a forgotten concept's turns leave every conversation, an unknown id
 * starts a new conversation, and duplicate reminders are merged instead of set twice.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AskResult, TriggersListResult } from '@familiar/contracts';
import { CONTROL_TOKEN, VIEWER_TOKEN, startHarness, type Harness } from './support/dialogue-harness.ts';
import { FakeLvlmServer } from './support/fake-lvlm.ts';
import { ANNA_PHOTO, BILLY_PHOTO, MEMBER_TOKENS } from './support/members.ts';
import { ReminderInboxFile } from '@familiar/runtime';
import { StaticBackend } from './support/static-backend.ts';
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

    // Another client holding the id does not get its turns: the id is not a key to someone else's history.
    const stranger = await clients.connect(h.url, VIEWER_TOKEN);
    const theirs = ok(await stranger.request<AskResult>({ type: 'ask', question: 'What is Billy doing?', camera_id: 'living', conversation_id: first.conversation_id }));
    expect(theirs.conversation_id).not.toBe(first.conversation_id);
    expect(messagesOf(-1).map((m) => m.role)).toEqual(['system', 'user']);

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

describe('fired reminders waiting for their member', () => {
  it('survive a restart of the server, and go with a forgotten concept', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'familiar-inbox-'));
    const file = path.join(dir, 'reminder-inbox.json');
    const backend = await StaticBackend.create();
    let x = await startHarness({ chatModel: null, backend, server: { tokens: MEMBER_TOKENS }, reminderInbox: new ReminderInboxFile(file) });
    try {
      const tom = await clients.connect(x.url, VIEWER_TOKEN);
      ok(await tom.request<AskResult>({ type: 'ask', question: 'If Anna shows up, remind me to call the doctor' }));
      ok(await tom.request<AskResult>({ type: 'ask', question: 'Tell me every time Billy comes into the hallway' }));
      const sub = ok(await tom.request<{ subscription: number }>({ type: 'scene/subscribe' })).subscription;
      await backend.replay('living', [ANNA_PHOTO], [{ name: 'Anna', tile: 0, confidence: 0.93 }]);
      await backend.replay('hall', [BILLY_PHOTO], [{ name: 'Billy', tile: 0, confidence: 0.93 }]);
      await tom.waitFor((m) => m.type === 'event' && m.id === sub && (m.event as { kind: string; name?: string }).kind === 'reminder' && (m.event as { name: string }).name === 'Billy');
      clients.closeAll();
      await x.close();

      // A new server over the same store: Tom's next answer still opens with both reminders, once.
      x = await startHarness({ chatModel: null, backend, server: { tokens: MEMBER_TOKENS }, reminderInbox: new ReminderInboxFile(file) });
      const again = await clients.connect(x.url, VIEWER_TOKEN);
      const control = await clients.connect(x.url, CONTROL_TOKEN);
      ok(await control.request({ type: 'concepts/forget', concept_id: backend.byName('Billy').id }));
      const next = ok(await again.request<AskResult>({ type: 'ask', question: 'Who lives here?' }));
      expect(next.reminders?.map((r) => r.name)).toEqual(['Anna']);
      expect(next.answer).toMatch(/^Reminder: Anna came into the living room .* — Remember to call the doctor\. I know /);
      expect(ok(await again.request<AskResult>({ type: 'ask', question: 'Who lives here?' })).reminders).toBeUndefined();
      clients.closeAll();
      await x.close();
      expect(JSON.stringify(await readFile(file, 'utf8'))).not.toContain('Billy');
    } finally {
      await x.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
