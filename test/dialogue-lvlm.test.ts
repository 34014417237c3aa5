import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FamiliarError } from '@familiar/contracts';
import { LvlmClient, type ChatMessage, type LvlmClientOptions } from '@familiar/dialogue';
import { FakeLvlmServer } from './support/fake-lvlm.ts';
import { dataFile } from './support/static-backend.ts';

let fake: FakeLvlmServer;
let messages: ChatMessage[];

const options = (over: Partial<LvlmClientOptions> = {}): LvlmClientOptions => ({
  baseUrl: fake.baseUrl,
  model: 'fake-vl',
  apiKey: 'sk-test',
  connectTimeoutMs: 1000,
  firstTokenTimeoutMs: 1000,
  totalTimeoutMs: 5000,
  retries: 2,
  retryBackoffMs: 10,
  maxTokens: 100,
  maxResponseBytes: 64 * 1024,
  temperature: 0,
  ...over,
});

async function failure(p: Promise<unknown>): Promise<FamiliarError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FamiliarError);
  return err as FamiliarError;
}

beforeAll(async () => {
  fake = await FakeLvlmServer.start({ apiKey: 'sk-test' });
  const jpeg = await readFile(dataFile('myvlm/billy_dog/billy_dog_11.jpg'));
  messages = [
    { role: 'system', content: 'You are a test.' },
    { role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/jpeg;base64,${jpeg.toString('base64')}` } }, { type: 'text', text: 'Who is this?' }] },
  ];
});
afterAll(async () => fake.close());

describe('LvlmClient against an OpenAI-compatible SSE server', () => {
  it('streams deltas in order through keep-alives, CRLF, split and multi-line events', async () => {
    const deltas: string[] = [];
    const answer = await new LvlmClient(options()).chat(messages, { onDelta: (t) => deltas.push(t) });
    expect(answer.text).toBe(fake.answer);
    expect(deltas.join('')).toBe(fake.answer);
    expect(deltas.length).toBeGreaterThan(3);
    expect(answer.finishReason).toBe('stop');
    const req = fake.requests.at(-1)!;
    expect(req.problems).toEqual([]);
    expect(req.authorization).toBe('Bearer sk-test');
    expect(req.body).toMatchObject({ model: 'fake-vl', stream: true, max_tokens: 100 });
    expect(req.images).toHaveLength(1);
    expect(req.images[0]).toMatchObject({ width: 717, height: 717 });
  });

  it('accepts a server that answers with one JSON completion', async () => {
    fake.script({ kind: 'json' });
    expect((await new LvlmClient(options()).chat(messages)).text).toBe(fake.answer);
  });

  it('retries HTTP 500 with back-off, then succeeds', async () => {
    const before = fake.requests.length;
    fake.script({ kind: 'status', status: 500 }, { kind: 'status', status: 503 });
    const answer = await new LvlmClient(options()).chat(messages);
    expect(answer.attempts).toBe(3);
    expect(fake.requests.length - before).toBe(3);
  });

  it('gives up after the retries with LVLM_UNAVAILABLE and the status', async () => {
    const before = fake.requests.length;
    fake.script(...Array.from({ length: 3 }, () => ({ kind: 'status' as const, status: 500 })));
    const err = await failure(new LvlmClient(options()).chat(messages));
    expect(err.code).toBe('LVLM_UNAVAILABLE');
    expect(err.message).toContain('HTTP 500');
    expect(fake.requests.length - before).toBe(3);
  });

  it('does not retry a rejected API key', async () => {
    const before = fake.requests.length;
    const err = await failure(new LvlmClient(options({ apiKey: 'wrong' })).chat(messages));
    expect(err.code).toBe('LVLM_UNAVAILABLE');
    expect(err.message).toContain('401');
    expect(fake.requests.length - before).toBe(1);
  });

  it('reports an unreachable server as LVLM_UNAVAILABLE', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const err = await failure(new LvlmClient(options({ baseUrl: `http://127.0.0.1:${port}/v1`, retries: 1 })).chat(messages));
    expect(err.code).toBe('LVLM_UNAVAILABLE');
    expect(err.message).toContain('cannot reach');
  });

  it('times out a server that never answers (connect timeout, retried) and one that never starts the answer (first-token)', async () => {
    fake.script({ kind: 'hang' }, { kind: 'hang' });
    const t0 = Date.now();
    const err = await failure(new LvlmClient(options({ connectTimeoutMs: 150, retries: 1 })).chat(messages));
    expect(err.code).toBe('LVLM_TIMEOUT');
    expect(Date.now() - t0).toBeLessThan(2000);

    const before = fake.requests.length;
    fake.script({ kind: 'silent-stream' });
    const err2 = await failure(new LvlmClient(options({ firstTokenTimeoutMs: 200 })).chat(messages));
    expect(err2.code).toBe('LVLM_TIMEOUT');
    expect(err2.message).toContain('no answer text');
    expect(fake.requests.length - before).toBe(1);
  });

  it('enforces the total timeout on a slow stream', async () => {
    fake.script({ kind: 'stream', delayMs: 100 });
    const deltas: string[] = [];
    const err = await failure(new LvlmClient(options({ totalTimeoutMs: 250 })).chat(messages, { onDelta: (t) => deltas.push(t) }));
    expect(err.code).toBe('LVLM_TIMEOUT');
    expect(deltas.length).toBeGreaterThan(0);
  });

  it('types malformed, garbage, truncated and error streams', async () => {
    const client = new LvlmClient(options());
    fake.script({ kind: 'malformed' });
    expect((await failure(client.chat(messages))).code).toBe('LVLM_BAD_RESPONSE');
    fake.script({ kind: 'garbage' });
    expect((await failure(client.chat(messages))).code).toBe('LVLM_BAD_RESPONSE');
    fake.script({ kind: 'garbage-json' });
    expect((await failure(client.chat(messages))).code).toBe('LVLM_BAD_RESPONSE');
    fake.script({ kind: 'stream-error' });
    const e = await failure(client.chat(messages));
    expect(e.code).toBe('LVLM_UNAVAILABLE');
    expect(e.message).toContain('CUDA out of memory');
    // Cut after text was streamed: not retried (that would repeat text), reported as a failed connection.
    const before = fake.requests.length;
    fake.script({ kind: 'cut' });
    expect((await failure(client.chat(messages, { onDelta: () => {} }))).code).toBe('LVLM_UNAVAILABLE');
    expect(fake.requests.length - before).toBe(1);
  });

  it('bounds the response size', async () => {
    fake.script({ kind: 'stream', chunks: Array.from({ length: 200 }, () => 'x'.repeat(100)) });
    const err = await failure(new LvlmClient(options({ maxResponseBytes: 4096 })).chat(messages));
    expect(err.code).toBe('LVLM_BAD_RESPONSE');
    expect(err.message).toContain('exceeds');
  });

  it('cancels mid-stream with CANCELLED and closes the request', async () => {
    fake.script({ kind: 'stream', delayMs: 50 });
    const ac = new AbortController();
    const deltas: string[] = [];
    const p = new LvlmClient(options()).chat(messages, {
      signal: ac.signal,
      onDelta: (t) => {
        deltas.push(t);
        if (deltas.length === 2) ac.abort();
      },
    });
    expect((await failure(p)).code).toBe('CANCELLED');
    expect(deltas).toHaveLength(2);
    await expect.poll(() => fake.openCount()).toBe(0);
  });
});
