import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@familiar/config';
import { seededRandom } from '@familiar/contracts';
import { readImageFile, resizeRgb } from '@familiar/image';
import { UnknownVisitors } from '@familiar/memory';
import { alignFace, loadVisionModels } from '@familiar/vision';
import { DATA_DIR } from './support/static-backend.ts';

// Unknown-visitor grouping on real faces: every photo of the two face sets (15 people) arrives as an
// unrecognised face, in several orders. Distinct people must never share a provisional identity; most photos
// of one person should land in one identity. The thresholds are the configured defaults.

const config = loadConfig({ env: {} });
const SETS = ['faces_glint_crops', 'faces_5celeb'] as const;
const ORDERS = 4;
const T0 = Date.UTC(2026, 2, 1, 9);

interface Face {
  person: string;
  vector: Float32Array;
}

let faces: Face[] = [];
let root: string;

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const rand = seededRandom(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'familiar-unknowns-'));
  const models = await loadVisionModels(config);
  try {
    for (const set of SETS) {
      const rows = (await readFile(path.join(DATA_DIR, set, 'index.csv'), 'utf8')).trim().split('\n').slice(1);
      for (const row of rows) {
        const [file, concept] = row.split(',') as [string, string];
        const { image } = await readImageFile(path.join(DATA_DIR, set, file));
        if (set === 'faces_glint_crops') {
          // Already aligned 112×112 crops: embed as they are.
          faces.push({ person: `${set}/${concept}`, vector: await models.faceEmbedder.embed(await resizeRgb(image, 112, 112)) });
          continue;
        }
        const found = await models.faceDetector.detect(image, { longSide: config.recognition.faceInputLongSide, scoreThreshold: config.recognition.faceScore, minSize: config.recognition.minFaceSize });
        const area = (b: { xmin: number; ymin: number; xmax: number; ymax: number }): number => (b.xmax - b.xmin) * (b.ymax - b.ymin);
        const face = found.sort((a, b) => area(b.box) - area(a.box))[0];
        if (face !== undefined) faces.push({ person: `${set}/${concept}`, vector: await models.faceEmbedder.embed(alignFace(image, face.landmarks)) });
      }
    }
  } finally {
    await models.release();
  }
});

afterAll(async () => {
  faces = [];
  await rm(root, { recursive: true, force: true });
});

describe('unknown visitors on real faces (MobileFaceNet, configured thresholds)', () => {
  it('never merges two people and keeps most photos of a person together, in every arrival order', async () => {
    const people = new Set(faces.map((f) => f.person));
    expect(people.size).toBe(15);
    expect(faces.length).toBeGreaterThanOrEqual(185);
    const together: number[] = [];
    for (let order = 0; order < ORDERS; order++) {
      const dir = path.join(root, `order-${order}`);
      const unknowns = await UnknownVisitors.open(dir, {
        joinSimilarity: config.memory.unknownJoinSimilarity,
        meanSimilarity: config.memory.unknownMeanSimilarity,
        viewsPerGroup: config.memory.unknownViewsPerGroup,
        maxGroups: 1000,
        dim: 128,
        now: () => T0 + 1000 * 60_000,
      });
      const members = new Map<string, string[]>();
      for (const [i, face] of shuffled(faces, 1000 + order).entries()) {
        const { groupId } = await unknowns.observe({ vector: face.vector, at: T0 + i * 60_000, cameraId: 'door' });
        members.set(groupId, [...(members.get(groupId) ?? []), face.person]);
      }
      // Purity: every provisional identity holds photos of one person only.
      for (const [groupId, persons] of members) expect(new Set(persons).size, `${groupId} mixes ${[...new Set(persons)].join(', ')}`).toBe(1);
      // Share of each person's photos in that person's largest identity.
      for (const person of people) {
        const counts = [...members.values()].filter((p) => p[0] === person).map((p) => p.length);
        together.push(Math.max(...counts) / counts.reduce((a, b) => a + b, 0));
      }
      // Embeddings only: nothing in the store is an image.
      for (const name of await readdir(dir)) {
        const head = (await readFile(path.join(dir, name))).subarray(0, 4).toString('hex');
        expect(['ffd8ff', '89504e47', '52494646'].some((magic) => head.startsWith(magic)), name).toBe(false);
      }
      // The identities survive a restart.
      const listed = unknowns.list();
      await unknowns.close();
      const again = await UnknownVisitors.open(dir, { maxGroups: 1000, now: () => T0 + 1000 * 60_000 });
      expect(again.list()).toEqual(listed);
      await again.close();
    }
    const mean = together.reduce((a, b) => a + b, 0) / together.length;
    console.info(`unknown visitors: ${faces.length} photos of ${people.size} people, ${ORDERS} orders: purity 100 %, ${(mean * 100).toFixed(1)} % of a person's photos in their main identity`);
    expect(mean).toBeGreaterThan(0.6);
  });
});
