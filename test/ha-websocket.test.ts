/**
 * Home Assistant's own WebSocket client library (home-assistant-js-websocket 9.7.0, the one its frontend uses)
 * against the real `familiar start`: the connection, commands, a scene subscription and its unsubscribe, and a
 * streamed answer, with nothing thrown inside the library.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createConnection, createLongLivedTokenAuth, ERR_INVALID_AUTH, type Connection } from 'home-assistant-js-websocket';
import { HA_API_VERSION, HA_WEBSOCKET_PATH, PROTOCOL_VERSION } from '@familiar/contracts';
import { FakeLvlmServer } from './support/fake-lvlm.ts';
import { startFamiliar, waitUntil, type FamiliarProcess } from './support/familiar-process.ts';
import { dataBase64, makeReplaySequence } from './support/static-backend.ts';
import { TestClient } from './support/ws-client.ts';

// The library uses the platform WebSocket (browsers; Node 22+); on Node 20 `ws` stands in, as its README suggests.
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

const CONTROL = 'ha-control-token-0123456789';

interface SceneEvt {
  kind: 'scene';
  change: string;
  name: string | null;
}
type AskEvt = { kind: 'delta'; text: string } | { kind: 'answer'; answer: { answer: string; source: string; grounded_on: { name: string }[] } } | { kind: 'error'; error: { code: string } };

let tmp: string;
let lvlm: FakeLvlmServer;
let familiar: FamiliarProcess;
let hassUrl: string;
let conn: Connection;
/** Anything the library or its callbacks threw where nobody awaited it (the old `info.callback is not a function`). */
const thrown: unknown[] = [];
const onThrow = (err: unknown) => thrown.push(err);
/** What the library warned about (an event for a subscription it no longer has, an unknown pong...). */
const warnings: string[] = [];
const realWarn = console.warn;

beforeAll(async () => {
  process.on('uncaughtException', onThrow);
  process.on('unhandledRejection', onThrow);
  console.warn = (...args: unknown[]) => warnings.push(args.map(String).join(' '));
  tmp = await mkdtemp(path.join(os.tmpdir(), 'familiar-ha-'));
  const frames = path.join(tmp, 'frames');
  await makeReplaySequence(frames);
  lvlm = await FakeLvlmServer.start();
  lvlm.answer = 'Biscuit is sitting on the grass and looking at the camera.';
  const config = [
    'server:',
    '  port: 0',
    '  tokens:',
    `    - { name: home-assistant, role: control, token: ${CONTROL} }`,
    `lvlm: { baseUrl: "${lvlm.baseUrl}", model: fake }`,
    'tracking: { maxMissedFrames: 2, maxMissedMs: 400 }',
    'cameras:',
    `  - { id: kitchen, room: kitchen, fps: 4, source: { kind: replay, uri: "${frames}" } }`,
  ].join('\n');
  await writeFile(path.join(tmp, 'ha.yaml'), config);
  familiar = await startFamiliar({ configFile: path.join(tmp, 'ha.yaml'), store: path.join(tmp, 'store') });
  hassUrl = familiar.url.replace(/^ws:/, 'http:').replace(/\/ws$/, '');
}, 120_000);

afterAll(async () => {
  conn?.close();
  if (familiar?.proc.exitCode === null) await familiar.kill();
  await lvlm?.close();
  await rm(tmp, { recursive: true, force: true });
  process.off('uncaughtException', onThrow);
  process.off('unhandledRejection', onThrow);
  console.warn = realWarn;
});

describe('home-assistant-js-websocket against familiar start', () => {
  it(`connects on ${HA_WEBSOCKET_PATH} with a long-lived token and learns ha_version; a wrong token is ERR_INVALID_AUTH`, async () => {
    await expect(createConnection({ auth: createLongLivedTokenAuth(hassUrl, 'not-the-right-token-at-all') })).rejects.toBe(ERR_INVALID_AUTH);
    conn = await createConnection({ auth: createLongLivedTokenAuth(hassUrl, CONTROL) });
    expect(conn.connected).toBe(true);
    expect(conn.haVersion).toBe(HA_API_VERSION);
    await conn.ping();
  });

  it('accepts supported_features (what the library sent first, as id 1)', async () => {
    const raw = await TestClient.connect(familiar.url, CONTROL);
    try {
      const features = await raw.request({ type: 'supported_features', features: { coalesce_messages: 1 } });
      expect(features.result).toEqual({ id: 1, type: 'result', success: true, result: null });
    } finally {
      raw.close();
    }
  });

  it('runs commands with sendMessagePromise; failures reject with the typed error', async () => {
    const status = await conn.sendMessagePromise<{ protocol: number; cameras: { id: string }[] }>({ type: 'status' });
    expect(status.protocol).toBe(PROTOCOL_VERSION);
    expect(status.cameras.map((c) => c.id)).toEqual(['kitchen']);
    const photos = await Promise.all(['00', '01'].map((n) => dataBase64(`dreambooth/dog2/${n}.jpg`)));
    const enrolled = await conn.sendMessagePromise<{ concept: { name: string } }>({ type: 'concepts/enrol', name: 'Biscuit', kind: 'pet', photos });
    expect(enrolled.concept.name).toBe('Biscuit');
    await expect(conn.sendMessagePromise({ type: 'concepts/forget', concept_id: 'no-such-concept' })).rejects.toMatchObject({ code: 'CONCEPT_NOT_FOUND' });
  });

  it('subscribeMessage receives scene events, and its unsubscribe (unsubscribe_events) ends them', async () => {
    const first: SceneEvt[] = [];
    const second: SceneEvt[] = [];
    const unsubscribe = await conn.subscribeMessage<SceneEvt>((e) => first.push(e), { type: 'scene/subscribe', camera_id: 'kitchen' });
    await conn.subscribeMessage<SceneEvt>((e) => second.push(e), { type: 'scene/subscribe' });
    await waitUntil(() => first.some((e) => e.change === 'appeared' && e.name === 'Biscuit'), 90_000, 'Biscuit to appear', () => familiar.stderr().slice(-800));
    await unsubscribe();
    const kept = first.length;
    const mark = second.length;
    // The other subscription goes on seeing Biscuit come and go; the ended one sees nothing more.
    await waitUntil(() => second.slice(mark).some((e) => e.change === 'left') && second.slice(mark).some((e) => e.change === 'appeared'), 90_000, 'more scene events');
    expect(first.length).toBe(kept);
  });

  it('asks a question and receives the streamed answer through the library (ask/subscribe), and a plain ask through sendMessagePromise', async () => {
    const events: AskEvt[] = [];
    await conn.subscribeMessage<AskEvt>((e) => events.push(e), { type: 'ask/subscribe', question: 'What is Biscuit doing?', camera_id: 'kitchen' }, { resubscribe: false });
    await waitUntil(() => events.some((e) => e.kind === 'answer' || e.kind === 'error'), 60_000, 'the answer');
    const last = events.at(-1)!;
    expect(last.kind).toBe('answer');
    const answer = (last as Extract<AskEvt, { kind: 'answer' }>).answer;
    const deltas = events.filter((e): e is Extract<AskEvt, { kind: 'delta' }> => e.kind === 'delta').map((e) => e.text);
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe(answer.answer);
    expect(answer.source).toBe('lvlm');
    expect(answer.answer).toMatch(/Biscuit/);

    // A plain ask from a Home Assistant client answers with its result only (no events on a non-subscription id).
    const plain = await conn.sendMessagePromise<{ answer: string; source: string }>({ type: 'ask', question: 'What is Biscuit doing?', camera_id: 'kitchen' });
    expect(plain.answer).toMatch(/Biscuit/);
  });

  it('unsubscribing from an ask still answering cancels it', async () => {
    lvlm.script({ kind: 'hang' });
    const events: AskEvt[] = [];
    const unsubscribe = await conn.subscribeMessage<AskEvt>((e) => events.push(e), { type: 'ask/subscribe', question: 'What is in the kitchen?', camera_id: 'kitchen' }, { resubscribe: false });
    await waitUntil(() => lvlm.openCount() > 0, 30_000, 'the LVLM request');
    await unsubscribe();
    await waitUntil(() => lvlm.openCount() === 0, 30_000, 'the LVLM request to be cancelled');
    const status = await conn.sendMessagePromise<{ asks_in_flight: number }>({ type: 'status' });
    expect(status.asks_in_flight).toBe(0);
  });

  it('threw and warned nothing inside the library', () => {
    expect(thrown).toEqual([]);
    expect(warnings).toEqual([]);
  });
});

