import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '@familiar/image';
import { FakeLvlmServer } from './support/fake-lvlm.ts';
import { startFamiliar, waitUntil, type FamiliarProcess } from './support/familiar-process.ts';
import { dataBase64, makeReplaySequence } from './support/static-backend.ts';
import { errorCode, ok, TestClient } from './support/ws-client.ts';

const CONTROL = 'e2e-control-token-0123456789';
const VIEWER = 'e2e-viewer-token-0123456789';

interface SceneEvt {
  kind: string;
  change: string;
  name: string | null;
  concept_id: string | null;
  at: number;
}

let tmp: string;
let store: string;
let lvlm: FakeLvlmServer;
let familiar: FamiliarProcess;
let url: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'familiar-e2e-'));
  store = path.join(tmp, 'store');
  const frames = path.join(tmp, 'frames');
  await makeReplaySequence(frames);
  lvlm = await FakeLvlmServer.start();
  lvlm.answer = 'Biscuit is sitting on the grass and looking at the camera.';
  const config = [
    'server:',
    '  port: 0',
    '  tokens:',
    `    - { name: owner, role: control, token: ${CONTROL}, member: Sam }`,
    `    - { name: tablet, role: viewer, token: ${VIEWER} }`,
    `lvlm: { baseUrl: "${lvlm.baseUrl}", model: fake }`,
    'tracking: { maxMissedFrames: 2, maxMissedMs: 400 }',
    'store: { embeddingsOnly: false }',
    'cameras:',
    `  - { id: kitchen, room: kitchen, fps: 4, source: { kind: replay, uri: "${frames}" } }`,
  ].join('\n');
  await writeFile(path.join(tmp, 'e2e.yaml'), config);
  familiar = await startFamiliar({ configFile: path.join(tmp, 'e2e.yaml'), store });
  url = familiar.url;
});

afterAll(async () => {
  if (familiar?.proc.exitCode === null) await familiar.kill();
  await lvlm?.close();
  await rm(tmp, { recursive: true, force: true });
});

function sceneEvents(client: TestClient, subscription: number): SceneEvt[] {
  return client.messages.filter((m) => m.type === 'event' && m.id === subscription).map((m) => (m as { event: SceneEvt }).event);
}

/** For waitUntil's failure message. */
const stderrTail = () => `stderr tail: ${familiar.stderr().slice(-800)}`;

describe('familiar start, end to end over a real WebSocket', () => {
  it('authenticates, enforces roles, and rejects malformed input while staying up', async () => {
    await expect(TestClient.connect(url, 'not-the-right-token-at-all')).rejects.toThrow(/authentication failed/);
    const viewer = await TestClient.connect(url, VIEWER);
    const refused = await viewer.request({ type: 'concepts/enrol', name: 'X', kind: 'pet', photos: ['AAAA'] });
    expect(errorCode(refused)).toBe('FORBIDDEN');
    viewer.send('{not json');
    const bad = await viewer.waitFor((m) => m.type === 'result' && m.id === null);
    expect(bad).toMatchObject({ success: false, error: { code: 'MESSAGE_INVALID' } });
    const unknown = await viewer.request({ type: 'status', surprise: 1 });
    expect(errorCode(unknown)).toBe('MESSAGE_INVALID');
    const status = ok(await viewer.request<{ backend: { cameras: { id: string; state: string }[] } }>({ type: 'status' }));
    expect(status.backend.cameras[0]).toMatchObject({ id: 'kitchen' });
    viewer.close();
  });

  it('enrol over WS → recognised in the next frames → ask → streamed answer with the name → forget → no longer recognised', async () => {
    const owner = await TestClient.connect(url, CONTROL);
    const sub = owner.command({ type: 'scene/subscribe', camera_id: 'kitchen' });
    ok(await owner.exchange(sub));

    const photos = await Promise.all(['00', '01'].map((n) => dataBase64(`dreambooth/dog2/${n}.jpg`)));
    const enrolled = ok(await owner.request<{ concept: { id: string; name: string; view_count: number } }>(
      { type: 'concepts/enrol', name: 'Biscuit', kind: 'pet', context: 'our spaniel; not allowed on the sofa', photos },
      60_000,
    ));
    expect(enrolled.concept).toMatchObject({ name: 'Biscuit' });
    const enrolledAt = Date.now();
    // Outside embeddings-only mode the concept keeps one small thumbnail, and viewers may see it.
    const thumbFile = path.join(store, 'thumbnails', `${enrolled.concept.id}.jpg`);
    const viewer = await TestClient.connect(url, VIEWER);
    const thumb = ok(await viewer.request<{ concept_id: string; jpeg: string | null }>({ type: 'concepts/thumbnail', concept_id: enrolled.concept.id }));
    viewer.close();
    const thumbImage = (await decodeImage(Buffer.from(thumb.jpeg!, 'base64'))).image;
    expect(Math.max(thumbImage.width, thumbImage.height)).toBeLessThanOrEqual(160);
    expect(Buffer.from(thumb.jpeg!, 'base64').equals(await readFile(thumbFile))).toBe(true);

    await waitUntil(() => sceneEvents(owner, sub).some((e) => e.change === 'appeared' && e.name === 'Biscuit'), 60_000, 'Biscuit to appear', stderrTail);
    await waitUntil(() => sceneEvents(owner, sub).some((e) => e.change === 'left' && e.name === 'Biscuit'), 60_000, 'Biscuit to leave', stderrTail);

    // Ask while Biscuit is in view: wait for the next appearance, then ask at once.
    const seen = sceneEvents(owner, sub).length;
    await waitUntil(() => sceneEvents(owner, sub).slice(seen).some((e) => e.change === 'appeared' && e.name === 'Biscuit'), 60_000, 'Biscuit to come back', stderrTail);
    const ask = await owner.request<{ answer: string; source: string; grounded_on: { name: string; colour: string }[] }>(
      { type: 'ask', question: 'What is Biscuit doing?', camera_id: 'kitchen' },
      60_000,
    );
    const answer = ok(ask);
    expect(answer.source).toBe('lvlm');
    expect(answer.grounded_on.map((g) => g.name)).toContain('Biscuit');
    const deltas = ask.events.filter((e) => (e as { kind: string }).kind === 'delta').map((e) => (e as { text: string }).text);
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe(answer.answer);
    expect(answer.answer).toMatch(/Biscuit/);
    const req = lvlm.requests.at(-1)!;
    expect(req.problems).toEqual([]);
    expect(req.images).toHaveLength(1);
    expect(req.userText).toMatch(/Biscuit/);
    expect(req.text).toMatch(/not allowed on the sofa/);

    // Memory knows where Biscuit was: after the next exit, a question while absent is answered honestly.
    const n = sceneEvents(owner, sub).length;
    await waitUntil(() => sceneEvents(owner, sub).slice(n).some((e) => e.change === 'left' && e.name === 'Biscuit'), 60_000, 'Biscuit to leave again', stderrTail);
    const absent = ok(await owner.request<{ answer: string; source: string }>({ type: 'ask', question: 'Where is Biscuit?', camera_id: 'kitchen' }, 30_000));
    expect(absent.answer).toMatch(/I don't see Biscuit on any camera right now/);
    expect(absent.answer).toMatch(/kitchen/);

    const forgot = await owner.request({ type: 'concepts/forget', concept_id: enrolled.concept.id }, 30_000);
    ok(forgot);
    const forgottenAt = Date.now();
    // Two full replay loops (12 frames at 4 fps) later, Biscuit has not been named again.
    await new Promise((r) => setTimeout(r, 7000));
    const after = sceneEvents(owner, sub).filter((e) => e.at > forgottenAt + 500 && e.name === 'Biscuit');
    expect(after).toEqual([]);
    expect(enrolledAt).toBeLessThan(forgottenAt);
    const sightings = await readFile(path.join(store, 'sightings.jsonl'), 'utf8').catch(() => '');
    expect(sightings).not.toContain(enrolled.concept.id);
    await expect(readFile(thumbFile)).rejects.toMatchObject({ code: 'ENOENT' });
    const list = ok(await owner.request<{ concepts: unknown[] }>({ type: 'concepts/list' }));
    expect(list.concepts).toEqual([]);
    expect(owner.schemaErrors).toEqual([]);
    owner.close();
  });

  it('serves 20 concurrent clients subscribed and asking', async () => {
    const clients = await Promise.all(Array.from({ length: 20 }, () => TestClient.connect(url, VIEWER)));
    const subs = clients.map((c) => c.command({ type: 'scene/subscribe' }));
    await Promise.all(clients.map((c, i) => c.exchange(subs[i]!).then(ok)));
    const answers = await Promise.all(
      clients.map((c) => c.request<{ answer: string }>({ type: 'status' }, 20_000).then((ex) => ok(ex))),
    );
    expect(answers).toHaveLength(20);
    const asks = await Promise.all(clients.slice(0, 5).map((c) => c.request<{ answer: string }>({ type: 'ask', question: 'Who is here?' }, 60_000)));
    for (const a of asks) expect(ok(a).answer.length).toBeGreaterThan(0);
    for (const c of clients) c.close();
  });

  it('shuts down cleanly on SIGTERM', async () => {
    expect(await familiar.stop()).toBe(0);
  });
});
