import { readFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CLOSE_CODES, HA_API_VERSION, PROTOCOL_VERSION, type ConceptResult, type ConceptsListResult, type StatusResult } from '@familiar/contracts';
import { CONTROL_TOKEN, VIEWER_TOKEN, startHarness, type Harness } from './support/dialogue-harness.ts';
import { dataBase64, dataFile } from './support/static-backend.ts';
import { TestClients, errorCode, ok } from './support/ws-client.ts';


let h: Harness;
const clients = new TestClients();
const connect = (token?: string, url = h.url, opts: WebSocket.ClientOptions = {}) => clients.connect(url, token, opts);
const extra: Harness[] = [];
const startExtra = async (...args: Parameters<typeof startHarness>) => {
  const x = await startHarness(...args);
  extra.push(x);
  return x;
};

beforeAll(async () => {
  h = await startHarness({ server: { maxImagesPerMessage: 3, maxMessageBytes: 2 * 1024 * 1024 } });
});
afterEach(async () => {
  clients.closeAll();
  await Promise.all(extra.splice(0).map((x) => x.close()));
});
afterAll(async () => h.close());

describe('authentication (Home Assistant style)', () => {
  it('binds loopback by default and greets with auth_required', async () => {
    expect(h.server.host).toBe('127.0.0.1');
    const c = await connect();
    expect(c.messages[0]).toEqual({ type: 'auth_required', protocol: PROTOCOL_VERSION });
  });

  it('answers auth_ok with the role of the token and the member it speaks for', async () => {
    const control = await connect(CONTROL_TOKEN);
    expect(control.messages.at(-1)).toEqual({ type: 'auth_ok', role: 'control', protocol: PROTOCOL_VERSION, ha_version: HA_API_VERSION });
    const viewer = await connect(VIEWER_TOKEN);
    expect(viewer.messages.at(-1)).toEqual({ type: 'auth_ok', role: 'viewer', member: 'Tom', protocol: PROTOCOL_VERSION, ha_version: HA_API_VERSION });
  });

  it('refuses a wrong token or a non-auth first message with auth_invalid and closes', async () => {
    const c = await connect();
    c.send({ type: 'auth', access_token: 'nope' });
    expect(await c.waitFor((m) => m.type === 'auth_invalid')).toEqual({ type: 'auth_invalid', message: 'invalid access token' });
    expect((await c.closed).code).toBe(CLOSE_CODES.AUTH_INVALID);

    const d = await connect();
    d.send({ id: 1, type: 'ping' });
    expect((await d.waitFor((m) => m.type === 'auth_invalid')).type).toBe('auth_invalid');
    expect((await d.closed).code).toBe(CLOSE_CODES.AUTH_INVALID);
  });

  it('past maxAuthFailures answers an address only after a back-off, still accepting the correct token', async () => {
    const x = await startExtra({ server: { maxAuthFailures: 3 } });
    for (let i = 0; i < 4; i++) {
      const c = await connect(undefined, x.url);
      c.send({ type: 'auth', access_token: `wrong-${i}` });
      await c.closed;
    }
    const c = await connect(undefined, x.url);
    const sent = Date.now();
    c.send({ type: 'auth', access_token: CONTROL_TOKEN });
    expect((await c.waitFor((m) => m.type === 'auth_ok' || m.type === 'auth_invalid')).type).toBe('auth_ok');
    // Two failures past the limit: a 500 ms back-off (a lower bound only; a slow machine can take longer).
    expect(Date.now() - sent).toBeGreaterThanOrEqual(450);
  });

  it('closes a connection that does not authenticate in time', async () => {
    const x = await startExtra({ server: { authTimeoutMs: 150 } });
    const c = await connect(undefined, x.url);
    expect((await c.closed).code).toBe(CLOSE_CODES.AUTH_TIMEOUT);
  });
});

describe('commands', () => {
  it('ping, status, concepts/list', async () => {
    const c = await connect(VIEWER_TOKEN);
    const id = c.command({ type: 'ping' });
    expect(await c.waitFor((m) => m.type === 'pong')).toEqual({ id, type: 'pong' });
    const status = ok(await c.request<StatusResult>({ type: 'status' }));
    expect(status).toMatchObject({ protocol: PROTOCOL_VERSION, lvlm: { configured: false, model: null }, backend: { cameras: ['living', 'hall'] } });
    expect(status.clients).toBeGreaterThanOrEqual(1);
    const list = ok(await c.request<ConceptsListResult>({ type: 'concepts/list' }));
    expect(list.concepts.map((x) => x.name).sort()).toEqual(['Anna', 'Billy', 'Mochi', 'Piggy']);
    expect(list.concepts[0]).toEqual(expect.objectContaining({ view_count: 4, created_at: expect.any(Number) }));
  });

  it('viewer may not enrol, update or forget (FORBIDDEN); control may, with real photos', async () => {
    const viewer = await connect(VIEWER_TOKEN);
    const photo = await dataBase64('dreambooth/backpack/00.jpg');
    const billy = h.backend.byName('Billy');
    expect(errorCode(await viewer.request({ type: 'concepts/enrol', name: 'Backpack', kind: 'object', photos: [photo] }))).toBe('FORBIDDEN');
    expect(errorCode(await viewer.request({ type: 'concepts/update', concept_id: billy.id, name: 'Bill' }))).toBe('FORBIDDEN');
    expect(errorCode(await viewer.request({ type: 'concepts/forget', concept_id: billy.id }))).toBe('FORBIDDEN');
    expect(h.backend.enrolments).toHaveLength(0);

    const control = await connect(CONTROL_TOKEN);
    const enrolled = ok(
      await control.request<ConceptResult>({ type: 'concepts/enrol', name: 'Backpack', kind: 'object', context: 'the red school bag', photos: [photo, await dataBase64('dreambooth/backpack/01.jpg')] }),
    ).concept;
    expect(enrolled).toMatchObject({ name: 'Backpack', kind: 'object', context: 'the red school bag', view_count: 2 });
    const photos = h.backend.enrolments[0]!;
    expect('photos' in photos && photos.photos[0]!.byteLength).toBe((await readFile(dataFile('dreambooth/backpack/00.jpg'))).byteLength);
    expect(errorCode(await control.request({ type: 'concepts/enrol', name: 'backpack', kind: 'object', photos: [photo] }))).toBe('CONCEPT_EXISTS');

    const fromCamera = ok(await control.request<ConceptResult>({ type: 'concepts/enrol', name: 'Sofa', kind: 'object', camera_id: 'living', box: { xmin: 0, ymin: 0, xmax: 100, ymax: 100 } }));
    expect(fromCamera.concept.view_count).toBe(1);

    const updated = ok(await control.request<ConceptResult>({ type: 'concepts/update', concept_id: enrolled.id, context: 'the blue school bag' })).concept;
    expect(updated.context).toBe('the blue school bag');
    expect(ok(await control.request({ type: 'concepts/forget', concept_id: enrolled.id }))).toEqual({ concept_id: enrolled.id });
    expect(errorCode(await control.request({ type: 'concepts/forget', concept_id: enrolled.id }))).toBe('CONCEPT_NOT_FOUND');
    await control.request({ type: 'concepts/forget', concept_id: fromCamera.concept.id });
    expect(ok(await control.request<ConceptsListResult>({ type: 'concepts/list' })).concepts.map((x) => x.name)).not.toContain('Backpack');
  });

  it('rejects malformed JSON, a missing or non-increasing id, unknown fields and types, bad values (MESSAGE_INVALID)', async () => {
    const c = await connect(CONTROL_TOKEN);
    c.send('{"id": 1, "type": "ping"');
    let m = await c.waitFor((x) => x.type === 'result');
    expect(m).toMatchObject({ id: null, success: false, error: { code: 'MESSAGE_INVALID', message: 'the message is not valid JSON' } });
    c.send({ type: 'ping' });
    m = await c.waitFor((x) => x.type === 'result');
    expect(m).toMatchObject({ id: null, success: false, error: { code: 'MESSAGE_INVALID' } });
    c.send({ id: 1.5, type: 'ping' });
    expect(await c.waitFor((x) => x.type === 'result')).toMatchObject({ id: null, error: { code: 'MESSAGE_INVALID' } });

    c.setNextId(10);
    let ex = await c.request({ type: 'concepts/list', verbose: true });
    expect(ex.result).toMatchObject({ id: 10, success: false, error: { code: 'MESSAGE_INVALID', message: 'unknown field "verbose"' } });
    ex = await c.request({ type: 'concepts/delete_all' });
    expect(errorCode(ex)).toBe('MESSAGE_INVALID');
    expect(!ex.result.success && ex.result.error.message).toMatch(/unknown command type/);
    ex = await c.request({ type: 'concepts/enrol', name: 'X', kind: 'dragon', photos: ['AAAA'] });
    expect(errorCode(ex)).toBe('MESSAGE_INVALID');
    ex = await c.request({ type: 'concepts/enrol', name: 'X', kind: 'pet', photos: ['not base64!'] });
    expect(errorCode(ex)).toBe('MESSAGE_INVALID');
    ex = await c.request({ type: 'concepts/enrol', name: 'X', kind: 'pet' });
    expect(!ex.result.success && ex.result.error.message).toMatch(/exactly one of photos or camera_id/);
    ex = await c.request({ type: 'ask', question: 'x'.repeat(1001) });
    expect(errorCode(ex)).toBe('MESSAGE_INVALID');

    c.setNextId(5);
    ex = await c.request({ type: 'ping' });
    expect(ex.result).toMatchObject({ id: 5, success: false, error: { code: 'MESSAGE_INVALID', message: expect.stringMatching(/ids must increase/) } });
    // The connection stays usable.
    c.setNextId(100);
    const id = c.command({ type: 'ping' });
    expect(await c.waitFor((x) => x.type === 'pong')).toEqual({ id, type: 'pong' });
  });

  it('limits images per message, bytes, pixels and decodability of photos', async () => {
    const x = await startExtra({ imageLimits: { maxImageBytes: 400_000, maxImagePixels: 1_000_000, minImageSide: 16 }, server: { maxImagesPerMessage: 2 } });
    const c = await connect(CONTROL_TOKEN, x.url);
    const small = await dataBase64('dreambooth/backpack/00.jpg');
    let ex = await c.request({ type: 'concepts/enrol', name: 'Bag', kind: 'object', photos: [small, small, small] });
    expect(errorCode(ex)).toBe('MESSAGE_TOO_LARGE');
    ex = await c.request({ type: 'concepts/enrol', name: 'Bag', kind: 'object', photos: [await dataBase64('myvlm/billy_dog/billy_dog_2.jpg')] }); // 517 kB
    expect(errorCode(ex)).toBe('IMAGE_TOO_LARGE');
    ex = await c.request({ type: 'concepts/enrol', name: 'Bag', kind: 'object', photos: [await dataBase64('myvlm/billy_dog/billy_dog_10.jpg')] }); // 313 kB, 1460×1460 > 1 MP
    expect(errorCode(ex)).toBe('IMAGE_TOO_LARGE');
    expect(!ex.result.success && ex.result.error.message).toMatch(/pixels/);
    const truncated = (await readFile(dataFile('dreambooth/backpack/00.jpg'))).subarray(0, 5000).toString('base64');
    expect(errorCode(await c.request({ type: 'concepts/enrol', name: 'Bag', kind: 'object', photos: [truncated] }))).toBe('IMAGE_INVALID');
    expect(errorCode(await c.request({ type: 'concepts/enrol', name: 'Bag', kind: 'object', photos: [Buffer.from('hello, not an image').toString('base64')] }))).toBe('IMAGE_INVALID');
    expect(x.backend.enrolments).toHaveLength(0);
  });

  it('closes the connection on a message over maxMessageBytes (1009)', async () => {
    const c = await connect(CONTROL_TOKEN);
    c.send({ id: 1, type: 'ask', question: 'x', image: 'A'.repeat(3 * 1024 * 1024) });
    expect((await c.closed).code).toBe(1009);
  });

  it('rate-limits commands per connection (RATE_LIMITED) without affecting others', async () => {
    const x = await startExtra({ server: { commandsPerSecond: 5, commandBurst: 5 } });
    const c = await connect(VIEWER_TOKEN, x.url);
    const ids = Array.from({ length: 12 }, () => c.command({ type: 'status' }));
    const results = await Promise.all(ids.map((id) => c.resultOf(id)));
    const limited = results.filter((r) => r.type === 'result' && !r.success && r.error.code === 'RATE_LIMITED');
    expect(limited.length).toBeGreaterThanOrEqual(6);
    expect(results.length - limited.length).toBeGreaterThanOrEqual(5);
    const other = await connect(VIEWER_TOKEN, x.url);
    expect(ok(await other.request({ type: 'status' }))).toBeTruthy();
  });

  it('closes dead connections that stop answering pings', async () => {
    const x = await startExtra({ server: { heartbeatMs: 100 } });
    const dead = await connect(VIEWER_TOKEN, x.url, { autoPong: false });
    const alive = await connect(VIEWER_TOKEN, x.url);
    expect((await dead.closed).code).toBe(CLOSE_CODES.HEARTBEAT_TIMEOUT);
    await new Promise((r) => setTimeout(r, 250));
    expect(ok(await alive.request({ type: 'status' }))).toBeTruthy();
    expect(x.server.connectionCount()).toBe(1);
  });

  it('refuses connections over maxClients, upgrades on other paths and answers plain HTTP', async () => {
    const x = await startExtra({ server: { maxClients: 2 } });
    await connect(CONTROL_TOKEN, x.url);
    await connect(VIEWER_TOKEN, x.url);
    const third = new WebSocket(x.url);
    const status = await new Promise<number>((resolve) => third.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    expect(status).toBe(503);
    const base = x.url.replace('ws://', 'http://').replace(/\/ws$/, '');
    expect((await fetch(`${base}/ws`)).status).toBe(426);
    expect((await fetch(`${base}/other`)).status).toBe(404);
    const wrong = new WebSocket(`${base.replace('http', 'ws')}/elsewhere`);
    expect(await new Promise<number>((resolve) => wrong.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)))).toBe(404);
  });
});

describe('scene subscriptions', () => {
  it('pushes scene events with the subscription id, filtered by camera, until unsubscribed', async () => {
    const c = await connect(VIEWER_TOKEN);
    const all = ok(await c.request<{ subscription: number }>({ type: 'scene/subscribe' })).subscription;
    const hall = ok(await c.request<{ subscription: number }>({ type: 'scene/subscribe', camera_id: 'hall' })).subscription;
    const billy = h.backend.byName('Billy');
    h.backend.emit({ type: 'appeared', cameraId: 'living', room: 'living room', at: 1, conceptId: billy.id, name: 'Billy', kind: 'pet', box: { xmin: 1, ymin: 2, xmax: 3, ymax: 4 }, confidence: 0.9 });
    h.backend.emit({ type: 'left', cameraId: 'hall', room: 'hallway', at: 2, conceptId: null, name: null, kind: null, box: null, confidence: 0.5 });
    await c.waitFor((m) => m.type === 'event' && m.id === hall);
    const events = c.messages.filter((m) => m.type === 'event');
    expect(events).toEqual([
      {
        id: all,
        type: 'event',
        event: { kind: 'scene', change: 'appeared', camera_id: 'living', room: 'living room', at: 1, concept_id: billy.id, name: 'Billy', concept_kind: 'pet', box: { xmin: 1, ymin: 2, xmax: 3, ymax: 4 }, confidence: 0.9 },
      },
      { id: all, type: 'event', event: expect.objectContaining({ change: 'left', camera_id: 'hall', concept_id: null }) },
      { id: hall, type: 'event', event: expect.objectContaining({ change: 'left', camera_id: 'hall' }) },
    ]);
    expect(ok(await c.request({ type: 'unsubscribe', subscription: all }))).toEqual({ unsubscribed: true });
    expect(errorCode(await c.request({ type: 'unsubscribe', subscription: all }))).toBe('NOT_FOUND');
    h.backend.emit({ type: 'moved', cameraId: 'living', room: 'living room', at: 3, conceptId: billy.id, name: 'Billy', kind: 'pet', box: null, confidence: 0.9 });
    const id = c.command({ type: 'ping' });
    await c.waitFor((m) => m.type === 'pong' && m.id === id);
    expect(c.messages.filter((m) => m.type === 'event')).toHaveLength(3);
  });
});
