/**
 * A DialogueBackend over fixed real photos from ../shared/data, for the dialogue tests: each camera shows a
 * frame composed from real photos with hand-placed boxes, uploaded images are "recognised" by pixel
 * fingerprint, enrolment really decodes the photos. The runtime's end-to-end test runs the real pipeline.
 */
import { createHash, randomUUID } from 'node:crypto';
import path from 'node:path';
import { REPO_ROOT } from '@familiar/config';
import { FamiliarError, type Box, type ConceptKind, type ConceptSummary, type Match, type RgbImage, type SceneEvent } from '@familiar/contracts';
import type { DialogueBackend, EnrolRequest, LastSeen, View } from '@familiar/dialogue';
import { decodeImage, readImageFile, resizeRgb } from '@familiar/image';

export const DATA_DIR = path.resolve(REPO_ROOT, '../shared/data');
export const dataFile = (rel: string) => path.join(DATA_DIR, rel);

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

export class StaticBackend implements DialogueBackend {
  readonly concepts = new Map<string, ConceptSummary>();
  readonly views = new Map<string, View>();
  readonly sightings = new Map<string, LastSeen>();
  readonly enrolments: EnrolRequest[] = [];
  private readonly uploads = new Map<string, Match[]>();
  private readonly listeners = new Set<(e: SceneEvent) => void>();
  /** Adds a delay to recognise(), to test cancellation and concurrency. */
  recogniseDelayMs = 0;

  /**
   * Household: Billy (pet) and Mochi (pet) are in the living room; Anna (person) was seen in the hallway five
   * minutes ago; Piggy (object) was never seen. The hallway camera shows nothing enrolled. An upload of
   * myvlm/billy_dog/billy_dog_11.jpg is recognised as Billy.
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
    b.sightings.set(anna.id, { cameraId: 'hall', room: 'hallway', at: Date.now() - 5 * 60_000, box: { xmin: 10, ymin: 10, xmax: 200, ymax: 470 } });

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
    const c = this.concepts.get(id);
    if (!c) throw new FamiliarError('CONCEPT_NOT_FOUND', `no concept ${id}`);
    const next = { ...c, ...(patch.name !== undefined ? { name: patch.name } : {}), ...(patch.context !== undefined ? { context: patch.context } : {}), updatedAt: Date.now() };
    this.concepts.set(id, next);
    return next;
  }

  async forget(id: string): Promise<void> {
    if (!this.concepts.delete(id)) throw new FamiliarError('CONCEPT_NOT_FOUND', `no concept ${id}`);
    this.sightings.delete(id);
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

  lastSeen(conceptId: string): LastSeen | null {
    return this.sightings.get(conceptId) ?? null;
  }

  subscribe(listener: (e: SceneEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Emits a scene event to the subscribers, as the perception pipeline would. */
  emit(e: SceneEvent): void {
    for (const l of this.listeners) l(e);
  }

  status(): Record<string, unknown> {
    return { cameras: [...this.views.keys()], concepts: this.concepts.size };
  }
}
