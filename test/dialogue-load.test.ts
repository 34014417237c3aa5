import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES, type AskResult, type SceneEvent } from '@familiar/contracts';
import { VIEWER_TOKEN, startHarness, type Harness } from './support/dialogue-harness.ts';
import { FakeLvlmServer } from './support/fake-lvlm.ts';
import { TestClient, ok } from './support/ws-client.ts';

let fake: FakeLvlmServer;
let h: Harness;

const sceneEvent = (i: number): SceneEvent => ({
  type: 'moved',
  cameraId: 'living',
  room: 'living room',
  at: i,
  conceptId: 'c1',
  name: 'Billy',
  kind: 'pet',
  box: { xmin: i % 100, ymin: 0, xmax: (i % 100) + 50, ymax: 50 },
  confidence: 0.9,
});

const tick = () => new Promise((r) => setImmediate(r));

beforeAll(async () => {
  fake = await FakeLvlmServer.start();
  h = await startHarness({
    lvlm: { baseUrl: fake.baseUrl, retries: 0 },
    server: { maxClients: 32, maxBufferedBytes: 64 * 1024, commandsPerSecond: 100, commandBurst: 100 },
  });
});
afterAll(async () => {
  await h.close();
  await fake.close();
});

describe('many clients', () => {
  it('serves 20 concurrent clients that subscribe and ask at once', async () => {
    fake.setDefault({ kind: 'stream', delayMs: 5 });
    const clients = await Promise.all(Array.from({ length: 20 }, () => TestClient.connect(h.url, VIEWER_TOKEN)));
    const subs = await Promise.all(clients.map(async (c) => ok(await c.request<{ subscription: number }>({ type: 'scene/subscribe' })).subscription));
    const before = fake.requests.length;
    const asks = clients.map((c, i) => c.request<AskResult>({ type: 'ask', question: `Question ${i}: what is Billy doing?`, camera_id: 'living' }, 20_000));
    for (let i = 0; i < 50; i++) h.backend.emit(sceneEvent(i));
    const results = await Promise.all(asks);
    for (const ex of results) {
      expect(ok(ex).answer).toBe(fake.answer);
      expect(ex.events.map((e) => (e.kind === 'delta' ? e.text : '')).join('')).toBe(fake.answer);
    }
    expect(fake.requests.length - before).toBe(20);
    expect(new Set(fake.requests.slice(before).map((r) => r.userText.match(/<question>"Question (\d+)/)?.[1])).size).toBe(20);
    clients.forEach((c, i) => {
      const events = c.messages.filter((m) => m.type === 'event' && m.id === subs[i]);
      expect(events).toHaveLength(50);
      expect(c.schemaErrors).toEqual([]);
    });
    for (const c of clients) c.close();
    await expect.poll(() => h.server.connectionCount()).toBe(0);
  });

  it('drops a client that stops reading (CLIENT_TOO_SLOW) while the others keep receiving everything', async () => {
    const slow = await TestClient.connect(h.url, VIEWER_TOKEN);
    const others = await Promise.all(Array.from({ length: 3 }, () => TestClient.connect(h.url, VIEWER_TOKEN)));
    for (const c of [slow, ...others]) ok(await c.request({ type: 'scene/subscribe' }));
    slow.ws.pause();

    // Emit like a busy pipeline until the server gives up on the slow client; the emitter never blocks.
    let emitted = 0;
    let slowest = 0;
    while (h.server.connectionCount() === 4 && emitted < 400_000) {
      const t0 = performance.now();
      for (let i = 0; i < 500; i++) h.backend.emit(sceneEvent(emitted++));
      slowest = Math.max(slowest, performance.now() - t0);
      await tick();
    }
    expect(h.server.connectionCount()).toBe(3);
    expect(slowest).toBeLessThan(1000);
    for (let i = 0; i < 100; i++) h.backend.emit(sceneEvent(emitted++));

    for (const c of others) {
      await expect.poll(() => c.messages.filter((m) => m.type === 'event').length, { timeout: 20_000 }).toBe(emitted);
      expect(ok(await c.request({ type: 'status' }))).toBeTruthy();
    }
    slow.ws.resume();
    const closed = await slow.closed;
    expect([CLOSE_CODES.CLIENT_TOO_SLOW, 1006]).toContain(closed.code);
    for (const c of others) c.close();
  });
});
