/**
 * A DialogueBackend over fixed real photos from ../shared/data, for the dialogue tests: each camera shows a
 * frame composed from real photos with hand-placed boxes, uploaded images are "recognised" by pixel
 * fingerprint, enrolment really decodes the photos. The runtime's end-to-end test runs the real pipeline.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from '@familiar/config';
import { FamiliarError, type Box, type ConceptKind, type ConceptSummary, type Match, type RgbImage, type SceneEvent } from '@familiar/contracts';
import type { CameraStats, DialogueBackend, EnrolRequest, View } from '@familiar/dialogue';
import { decodeImage, readImageFile, resizeRgb } from '@familiar/image';
import { StaticMemory } from './static-memory.ts';

export const DATA_DIR = path.resolve(REPO_ROOT, '../shared/data');
export const dataFile = (rel: string) => path.join(DATA_DIR, rel);
/** A file of the shared data, base64 (as photos travel in WebSocket commands). */
export const dataBase64 = async (rel: string) => (await readFile(dataFile(rel))).toString('base64');

/**
 * Fills `dir` (created here) with a replay camera's frames: the dog walks in for six frames, then only the can is
 * on the table for six (appeared / moved / left, over and over).
 */
export async function makeReplaySequence(dir: string): Promise<void> {
  await mkdir(dir);
  const frames = [
    ...['02', '03', '04', '05', '02', '03'].map((n) => `dreambooth/dog2/${n}.jpg`),
    ...['02', '03', '04', '05', '02', '03'].map((n) => `dreambooth/can/${n}.jpg`),
  ];
  for (const [i, f] of frames.entries()) await symlink(dataFile(f), path.join(dir, `frame-${String(i).padStart(2, '0')}.jpg`));
}

interface Tile {
  file: string;
}

function fingerprint(img: RgbImage): string {
  return createHash('sha1').update(img.data).digest('hex') + `:${img.width}x${img.height}`;
}

/** Side-by-side frame of square tiles of `side` pixels. */
async function compose(tiles: Tile[], side: number): Promise<RgbImage> {
  const images = await Promise.all(tiles.map(async (t) => resizeRgb((await readImageFile(dataFile(t.file), { maxSide: side * 2 })).image, side, side)));
  const width = side * tiles.length;
  const data = new Uint8Array(width * side * 3);
  images.forEach((img, i) => {
    for (let y = 0; y < side; y++) data.set(img.data.subarray(y * side * 3, (y + 1) * side * 3), (y * width + i * side) * 3);
  });
  return { width, height: side, data };
}

export class StaticBackend extends StaticMemory implements DialogueBackend {
  readonly enrolments: EnrolRequest[] = [];
  /** Per camera; tests may set fps and counters to see them reported. */
  readonly stats = new Map<string, CameraStats>();
  private readonly uploads = new Map<string, Match[]>();
  private readonly listeners = new Set<(e: SceneEvent) => void>();
  /** Unset: the server encodes currentView() itself; tests may set it to hand out their own snapshots. */
  snapshot?: DialogueBackend['snapshot'];
  /** Adds a delay to recognise(), to test cancellation and concurrency. */
  recogniseDelayMs = 0;

  /**
   * Household: Billy (pet) and Mochi (pet) are in the living room; Anna (person) was seen in the hallway five
   * minutes ago; Piggy (object) was never seen. The hallway camera shows nothing enrolled. An upload of
   * myvlm/billy_dog/billy_dog_11.jpg is recognised as Billy. An unknown visitor, unknown-3, came 4 times this week.
   */
  static async create(): Promise<StaticBackend> {
    const b = new StaticBackend();
    const billy = b.add('Billy', 'pet', 'our cavalier king charles spaniel, 9 years old, not allowed on the sofa');
    const mochi = b.add('Mochi', 'pet', 'the grey tabby cat; likes the kitchen counter');
    const anna = b.add('Anna', 'person', 'my daughter, 12');
    b.add('Piggy', 'object', 'the red piggy bank with the holiday money');

    const side = 480;
    const living = await compose([{ file: 'myvlm/billy_dog/billy_dog_6.jpg' }, { file: 'myvlm/my_cat/my_cat_6.jpg' }], side);
    b.views.set('living', {
      cameraId: 'living',
      room: 'living room',
      capturedAt: Date.now(),
      image: living,
      matches: [
        b.match(billy, { xmin: 0.06 * side, ymin: 0.06 * side, xmax: 0.98 * side, ymax: 0.95 * side }, 0.91),
        b.match(mochi, { xmin: side + 0.2 * side, ymin: 0.18 * side, xmax: side + 0.7 * side, ymax: 0.97 * side }, 0.84),
      ],
    });
    const hall = await compose([{ file: 'dreambooth/can/00.jpg' }], side);
    b.views.set('hall', { cameraId: 'hall', room: 'hallway', capturedAt: Date.now(), image: hall, matches: [] });
    for (const [id, v] of b.views) {
      b.stats.set(id, { id, room: v.room, state: 'streaming', fps: 0, counters: { captured: 1, processed: 1, dropped: 0 }, lastFrameAt: v.capturedAt, lastError: null });
    }
    const annaAt = Date.now() - 5 * 60_000;
    b.addVisit({ conceptId: anna.id, cameraId: 'hall', room: 'hallway', firstSeen: annaAt, lastSeen: annaAt, box: { xmin: 10, ymin: 10, xmax: 200, ymax: 470 }, confidence: 0.8 });
    const day = 24 * 3600_000;
    b.unknownMap.set('unknown-3', { id: 'unknown-3', firstSeen: Date.now() - 6 * day, lastSeen: Date.now() - 3600_000, visits: 4, visitsLast7Days: 4, daysLast7Days: 2, viewCount: 6, lastCameraId: 'hall' });

    const upload = (await readImageFile(dataFile('myvlm/billy_dog/billy_dog_11.jpg'))).image;
    b.uploads.set(fingerprint(upload), [b.match(billy, { xmin: 0.03 * upload.width, ymin: 0.15 * upload.height, xmax: 0.97 * upload.width, ymax: 0.8 * upload.height }, 0.88)]);
    return b;
  }

  private add(name: string, kind: ConceptKind, context: string, viewCount = 4): ConceptSummary {
    const c: ConceptSummary = { id: randomUUID(), name, kind, context, createdAt: Date.now(), updatedAt: Date.now(), viewCount, thresholds: { object: 0.6 } };
    this.concepts.set(c.id, c);
    return c;
  }

  private match(c: ConceptSummary, box: Box, confidence: number): Match {
    return { conceptId: c.id, name: c.name, kind: c.kind, box, similarity: 0.8, threshold: 0.6, confidence, space: 'object' };
  }

  byName(name: string): ConceptSummary {
    const c = [...this.concepts.values()].find((x) => x.name === name);
    if (!c) throw new Error(`no concept ${name}`);
    return c;
  }

  listConcepts(): ConceptSummary[] {
    return [...this.concepts.values()];
  }

  async enrol(req: EnrolRequest): Promise<ConceptSummary> {
    this.enrolments.push(req);
    if ([...this.concepts.values()].some((c) => c.name.toLowerCase() === req.name.toLowerCase() && c.kind === req.kind)) {
      throw new FamiliarError('CONCEPT_EXISTS', `a ${req.kind} called ${req.name} is already enrolled`);
    }
    let views: number;
    if ('photos' in req) {
      for (const p of req.photos) await decodeImage(p);
      views = req.photos.length;
    } else {
      if (!this.views.has(req.cameraId)) throw new FamiliarError('NOT_FOUND', `no camera ${req.cameraId}`);
      views = 1;
    }
    return this.add(req.name, req.kind, req.context, views);
  }

  async updateConcept(id: string, patch: { name?: string; context?: string }): Promise<ConceptSummary> {
    const c = this.concept(id);
    const next = { ...c, ...(patch.name !== undefined ? { name: patch.name } : {}), ...(patch.context !== undefined ? { context: patch.context } : {}), updatedAt: Date.now() };
    this.concepts.set(id, next);
    return next;
  }

  async forget(id: string): Promise<void> {
    if (!this.concepts.delete(id)) throw new FamiliarError('CONCEPT_NOT_FOUND', `no concept ${id}`);
    this.forgetMemory(id);
    for (const v of this.views.values()) v.matches = v.matches.filter((m) => m.conceptId !== id);
  }

  async currentView(cameraId = 'living'): Promise<View | null> {
    if (!this.views.has(cameraId)) throw new FamiliarError('NOT_FOUND', `no camera ${cameraId}`);
    return this.views.get(cameraId)!;
  }

  async recognise(image: RgbImage, signal?: AbortSignal): Promise<Match[]> {
    if (this.recogniseDelayMs) await new Promise((r) => setTimeout(r, this.recogniseDelayMs));
    signal?.throwIfAborted();
    return this.uploads.get(fingerprint(image)) ?? [];
  }

  subscribe(listener: (e: SceneEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Shows a new frame on a camera, as the pipeline would after a camera delivered it: side-by-side square tiles
   * of real photos, `recognised` concepts boxed inside their tile (named concepts must be enrolled), and the
   * scene events for who appeared, moved and left.
   */
  async replay(cameraId: string, files: string[], recognised: { name: string; tile: number; confidence: number }[], side = 480): Promise<void> {
    const before = this.views.get(cameraId);
    if (!before) throw new Error(`no camera ${cameraId}`);
    const image = await compose(files.map((file) => ({ file })), side);
    const margin = side * 0.05;
    const matches = recognised.map((r) =>
      this.match(this.byName(r.name), { xmin: r.tile * side + margin, ymin: margin, xmax: (r.tile + 1) * side - margin, ymax: side - margin }, r.confidence),
    );
    const at = Date.now();
    this.views.set(cameraId, { ...before, capturedAt: at, image, matches });
    const stats = this.stats.get(cameraId)!;
    stats.counters.captured++;
    stats.counters.processed++;
    stats.lastFrameAt = at;
    const event = (type: SceneEvent['type'], m: Match, box: Box | null): SceneEvent => ({
      type,
      cameraId,
      room: before.room,
      at,
      conceptId: m.conceptId,
      name: m.name,
      kind: m.kind,
      box,
      confidence: m.confidence,
      trackId: `${cameraId}:${m.conceptId}`,
    });
    for (const m of before.matches) if (!matches.some((n) => n.conceptId === m.conceptId)) this.emit(event('left', m, null));
    for (const m of matches) this.emit(event(before.matches.some((o) => o.conceptId === m.conceptId) ? 'moved' : 'appeared', m, m.box));
    this.observe(cameraId, before.room, at, before.matches, matches);
  }

  cameras(): CameraStats[] {
    return [...this.stats.values()].map((c) => ({ ...c, counters: { ...c.counters } }));
  }

  /** Emits a scene event to the subscribers, as the perception pipeline would. */
  emit(e: SceneEvent): void {
    for (const l of this.listeners) l(e);
  }

  status(): Record<string, unknown> {
    return { cameras: [...this.views.keys()], concepts: this.concepts.size };
  }
}
