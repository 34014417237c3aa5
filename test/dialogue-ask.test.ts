import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AskResult, Box, RgbImage } from '@familiar/contracts';
import { OVERLAY_PALETTE, decodeImage } from '@familiar/image';
import { CONTROL_TOKEN, VIEWER_TOKEN, startHarness, type Harness } from './support/dialogue-harness.ts';
import { FakeLvlmServer } from './support/fake-lvlm.ts';
import { dataBase64 } from './support/static-backend.ts';
import { TestClients, deltaText, errorCode, ok } from './support/ws-client.ts';

let fake: FakeLvlmServer;
let h: Harness;
const clients = new TestClients();
const connect = (token = VIEWER_TOKEN, url = h.url) => clients.connect(url, token);


/** Fraction of points on the box's left and right edges (1 px inside) that have the colour. */
function edgeColour(img: RgbImage, box: Box, rgb: { r: number; g: number; b: number }): number {
  let hits = 0, n = 0;
  for (let i = 1; i < 20; i++) {
    const y = Math.round(box.ymin + ((box.ymax - box.ymin) * i) / 20);
    for (const x of [Math.round(box.xmin) + 1, Math.round(box.xmax) - 2]) {
      const o = (y * img.width + x) * 3;
      n++;
      if (Math.abs(img.data[o]! - rgb.r) < 40 && Math.abs(img.data[o + 1]! - rgb.g) < 40 && Math.abs(img.data[o + 2]! - rgb.b) < 40) hits++;
    }
  }
  return hits / n;
}

beforeAll(async () => {
  fake = await FakeLvlmServer.start({ apiKey: 'sk-fake' });
  h = await startHarness({
    lvlm: { baseUrl: fake.baseUrl, model: 'fake-vl', connectTimeoutMs: 800, firstTokenTimeoutMs: 1500, totalTimeoutMs: 8000, retries: 1, retryBackoffMs: 10 },
    // The API key comes from the environment variable the config names.
    env: { FAMILIAR_LVLM_API_KEY: 'sk-fake' },
  });
});
afterEach(() => {
  clients.closeAll();
});
afterAll(async () => {
  await h.close();
  await fake.close();
});

describe('ask with an LVLM', () => {
  it('streams deltas then the result; the LVLM got the annotated JPEG, names, context, asker and question', async () => {
    const c = await connect();
    const before = fake.requests.length;
    const ex = await c.request<AskResult>({ type: 'ask', question: 'What are Billy and Mochi doing?', camera_id: 'living' });
    const result = ok(ex);
    expect(ex.events.length).toBeGreaterThan(3);
    expect(ex.events.every((e) => e.kind === 'delta')).toBe(true);
    expect(deltaText(ex)).toBe(fake.answer);
    expect(result).toMatchObject({ answer: fake.answer, source: 'lvlm', camera_id: 'living', room: 'living room', not_in_view: [] });
    expect(result.grounded_on.map((g) => [g.name, g.colour])).toEqual([
      ['Billy', 'green'],
      ['Mochi', 'blue'],
    ]);
    // Events come before the result on the wire.
    const order = c.messages.filter((m) => m.type !== 'auth_required' && m.type !== 'auth_ok').map((m) => m.type);
    expect(order.at(-1)).toBe('result');

    expect(fake.requests.length - before).toBe(1);
    const req = fake.requests.at(-1)!;
    expect(req.problems).toEqual([]);
    expect(req.authorization).toBe('Bearer sk-fake');
    expect(req.userText).toContain('the entity enclosed in a green box is called "Billy" (a pet)');
    expect(req.userText).toContain('our cavalier king charles spaniel, 9 years old, not allowed on the sofa');
    expect(req.userText).toContain('The entity enclosed in a blue box is called "Mochi" (a pet)');
    expect(req.userText).toContain('<asker>"Tom"</asker>');
    expect(req.userText).toContain('<question>"What are Billy and Mochi doing?"</question>');
    expect(req.text).toMatch(/Never mention the boxes/);
    // The image the model saw: the 960×480 frame with Billy's box green and Mochi's blue.
    expect(req.images).toHaveLength(1);
    const seen = (await decodeImage(req.images[0]!.jpeg)).image;
    expect([seen.width, seen.height]).toEqual([960, 480]);
    expect(edgeColour(seen, result.grounded_on[0]!.box, OVERLAY_PALETTE[0]!.rgb)).toBeGreaterThan(0.9);
    expect(edgeColour(seen, result.grounded_on[1]!.box, OVERLAY_PALETTE[1]!.rgb)).toBeGreaterThan(0.9);
  });

  it('answers about an attached image (recognised by the backend)', async () => {
    // Only the control role may ask on someone else's behalf (Tom's own token would be refused).
    const c = await connect(CONTROL_TOKEN);
    const image = await dataBase64('myvlm/billy_dog/billy_dog_11.jpg');
    const result = ok(await c.request<AskResult>({ type: 'ask', question: 'Is he comfortable?', image, asker: 'Anna' }));
    expect(result).toMatchObject({ source: 'lvlm', camera_id: null, room: null, captured_at: null });
    expect(result.grounded_on.map((g) => g.name)).toEqual(['Billy']);
    const req = fake.requests.at(-1)!;
    expect(req.images[0]).toMatchObject({ width: 717, height: 717 });
    expect(req.userText).toContain('<asker>"Anna"</asker>');
  });

  it('answers honestly, without the LVLM, about an enrolled concept that is not in view', async () => {
    const c = await connect();
    const before = fake.requests.length;
    const ex = await c.request<AskResult>({ type: 'ask', question: 'What is Anna doing?', camera_id: 'living' });
    const result = ok(ex);
    expect(fake.requests.length).toBe(before);
    expect(result.source).toBe('grounded');
    expect(result.answer).toBe("I don't see Anna right now. I last saw Anna 5 minutes ago in the hallway (camera hall).");
    expect(deltaText(ex)).toBe(result.answer);
    expect(result.not_in_view).toEqual([{ concept_id: h.backend.byName('Anna').id, name: 'Anna', last_seen: expect.objectContaining({ camera_id: 'hall', room: 'hallway' }) }]);
    expect(result.grounded_on).toEqual([]);

    // "Where is…" looks at every camera, then memory.
    const never = ok(await c.request<AskResult>({ type: 'ask', question: 'Where is piggy?', camera_id: 'hall' }));
    expect(never).toMatchObject({ intent: 'where', source: 'grounded' });
    expect(never.answer).toBe("I don't see Piggy on any camera right now, and I have not seen Piggy yet.");
    const where = ok(await c.request<AskResult>({ type: 'ask', question: 'Where is Anna?' }));
    expect(where.answer).toBe("I don't see Anna on any camera right now. I last saw Anna 5 minutes ago in the hallway (camera hall).");
    expect(fake.requests.length).toBe(before);
  });

  it('mixes the honest part with the LVLM answer when the question names someone present and someone absent', async () => {
    const c = await connect();
    const ex = await c.request<AskResult>({ type: 'ask', question: 'Is Billy playing with Anna?', camera_id: 'living' });
    const result = ok(ex);
    expect(result.source).toBe('lvlm');
    expect(result.answer).toBe(`I don't see Anna right now. I last saw Anna 5 minutes ago in the hallway (camera hall). ${fake.answer}`);
    expect(deltaText(ex)).toBe(result.answer);
    expect(fake.requests.at(-1)!.userText).toContain('Not in this image: "Anna". Do not describe them.');
  });

  it('caption-first mode asks for a personalised caption, then answers conditioned on it', async () => {
    const c = await connect();
    const before = fake.requests.length;
    fake.script({ kind: 'stream', chunks: ['Billy sits ', 'on the floor; ', 'Mochi lies on the counter.'] });
    const ex = await c.request<AskResult>({ type: 'ask', question: 'Who looks sleepy?', camera_id: 'living', mode: 'caption_first' });
    expect(ok(ex).answer).toBe(fake.answer);
    expect(deltaText(ex)).toBe(fake.answer);
    expect(fake.requests.length - before).toBe(2);
    expect(fake.requests.at(-2)!.userText).toMatch(/Describe this image/);
    expect(fake.requests.at(-1)!.userText).toContain('<caption>"Billy sits on the floor; Mochi lies on the counter."</caption>');
  });

  it('falls back to the grounded responder when the LVLM fails before answering (500, hang, garbage)', async () => {
    const c = await connect();
    fake.script({ kind: 'status', status: 500 }, { kind: 'status', status: 500 });
    let result = ok(await c.request<AskResult>({ type: 'ask', question: 'What is happening?', camera_id: 'living' }));
    expect(result).toMatchObject({ source: 'grounded', lvlm_error: { code: 'LVLM_UNAVAILABLE' } });
    expect(result.answer).toBe(
      "I can see 2 pets I know in the living room: Billy on the left and Mochi on the right. I can't describe more than that right now: the vision-language model is not available.",
    );
    expect(result.grounded_on.map((g) => g.name)).toEqual(['Billy', 'Mochi']);

    fake.script({ kind: 'hang' }, { kind: 'hang' });
    result = ok(await c.request<AskResult>({ type: 'ask', question: 'What is Billy up to?', camera_id: 'living' }));
    expect(result).toMatchObject({ source: 'grounded', lvlm_error: { code: 'LVLM_TIMEOUT' } });
    expect(result.answer).toMatch(/^Billy is in view in the living room, on the left\./);

    fake.script({ kind: 'garbage' });
    result = ok(await c.request<AskResult>({ type: 'ask', question: 'Anything new?', camera_id: 'living' }));
    expect(result).toMatchObject({ source: 'grounded', lvlm_error: { code: 'LVLM_BAD_RESPONSE' } });
  });

  it('fails with the typed error when the stream breaks after text was sent (no mixed answers)', async () => {
    const c = await connect();
    fake.script({ kind: 'malformed' });
    const ex = await c.request({ type: 'ask', question: 'What is Billy doing?', camera_id: 'living' });
    expect(errorCode(ex)).toBe('LVLM_BAD_RESPONSE');
    expect(ex.events.length).toBeGreaterThan(0);
  });

  it('cancels an ask mid-stream', async () => {
    const c = await connect();
    fake.script({ kind: 'stream', delayMs: 80 });
    const askId = c.command({ type: 'ask', question: 'Describe the room.', camera_id: 'living' });
    await c.waitFor((m) => m.type === 'event' && m.id === askId);
    expect(ok(await c.request({ type: 'ask/cancel', ask_id: askId }))).toEqual({ cancelled: true });
    const ex = await c.exchange(askId);
    expect(errorCode(ex)).toBe('CANCELLED');
    expect(deltaText(ex).length).toBeLessThan(fake.answer.length);
    await expect.poll(() => fake.openCount()).toBe(0);
    expect(ok(await c.request({ type: 'ask/cancel', ask_id: askId }))).toEqual({ cancelled: false });
  });

  it('limits concurrent asks per connection and reports unknown cameras', async () => {
    const c = await connect(CONTROL_TOKEN);
    fake.script({ kind: 'stream', delayMs: 60 }, { kind: 'stream', delayMs: 60 });
    const a = c.command({ type: 'ask', question: 'One?', camera_id: 'living' });
    const b = c.command({ type: 'ask', question: 'Two?', camera_id: 'living' });
    const third = await c.request({ type: 'ask', question: 'Three?', camera_id: 'living' });
    expect(errorCode(third)).toBe('RATE_LIMITED');
    expect(ok(await c.exchange<AskResult>(a)).source).toBe('lvlm');
    expect(ok(await c.exchange<AskResult>(b)).source).toBe('lvlm');
    expect(errorCode(await c.request({ type: 'ask', question: 'Hello?', camera_id: 'garage' }))).toBe('NOT_FOUND');
  });
});

describe('ask without an LVLM', () => {
  it('answers from recognition and memory and says it cannot describe more', async () => {
    const x = await startHarness({ chatModel: null });
    try {
      const c = await connect(VIEWER_TOKEN, x.url);
      const ex = await c.request<AskResult>({ type: 'ask', question: 'What do you see?' });
      const result = ok(ex);
      expect(result).toMatchObject({ source: 'grounded', intent: 'view' });
      expect(result.lvlm_error).toBeUndefined();
      expect(result.answer).toBe(
        "I can see 2 pets I know in the living room: Billy on the left and Mochi on the right. I can't describe more than that: no vision-language model is configured.",
      );
      expect(deltaText(ex)).toBe(result.answer);
      // Counts come from every camera's scene ("now") or from the roster.
      const now = ok(await c.request<AskResult>({ type: 'ask', question: 'How many pets are here right now?' }));
      expect(now).toMatchObject({ intent: 'count', answer: 'Right now I see 2 pets: Billy (living room) and Mochi (living room).' });
      const known = ok(await c.request<AskResult>({ type: 'ask', question: 'How many pets do we have?' }));
      expect(known.answer).toBe('I know 2 pets: Billy and Mochi.');
      const unclear = ok(await c.request<AskResult>({ type: 'ask', question: 'Sing me a song' }));
      expect(unclear).toMatchObject({ intent: 'unknown' });
      expect(unclear.answer).toMatch(/^I'm not sure what you mean\./);
      const empty = ok(await c.request<AskResult>({ type: 'ask', question: 'Who is there?', camera_id: 'hall' }));
      expect(empty.answer).toMatch(/^I don't recognise anyone or anything I know in the hallway right now\./);
    } finally {
      await x.close();
    }
  });
});
