/**
 * Household memory as LVLM functions, end to end over a real WebSocket and the real LvlmClient, against the
 * local OpenAI-compatible server really issuing streamed tool_calls: several rounds, a malformed call, a call
 * the asker's role may not make, a slow tool, the round cap, and a server without function calling (auto
 * falls back, on does not).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AskResult, TriggersListResult } from '@familiar/contracts';
import { CONTROL_TOKEN, VIEWER_TOKEN, startHarness, type Harness, type HarnessOptions } from './support/dialogue-harness.ts';
import { FakeLvlmServer } from './support/fake-lvlm.ts';
import { errorCode, ok, TestClients } from './support/ws-client.ts';

let fake: FakeLvlmServer;
let h: Harness | undefined;
const clients = new TestClients();

beforeAll(async () => {
  fake = await FakeLvlmServer.start();
});
afterEach(async () => {
  clients.closeAll();
  await h?.close();
  h = undefined;
  fake.setDefault({ kind: 'stream' });
});
afterAll(async () => {
  await fake.close();
});

async function start(tools: 'auto' | 'on' | 'off', extra: Partial<HarnessOptions['lvlm']> = {}): Promise<Harness> {
  h = await startHarness({
    lvlm: { baseUrl: fake.baseUrl, model: 'fake-vl', connectTimeoutMs: 800, firstTokenTimeoutMs: 1500, totalTimeoutMs: 5000, retries: 0, tools, toolTimeoutMs: 400, ...extra },
  });
  return h;
}

describe('LVLM tools', () => {
  it('runs the calls of several rounds as the asker, feeds the results back, and streams the final answer', async () => {
    const x = await start('auto');
    const c = await clients.connect(x.url, CONTROL_TOKEN);
    fake.script(
      { kind: 'tool_calls', calls: [{ name: 'live_scene', arguments: '{}' }, { name: 'last_seen', arguments: '{"name":"anna"}' }] },
      { kind: 'tool_calls', calls: [{ name: 'create_reminder', arguments: '{"name":"Anna","message":"Tell her dinner is ready."}' }, { name: 'camera_view', arguments: '{"camera":"hallway"}' }] },
      { kind: 'stream' },
    );
    const before = fake.requests.length;
    const ex = await c.request<AskResult>({ type: 'ask', question: 'Could you sing something for Billy?', camera_id: 'living' });
    const result = ok(ex);
    expect(result.lvlm_error).toBeUndefined();
    expect(result.source).toBe('lvlm');
    expect(result.answer).toBe(fake.answer);
    expect(ex.events.map((e) => (e as { text: string }).text).join('')).toBe(fake.answer);
    expect(result.tools_used).toEqual([
      { name: 'live_scene', ok: true },
      { name: 'last_seen', ok: true },
      { name: 'create_reminder', ok: true },
      { name: 'camera_view', ok: true },
    ]);
    const [r1, r2, r3] = fake.requests.slice(before);
    expect([r1, r2, r3].map((r) => r!.problems)).toEqual([[], [], []]);
    expect(r1!.toolsOffered).toEqual(expect.arrayContaining(['household_roster', 'live_scene', 'last_seen', 'sightings', 'notes', 'preferences', 'reminders', 'create_reminder', 'cancel_reminder', 'camera_view', 'update_context']));
    // The results went back to the model: the live scene of every camera, Anna's last visit from memory.
    expect(r2!.toolResults.map((t) => t.name)).toEqual(['live_scene', 'last_seen']);
    expect(r2!.toolResults[0]!.content).toEqual(expect.arrayContaining([{ camera_id: 'living', room: 'living room', in_view: ['Billy', 'Mochi'] }]));
    expect(r2!.toolResults[1]!.content).toMatchObject({ name: 'Anna', sighting: { camera_id: 'hall', room: 'hallway' } });
    // The reminder was really set, for the asker; the hallway picture followed the results.
    expect(r3!.toolResults.map((t) => t.name)).toEqual(['live_scene', 'last_seen', 'create_reminder', 'camera_view']);
    expect(r3!.images.length).toBe(2);
    const triggers = ok(await c.request<TriggersListResult>({ type: 'triggers/list' })).triggers;
    expect(triggers).toEqual([expect.objectContaining({ name: 'Anna', message: 'Tell her dinner is ready.', created_by: 'console' })]);
  });

  it('answers a malformed call, an unknown function and one beyond the role with an error the model reads, and a slow tool with a timeout', async () => {
    const x = await start('on');
    const viewer = await clients.connect(x.url, VIEWER_TOKEN);
    x.backend.sightingsDelayMs = 3000;
    fake.script(
      {
        kind: 'tool_calls',
        unoffered: true,
        calls: [
          { name: 'last_seen', arguments: '{"name": "Anna"' },
          { name: 'notes', arguments: '{"name": 42}' },
          { name: 'format_disk', arguments: '{}' },
          { name: 'update_context', arguments: '{"name":"Billy","context":"allowed on the sofa now"}' },
          { name: 'sightings', arguments: '{"name":"Billy"}' },
        ],
      },
      { kind: 'stream' },
    );
    const before = fake.requests.length;
    const started = Date.now();
    const result = ok(await viewer.request<AskResult>({ type: 'ask', question: 'Anything unusual today?', camera_id: 'living' }, 20_000));
    expect(result.answer).toBe(fake.answer);
    expect(result.tools_used).toEqual([
      { name: 'last_seen', ok: false, error: 'invalid_arguments' },
      { name: 'notes', ok: false, error: 'invalid_arguments' },
      { name: 'format_disk', ok: false, error: 'unknown_tool' },
      { name: 'update_context', ok: false, error: 'forbidden' },
      { name: 'sightings', ok: false, error: 'timeout' },
    ]);
    // The slow tool did not hold the answer for its whole delay.
    expect(Date.now() - started).toBeLessThan(3000 + 2000);
    const [first, second] = fake.requests.slice(before);
    // A viewer is not offered what it may not do; Billy's context is unchanged.
    expect(first!.toolsOffered).not.toContain('update_context');
    expect(second!.problems).toEqual([]);
    expect(second!.toolResults.map((t) => (t.content as { error: string }).error)).toEqual(['invalid_arguments', 'invalid_arguments', 'unknown_tool', 'forbidden', 'timeout']);
    expect(x.backend.byName('Billy').context).not.toContain('sofa now');
  });

  it('stops offering tools after the round cap, so the model has to answer', async () => {
    const x = await start('on', { toolRounds: 2 });
    const c = await clients.connect(x.url, CONTROL_TOKEN);
    fake.setDefault({ kind: 'tool_calls', calls: [{ name: 'household_roster', arguments: '{}' }] });
    fake.script({ kind: 'tool_calls', calls: [{ name: 'household_roster', arguments: '{}' }] }, { kind: 'tool_calls', calls: [{ name: 'household_roster', arguments: '{}' }] }, { kind: 'stream' });
    const before = fake.requests.length;
    const result = ok(await c.request<AskResult>({ type: 'ask', question: 'Who do we have?', camera_id: 'living' }));
    expect(result.answer).toBe(fake.answer);
    expect(result.tools_used).toHaveLength(2);
    const sent = fake.requests.slice(before);
    expect(sent.map((r) => r.toolsOffered.length > 0)).toEqual([true, true, false]);
    expect(sent.every((r) => r.problems.length === 0)).toBe(true);
  });

  it('auto falls back cleanly for a server without function calling; on fails; off never offers them', async () => {
    fake.setDefault({ kind: 'no-tools' });
    let x = await start('auto');
    let c = await clients.connect(x.url, CONTROL_TOKEN);
    let before = fake.requests.length;
    const first = ok(await c.request<AskResult>({ type: 'ask', question: 'What is Billy doing?', camera_id: 'living' }));
    expect(first).toMatchObject({ source: 'lvlm', answer: fake.answer });
    expect(first.tools_used).toBeUndefined();
    expect(fake.requests.slice(before).map((r) => r.toolsOffered.length > 0)).toEqual([true, false]);
    // Remembered: the next question is sent without tools at once.
    before = fake.requests.length;
    ok(await c.request<AskResult>({ type: 'ask', question: 'And now?', camera_id: 'living' }));
    expect(fake.requests.slice(before).map((r) => r.toolsOffered.length)).toEqual([0]);
    clients.closeAll();
    await x.close();

    x = await start('on');
    c = await clients.connect(x.url, CONTROL_TOKEN);
    const refused = ok(await c.request<AskResult>({ type: 'ask', question: 'What is Billy doing?', camera_id: 'living' }));
    expect(refused).toMatchObject({ source: 'grounded', lvlm_error: { code: 'LVLM_UNAVAILABLE' } });
    clients.closeAll();
    await x.close();

    fake.setDefault({ kind: 'stream' });
    x = await start('off');
    c = await clients.connect(x.url, CONTROL_TOKEN);
    before = fake.requests.length;
    ok(await c.request<AskResult>({ type: 'ask', question: 'What is Billy doing?', camera_id: 'living' }));
    expect(fake.requests.slice(before).map((r) => r.body!.tools)).toEqual([undefined]);
    expect(errorCode(await c.request({ type: 'ask', question: 'x', conversation_id: 'bad id!' }))).toBe('MESSAGE_INVALID');
  });
});
