import path from 'node:path';
import { FamiliarError, type ConceptKind, type RgbImage } from '@familiar/contracts';
import { REPO_ROOT } from '@familiar/config';
import { decodeImage, encodeJpeg, resizeRgb } from '@familiar/image';
import { readFile } from 'node:fs/promises';
import { kindOfCategory, readDataset } from '../eval.ts';

/** A concept of the benchmark household: reference photos to enrol it, query photos to show it. */
export interface SceneConcept {
  /** `dataset/concept`, also used as the enrolled name. */
  key: string;
  kind: ConceptKind;
  references: string[];
  queries: string[];
}

/** Camera frames that show several enrolled people and objects at once, built from real photos. */
export interface SceneSet {
  /** Encoded frames (JPEG), in playing order. */
  frames: Uint8Array[];
  /** Frames between a cell's photo changes (1: every photo new on every frame). */
  changeEvery: number;
}

/** Who is in the benchmark's view: 3 people (face photos with background) and 5 objects. */
const PEOPLE = ['faces_5celeb/ben_afflek', 'faces_5celeb/jerry_seinfeld', 'faces_5celeb/madonna'] as const;
const OBJECTS = ['dreambooth/backpack', 'dreambooth/can', 'dreambooth/clock', 'dreambooth/duck_toy', 'myvlm/red_piggy_bank'] as const;

const FRAME_WIDTH = 1280;
const FRAME_HEIGHT = 720;
const COLUMNS = 4;
const ROWS = 2;
const BACKGROUND = 96;

/** Reads the concepts' photo lists from the datasets' index.csv files. */
export function sceneConcepts(dataDir: string): SceneConcept[] {
  const byDataset = new Map<string, ReturnType<typeof readDataset>>();
  return [...PEOPLE, ...OBJECTS].map((key) => {
    const [dataset, concept] = key.split('/') as [string, string];
    const dir = path.join(dataDir, dataset);
    let rows = byDataset.get(dataset);
    if (!rows) byDataset.set(dataset, (rows = readDataset(dir)));
    const own = rows.filter((r) => r.concept === concept && r.conceptsPresent.length <= 1);
    const references = own.filter((r) => r.split === 'reference').map((r) => path.join(dir, r.file));
    const queries = own.filter((r) => r.split === 'query').map((r) => path.join(dir, r.file));
    if (references.length === 0 || queries.length === 0) throw new FamiliarError('DATASET_INVALID', `${key}: no reference or query photos in ${dir}`);
    return { key, kind: kindOfCategory(own[0]!.category), references, queries };
  });
}

/**
 * `count` frames of 1280×720, a 4×2 grid in which every concept keeps its own cell (so the tracker sees it stay).
 * The photo in a cell (a query photo, never an enrolled reference) changes every `changeEvery` frames, cells taking
 * turns; in between it shifts by a pixel or two, as a still scene does on a real camera. `changeEvery: 1` gives a
 * new photo in every cell on every frame: the worst case, where nothing can be reused.
 */
export async function buildScenes(concepts: readonly SceneConcept[], count: number, changeEvery = 1): Promise<SceneSet> {
  if (concepts.length > COLUMNS * ROWS) throw new FamiliarError('INTERNAL', `at most ${COLUMNS * ROWS} concepts fit a scene`);
  const cellW = FRAME_WIDTH / COLUMNS;
  const cellH = FRAME_HEIGHT / ROWS;
  const cache = new Map<string, RgbImage>();
  const cell = async (file: string): Promise<RgbImage> => {
    let img = cache.get(file);
    if (!img) {
      const { image } = await decodeImage(new Uint8Array(await readFile(file)), { maxSide: 2 * Math.max(cellW, cellH) });
      // A little smaller than the cell, leaving room for the jitter.
      const r = Math.min((cellW - 8) / image.width, (cellH - 8) / image.height);
      img = await resizeRgb(image, Math.max(1, Math.floor(image.width * r)), Math.max(1, Math.floor(image.height * r)));
      cache.set(file, img);
    }
    return img;
  };
  const frames: Uint8Array[] = [];
  for (let f = 0; f < count; f++) {
    const canvas: RgbImage = { width: FRAME_WIDTH, height: FRAME_HEIGHT, data: new Uint8Array(FRAME_WIDTH * FRAME_HEIGHT * 3).fill(BACKGROUND) };
    for (let i = 0; i < concepts.length; i++) {
      const c = concepts[i]!;
      // Cell i switches photo on frames f ≡ -i·changeEvery/cells (mod changeEvery): the cells take turns.
      const turn = Math.floor((f + Math.floor((i * changeEvery) / concepts.length)) / changeEvery);
      const img = await cell(c.queries[(turn + i) % c.queries.length]!);
      const jitter = changeEvery > 1 ? ((f + i) % 5) - 2 : 0;
      const x0 = (i % COLUMNS) * cellW + Math.floor((cellW - img.width) / 2) + jitter;
      const y0 = Math.floor(i / COLUMNS) * cellH + Math.floor((cellH - img.height) / 2) - jitter;
      paste(canvas, img, x0, y0);
    }
    frames.push(await encodeJpeg(canvas, 85));
  }
  return { frames, changeEvery };
}

function paste(canvas: RgbImage, img: RgbImage, x0: number, y0: number): void {
  const row = img.width * 3;
  for (let y = 0; y < img.height; y++) canvas.data.set(img.data.subarray(y * row, (y + 1) * row), ((y0 + y) * canvas.width + x0) * 3);
}

/** The shared data directory next to the repository. */
export const DEFAULT_DATA_DIR = path.resolve(REPO_ROOT, '../shared/data');
