/**
 * What the web console added to the dialogue protocol: camera/snapshot, per-camera stats in status, concept
 * thresholds, track ids on scene events. Real server on loopback, static backend over real photos; every
 * server message is checked against the published schema by the test client.
 */
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SceneChangeEvent, SnapshotResult, StatusResult, WireConcept } from '@familiar/contracts';
import sharp from 'sharp';
import { decodeImage } from '@familiar/image';
import { CONTROL_TOKEN, VIEWER_TOKEN, startHarness, type Harness } from './support/dialogue-harness.ts';
import { dataFile } from './support/static-backend.ts';
import { TestClients, errorCode, ok } from './support/ws-client.ts';

let h: Harness;
const clients = new TestClients();
const connect = (token: string) => clients.connect(h.url, token);

beforeAll(async () => {
  h = await startHarness();
});
afterEach(() => {
  clients.closeAll();
});
afterAll(async () => {
  await h?.close();
});

describe('camera/snapshot', () => {
  it("returns a camera's frame as JPEG with who is in it, to viewers too (encoded from currentView)", async () => {
    const c = await connect(VIEWER_TOKEN);
    const snap = ok(await c.request<SnapshotResult>({ type: 'camera/snapshot', camera_id: 'living' }));
    const view = h.backend.views.get('living')!;
    expect(snap).toMatchObject({ camera_id: 'living', room: 'living room', captured_at: view.capturedAt, width: 960, height: 480 });
    const jpeg = new Uint8Array(Buffer.from(snap.jpeg, 'base64'));
    expect([jpeg[0], jpeg[1]]).toEqual([0xff, 0xd8]);
    const { image } = await decodeImage(jpeg);
    expect([image.width, image.height]).toEqual([960, 480]);
    // Same pixels, up to JPEG loss: the JPEG really is this frame.
    const diff = meanAbsDiff(image.data, view.image.data);
    expect(diff).toBeLessThan(6);
    const billy = h.backend.byName('Billy');
    expect(snap.entities).toEqual([
      { concept_id: billy.id, name: 'Billy', concept_kind: 'pet', box: view.matches[0]!.box, confidence: 0.91 },
      expect.objectContaining({ name: 'Mochi', concept_kind: 'pet', confidence: 0.84 }),
    ]);
    const dflt = ok(await c.request<SnapshotResult>({ type: 'camera/snapshot' }));
    expect(dflt.camera_id).toBe('living');
  });

  it('refuses unknown cameras, cameras without a frame and malformed commands', async () => {
    const c = await connect(CONTROL_TOKEN);
    expect(errorCode(await c.request({ type: 'camera/snapshot', camera_id: 'attic' }))).toBe('NOT_FOUND');
    expect(errorCode(await c.request({ type: 'camera/snapshot', camera_id: '../etc' }))).toBe('MESSAGE_INVALID');
    expect(errorCode(await c.request({ type: 'camera/snapshot', camera_id: 'living', boxes: true }))).toBe('MESSAGE_INVALID');
    const original = h.backend.currentView.bind(h.backend);
    h.backend.currentView = async () => null;
    try {
      const res = await c.request({ type: 'camera/snapshot', camera_id: 'hall' });
      expect(errorCode(res)).toBe('NOT_FOUND');
      expect(res.result.success ? '' : res.result.error.message).toMatch(/no frame yet/);
    } finally {
      h.backend.currentView = original;
    }
  });

  it("passes a backend's own snapshot through: the camera's JPEG, frame-pixel boxes, track ids", async () => {
    const jpeg = new Uint8Array(readFileSync(dataFile('myvlm/billy_dog/billy_dog_11.jpg')));
    const billy = h.backend.byName('Billy');
    h.backend.snapshot = async (cameraId?: string) => ({
      cameraId: cameraId ?? 'living',
      room: 'living room',
      capturedAt: 1234,
      jpeg,
      width: 4000,
      height: 3000,
      entities: [
        { trackId: 't-7', conceptId: billy.id, name: 'Billy', kind: 'pet', box: { xmin: 100, ymin: 200, xmax: 3000, ymax: 2900 }, confidence: 0.8 },
        { trackId: 't-8', conceptId: null, name: null, kind: 'person', box: { xmin: 3100, ymin: 100, xmax: 3900, ymax: 2900 }, confidence: 0.5 },
      ],
    });
    try {
      const c = await connect(VIEWER_TOKEN);
      const snap = ok(await c.request<SnapshotResult>({ type: 'camera/snapshot', camera_id: 'living' }));
      expect(Buffer.from(snap.jpeg, 'base64').equals(Buffer.from(jpeg))).toBe(true);
      expect(snap).toMatchObject({ captured_at: 1234, width: 4000, height: 3000 });
      expect(snap.entities).toEqual([
        { track_id: 't-7', concept_id: billy.id, name: 'Billy', concept_kind: 'pet', box: { xmin: 100, ymin: 200, xmax: 3000, ymax: 2900 }, confidence: 0.8 },
        { track_id: 't-8', concept_id: null, name: null, concept_kind: 'person', box: { xmin: 3100, ymin: 100, xmax: 3900, ymax: 2900 }, confidence: 0.5 },
      ]);
    } finally {
      h.backend.snapshot = undefined;
    }
  });

  it("scales down a backend's snapshot too large to send (a 4K camera), keeping boxes in frame pixels", async () => {
    const big = await sharp(readFileSync(dataFile('myvlm/billy_dog/billy_dog_6.jpg')))
      .resize(3840, 2160, { fit: 'fill' })
      .jpeg({ quality: 100, chromaSubsampling: '4:4:4' })
      .toBuffer();
    expect(big.length).toBeGreaterThan(1024 * 1024);
    const box = { xmin: 400, ymin: 300, xmax: 2400, ymax: 2100 };
    h.backend.snapshot = async () => ({ cameraId: 'living', room: 'living room', capturedAt: 1, jpeg: new Uint8Array(big), width: 3840, height: 2160, entities: [{ conceptId: null, name: null, kind: 'person', box, confidence: 0.6 }] });
    try {
      const c = await connect(VIEWER_TOKEN);
      const snap = ok(await c.request<SnapshotResult>({ type: 'camera/snapshot' }));
      const jpeg = Buffer.from(snap.jpeg, 'base64');
      expect(jpeg.length).toBeLessThan(1024 * 1024);
      const { image } = await decodeImage(new Uint8Array(jpeg));
      expect([image.width, image.height]).toEqual([1280, 720]);
      expect(snap).toMatchObject({ width: 3840, height: 2160, entities: [{ concept_id: null, concept_kind: 'person', box }] });
    } finally {
      h.backend.snapshot = undefined;
    }
  });
});

describe('status, concepts and scene events for the console', () => {
  it('status lists every camera with its frame rate and counters', async () => {
    h.backend.stats.get('living')!.fps = 4.8;
    h.backend.stats.get('living')!.counters.dropped = 12;
    const c = await connect(VIEWER_TOKEN);
    const status = ok(await c.request<StatusResult>({ type: 'status' }));
    expect(status.cameras.map((x) => x.id)).toEqual(['living', 'hall']);
    expect(status.cameras[0]).toEqual({
      id: 'living',
      room: 'living room',
      state: 'streaming',
      fps: 4.8,
      frames_captured: 1,
      frames_processed: 1,
      frames_dropped: 12,
      last_frame_at: h.backend.views.get('living')!.capturedAt,
      last_error: null,
    });
  });

  it('concepts carry their calibrated thresholds', async () => {
    const c = await connect(VIEWER_TOKEN);
    const { concepts } = ok(await c.request<{ concepts: WireConcept[] }>({ type: 'concepts/list' }));
    expect(concepts.find((x) => x.name === 'Billy')).toMatchObject({ view_count: 4, thresholds: { object: 0.6 } });
  });

  it('a replayed frame moves the scene: appeared / left events with track ids, and the new frame in the snapshot', async () => {
    const c = await connect(VIEWER_TOKEN);
    const sub = ok(await c.request<{ subscription: number }>({ type: 'scene/subscribe', camera_id: 'living' })).subscription;
    await h.backend.replay('living', ['myvlm/billy_dog/billy_dog_7.jpg', 'myvlm/my_cat/my_cat_7.jpg'], [{ name: 'Mochi', tile: 1, confidence: 0.7 }]);
    await c.waitFor((m) => m.type === 'event' && m.id === sub && (m.event as SceneChangeEvent).change === 'moved');
    const events = c.messages.filter((m) => m.type === 'event' && m.id === sub).map((m) => (m.type === 'event' ? (m.event as SceneChangeEvent) : null));
    const mochi = h.backend.byName('Mochi');
    const billy = h.backend.byName('Billy');
    expect(events).toEqual([
      expect.objectContaining({ change: 'left', concept_id: billy.id, track_id: `living:${billy.id}`, box: null }),
      expect.objectContaining({ change: 'moved', concept_id: mochi.id, track_id: `living:${mochi.id}`, box: { xmin: 504, ymin: 24, xmax: 936, ymax: 456 } }),
    ]);
    const snap = ok(await c.request<SnapshotResult>({ type: 'camera/snapshot', camera_id: 'living' }));
    expect(snap.entities.map((e) => e.name)).toEqual(['Mochi']);
    expect(snap.captured_at).toBe(h.backend.views.get('living')!.capturedAt);
    expect(ok(await c.request<StatusResult>({ type: 'status' })).cameras[0]!.frames_processed).toBe(2);
  });
});

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}
