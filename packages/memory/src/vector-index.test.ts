import { readFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HnswIndex } from './hnsw-index.ts';
import { dot } from '@familiar/contracts';
import { clusteredVectors, caught, errorCode, makeTempDir, perturb, randomUnit, removeDir, seededRandom } from './test-helpers.ts';
import { ExactIndex, type VectorHit, type VectorIndex } from './vector-index.ts';

/** Brute-force reference answer. */
function bruteForce(vectors: Map<number, Float32Array>, q: Float32Array, k: number): VectorHit[] {
  return [...vectors]
    .map(([label, v]) => ({ label, similarity: dot(v, q) }))
    .sort((a, b) => b.similarity - a.similarity)
    .slice(0, k);
}

function expectSameHits(actual: VectorHit[], expected: VectorHit[]): void {
  expect(actual.map((h) => h.label)).toEqual(expected.map((h) => h.label));
  actual.forEach((h, i) => expect(h.similarity).toBeCloseTo(expected[i]!.similarity, 5));
}

const makers: Array<[string, (dim: number) => VectorIndex]> = [
  ['ExactIndex', (dim) => new ExactIndex(dim, 2)],
  ['HnswIndex', (dim) => new HnswIndex(dim, {}, 16)],
];

describe.each(makers)('%s', (_name, make) => {
  it('adds, searches best first, replaces, removes and grows past its initial capacity', () => {
    const rand = seededRandom(1);
    const index = make(16);
    const stored = new Map<number, Float32Array>();
    for (let label = 0; label < 200; label++) {
      const v = randomUnit(16, rand);
      index.add(label * 7, v);
      stored.set(label * 7, v);
    }
    expect(index.size).toBe(200);
    const q = randomUnit(16, rand);
    expectSameHits(index.search(q, 5), bruteForce(stored, q, 5));

    // Replacing a label keeps the count and changes the answer.
    index.add(7, q);
    stored.set(7, q);
    expect(index.size).toBe(200);
    expect(index.search(q, 1)[0]).toMatchObject({ label: 7 });
    expect(index.search(q, 1)[0]!.similarity).toBeCloseTo(1, 5);

    for (const label of [7, 0, 1393, 700]) {
      expect(index.remove(label)).toBe(true);
      stored.delete(label);
    }
    expect(index.remove(7)).toBe(false);
    expect(index.has(7)).toBe(false);
    expect(index.has(14)).toBe(true);
    expect(index.size).toBe(196);
    expectSameHits(index.search(q, 10), bruteForce(stored, q, 10));

    // A removed label can come back.
    index.add(7, q);
    expect(index.search(q, 1)[0]!.label).toBe(7);
  });

  it('returns at most size hits, none for k = 0 or when empty', () => {
    const rand = seededRandom(2);
    const index = make(8);
    expect(index.search(randomUnit(8, rand), 3)).toEqual([]);
    index.add(1, randomUnit(8, rand));
    index.add(2, randomUnit(8, rand));
    expect(index.search(randomUnit(8, rand), 10)).toHaveLength(2);
    expect(index.search(randomUnit(8, rand), 0)).toEqual([]);
    expect(index.searchBatch([], 3)).toEqual([]);
  });

  it('rejects wrong dimensions, bad labels, non-finite vectors and bad k with typed errors', async () => {
    const rand = seededRandom(3);
    const index = make(8);
    index.add(0, randomUnit(8, rand));
    expect(await errorCode(() => index.add(1, randomUnit(9, rand)))).toBe('INDEX_DIM_MISMATCH');
    expect(await errorCode(() => index.search(randomUnit(7, rand), 1))).toBe('INDEX_DIM_MISMATCH');
    expect(await errorCode(() => index.searchBatch([randomUnit(8, rand), randomUnit(4, rand)], 1))).toBe('INDEX_DIM_MISMATCH');
    for (const label of [-1, 1.5, 2 ** 32, Number.NaN]) expect(await errorCode(() => index.add(label, randomUnit(8, rand)))).toBe('INPUT_INVALID');
    expect(await errorCode(() => index.add(2, new Float32Array(8).fill(Number.NaN)))).toBe('INPUT_INVALID');
    expect(await errorCode(() => index.add(2, [1, 0, 0, 0, 0, 0, 0, 0] as unknown as Float32Array))).toBe('INPUT_INVALID');
    expect(await errorCode(() => index.search(randomUnit(8, rand), -1))).toBe('INPUT_INVALID');
    expect(await errorCode(() => index.search(randomUnit(8, rand), 1.5))).toBe('INPUT_INVALID');
    // The largest label is fine (hnswlib would wrap 2^32 to 0 silently).
    index.add(2 ** 32 - 1, randomUnit(8, rand));
    expect(index.has(2 ** 32 - 1)).toBe(true);
    expect(index.size).toBe(2);
  });
});

describe('ExactIndex', () => {
  it('answers exactly like brute force, single and batched (every block remainder), odd dimensions', () => {
    for (const dim of [3, 127, 128]) {
      const rand = seededRandom(dim);
      const index = new ExactIndex(dim);
      const stored = new Map<number, Float32Array>();
      for (let label = 0; label < 301; label++) {
        const v = randomUnit(dim, rand);
        index.add(label, v);
        stored.set(label, v);
      }
      const queries = Array.from({ length: 11 }, () => randomUnit(dim, rand));
      for (let n = 1; n <= queries.length; n++) {
        const batch = index.searchBatch(queries.slice(0, n), 4);
        batch.forEach((hits, i) => expectSameHits(hits, bruteForce(stored, queries[i]!, 4)));
      }
      expectSameHits(index.search(queries[0]!, 301), bruteForce(stored, queries[0]!, 301));
    }
  });

  it('keeps labels and vectors consistent under swap-removal', () => {
    const rand = seededRandom(9);
    const index = new ExactIndex(4);
    const stored = new Map<number, Float32Array>();
    for (let label = 0; label < 50; label++) {
      const v = randomUnit(4, rand);
      index.add(label, v);
      stored.set(label, v);
    }
    for (let label = 0; label < 50; label += 3) {
      index.remove(label);
      stored.delete(label);
    }
    expect(index.labels().sort((a, b) => a - b)).toEqual([...stored.keys()]);
    for (const [label, v] of stored) expect(Array.from(index.get(label)!)).toEqual(Array.from(v));
    expect(index.get(0)).toBeUndefined();
  });
});

describe('HnswIndex', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir();
  });
  afterEach(async () => {
    await removeDir(dir);
  });

  it('gives the same top-1 as ExactIndex on clustered vectors (recall@1 reported)', async ({ annotate }) => {
    const dim = 128;
    const { vectors, centres } = clusteredVectors(400, 8, dim, 1.0, 42);
    const exact = new ExactIndex(dim);
    const hnsw = new HnswIndex(dim);
    vectors.forEach((v, label) => {
      exact.add(label, v);
      hnsw.add(label, v);
    });
    // Re-observations: a fresh noisy sample of every identity, the way a camera sees a known person again.
    const rand = seededRandom(7);
    const queries = centres.map((c) => perturb(c, 1.0, rand));
    const truth = exact.searchBatch(queries, 1);
    const approx = hnsw.searchBatch(queries, 1);
    let agree = 0;
    truth.forEach((hits, i) => {
      if (hits[0]!.label === approx[i]![0]!.label) agree++;
    });
    const recall = agree / queries.length;
    await annotate(`HNSW recall@1 vs exact: ${recall.toFixed(4)} on ${vectors.length} clustered ${dim}-d vectors, ${queries.length} queries`);
    expect(recall).toBeGreaterThanOrEqual(0.99);
    approx.forEach((hits, i) => {
      if (hits[0]!.label === truth[i]![0]!.label) expect(hits[0]!.similarity).toBeCloseTo(truth[i]![0]!.similarity, 4);
    });
  });

  it('saves atomically and loads the same answers, deleted labels and caller data', async () => {
    const rand = seededRandom(11);
    const index = new HnswIndex(32, { efSearch: 64 });
    const vectors = Array.from({ length: 300 }, () => randomUnit(32, rand));
    vectors.forEach((v, label) => index.add(label, v));
    index.remove(5);
    index.remove(6);
    const file = path.join(dir, 'face.hnsw');
    await index.save(file, { hello: 'world' });
    const queries = Array.from({ length: 20 }, () => randomUnit(32, rand));

    const loaded = (await HnswIndex.load(file, 32, { efSearch: 64 }))!;
    expect(loaded.extra).toEqual({ hello: 'world' });
    expect(loaded.index.size).toBe(298);
    expect(loaded.index.has(5)).toBe(false);
    expect(loaded.index.deletedCount).toBe(2);
    expect(loaded.index.searchBatch(queries, 5)).toEqual(index.searchBatch(queries, 5));
    // Re-adding a label that was deleted before the save works after the load.
    loaded.index.add(5, vectors[5]!);
    expect(loaded.index.search(vectors[5]!, 1)[0]!.label).toBe(5);
    expect((await readFile(`${file}.meta`, 'utf8')).startsWith('{"format":"familiar.hnsw-meta"')).toBe(true);
  });

  it('refuses a cache of another dimension or parameters, a damaged or truncated file, and reports a missing one', async () => {
    const rand = seededRandom(12);
    const index = new HnswIndex(16);
    for (let label = 0; label < 100; label++) index.add(label, randomUnit(16, rand));
    const file = path.join(dir, 'x.hnsw');
    await index.save(file);

    // hnswlib itself would read this file as 8-d without complaint.
    expect((await caught(HnswIndex.load(file, 8))).details?.reason).toBe('mismatch');
    expect((await caught(HnswIndex.load(file, 16, { m: 32 }))).details?.reason).toBe('mismatch');

    const bytes = await readFile(file);
    bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0xff;
    await writeFile(file, bytes);
    expect((await caught(HnswIndex.load(file, 16))).details?.reason).toBe('checksum');

    await truncate(file, 1000);
    expect((await caught(HnswIndex.load(file, 16))).code).toBe('STORE_CORRUPT');

    await writeFile(`${file}.meta`, '{"format":"familiar.hnsw-meta","vers');
    expect((await caught(HnswIndex.load(file, 16))).details?.reason).toBe('parse');

    await rm(`${file}.meta`);
    expect(await HnswIndex.load(file, 16)).toBeUndefined();
    await HnswIndex.remove(file);
    expect(await HnswIndex.load(file, 16)).toBeUndefined();
  });

  it('compacts away deleted entries and keeps answering', () => {
    const rand = seededRandom(13);
    const index = new HnswIndex(8, {}, 16);
    const stored = new Map<number, Float32Array>();
    for (let label = 0; label < 3000; label++) {
      const v = randomUnit(8, rand);
      index.add(label, v);
      stored.set(label, v);
    }
    for (let label = 0; label < 2000; label++) {
      index.remove(label);
      stored.delete(label);
    }
    // Removing more than half triggered compaction on the way (deleted > live and >= 1024).
    expect(index.deletedCount).toBeLessThan(1024);
    index.compact();
    expect(index.deletedCount).toBe(0);
    expect(index.size).toBe(1000);
    const q = randomUnit(8, rand);
    expect(index.search(q, 1)[0]!.label).toBe(bruteForce(stored, q, 1)[0]!.label);
  });
});
