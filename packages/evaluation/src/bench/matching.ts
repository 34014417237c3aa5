import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { normalise, seededRandom } from '@familiar/contracts';
import { ExactIndex, HnswIndex, type HnswParams, type VectorIndex } from '@familiar/memory';
import { median } from './stats.ts';

/** One gallery size: exact and HNSW search side by side on the same vectors and queries. */
export interface MatchingRow {
  views: number;
  /** Exact index (int16 SIMD scores + float rescoring): ms per detection, a frame's detections searched together. */
  exactMsPerDetection: number;
  /** The plain float loop the exact index used before, for comparison (null where it would take too long). */
  floatMsPerDetection: number | null;
  exactBuildMs: number;
  /** null: HNSW not measured at this size (quick mode). */
  hnswMsPerDetection: number | null;
  /** Share of queries whose best view HNSW found (the exact index's best). */
  hnswRecallAt1: number | null;
  hnswBuildMs: number | null;
  hnswSaveMs: number | null;
  hnswLoadMs: number | null;
}

export interface MatchingReport {
  dim: number;
  /** Views searched per query (the recogniser's k). */
  k: number;
  /** Detections per frame, searched as one batch. */
  batch: number;
  queries: number;
  hnsw: HnswParams;
  rows: MatchingRow[];
  /** The store switches to HNSW above this many views of a space (config store.hnswAbove). */
  switchAbove: number;
  /** Smallest measured size at which HNSW was faster per detection than exact search (null: never). */
  hnswFasterFrom: number | null;
}

export interface MatchingOptions {
  /** Real embeddings (unit vectors) that synthetic concepts are mixed from, so the gallery has real structure. */
  seeds: readonly Float32Array[];
  sizes: readonly number[];
  /** Largest size HNSW is built for. */
  hnswUpTo: number;
  /** Largest size the plain float loop is timed at. */
  floatUpTo: number;
  queries: number;
  k: number;
  batch: number;
  hnsw: HnswParams;
  switchAbove: number;
  log: (line: string) => void;
}

/** Views per synthetic concept (a household enrols a few photos per concept, and corrections add more). */
const VIEWS_PER_CONCEPT = 8;

/**
 * Matching at growing gallery sizes, on synthetic views built from real embeddings: each concept is a mix of two
 * real object embeddings plus noise, each view that concept plus noise (cosine ≈ 0.9 to it), and each query a new
 * view of a known concept, as a re-observation in a camera frame would be.
 */
export async function benchMatching(options: MatchingOptions): Promise<MatchingReport> {
  const dim = options.seeds[0]!.length;
  const rand = seededRandom(7);
  const rows: MatchingRow[] = [];
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'familiar-bench-hnsw-'));
  try {
    for (const views of options.sizes) {
      options.log(`matching: ${views} views`);
      const concepts = Math.max(1, Math.ceil(views / VIEWS_PER_CONCEPT));
      const centres = Array.from({ length: concepts }, () => mixCentre(options.seeds, rand));
      const vectors = Array.from({ length: views }, (_, i) => jitter(centres[i % concepts]!, 0.45, rand));
      const queries = Array.from({ length: options.queries }, () => jitter(centres[Math.floor(rand() * concepts)]!, 0.45, rand));

      const exact = new ExactIndex(dim, views);
      const exactBuildMs = timeSync(() => vectors.forEach((v, i) => exact.add(i, v)));
      const exactMs = perDetection(exact, queries, options);
      const truth = exact.searchBatch(queries, 1).map((h) => h[0]!.label);
      let floatMs: number | null = null;
      if (views <= options.floatUpTo) {
        const float = new ExactIndex(dim, views, { simd: false });
        vectors.forEach((v, i) => float.add(i, v));
        floatMs = perDetection(float, queries.slice(0, options.batch * 2), options);
      }

      const row: MatchingRow = {
        views,
        exactMsPerDetection: exactMs,
        floatMsPerDetection: floatMs,
        exactBuildMs,
        hnswMsPerDetection: null,
        hnswRecallAt1: null,
        hnswBuildMs: null,
        hnswSaveMs: null,
        hnswLoadMs: null,
      };
      if (views <= options.hnswUpTo) {
        const hnsw = new HnswIndex(dim, options.hnsw, views);
        row.hnswBuildMs = timeSync(() => vectors.forEach((v, i) => hnsw.add(i, v)));
        row.hnswMsPerDetection = perDetection(hnsw, queries, options);
        const found = hnsw.searchBatch(queries, 1).map((h) => h[0]?.label);
        row.hnswRecallAt1 = found.filter((label, i) => label === truth[i]).length / queries.length;
        const file = path.join(tmp, `hnsw-${views}.bin`);
        let t = performance.now();
        await hnsw.save(file, null);
        row.hnswSaveMs = performance.now() - t;
        t = performance.now();
        await HnswIndex.load(file, dim, options.hnsw);
        row.hnswLoadMs = performance.now() - t;
        await HnswIndex.remove(file);
      }
      rows.push(row);
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  const faster = rows.find((r) => r.hnswMsPerDetection !== null && r.hnswMsPerDetection < r.exactMsPerDetection);
  return {
    dim,
    k: options.k,
    batch: options.batch,
    queries: options.queries,
    hnsw: options.hnsw,
    rows,
    switchAbove: options.switchAbove,
    hnswFasterFrom: faster?.views ?? null,
  };
}

/** Median over batches of (batch search time / batch size), after one warm-up batch. */
function perDetection(index: VectorIndex, queries: readonly Float32Array[], options: { k: number; batch: number }): number {
  const { k, batch } = options;
  index.searchBatch(queries.slice(0, batch), k);
  const times: number[] = [];
  for (let b = 0; b + batch <= queries.length; b += batch) {
    const chunk = queries.slice(b, b + batch);
    times.push(timeSync(() => index.searchBatch(chunk, k)) / chunk.length);
  }
  return median(times);
}

function timeSync(fn: () => void): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

/** A new concept: a random mix of two real embeddings, moved a little (cosine ≈ 0.95 to the mix). */
function mixCentre(seeds: readonly Float32Array[], rand: () => number): Float32Array {
  const a = seeds[Math.floor(rand() * seeds.length)]!;
  const b = seeds[Math.floor(rand() * seeds.length)]!;
  const w = rand();
  const mix = new Float32Array(a.length);
  for (let j = 0; j < a.length; j++) mix[j] = w * a[j]! + (1 - w) * b[j]!;
  return jitter(normalise(mix), 0.3, rand);
}

/** `v` plus Gaussian noise of norm `amount` (relative to the unit vector), normalised. */
function jitter(v: Float32Array, amount: number, rand: () => number): Float32Array {
  const out = new Float32Array(v.length);
  const scale = amount / Math.sqrt(v.length);
  for (let j = 0; j < v.length; j++) out[j] = v[j]! + scale * gaussian(rand);
  return normalise(out);
}

function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}
