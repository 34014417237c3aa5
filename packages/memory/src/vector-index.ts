import { FamiliarError } from '@familiar/contracts';

/** One search result: the label of a stored vector and its cosine similarity to the query. */
export interface VectorHit {
  label: number;
  similarity: number;
}

/**
 * A set of unit-length vectors of one dimension, searched by cosine similarity (= dot product).
 * Labels are caller-chosen integers in [0, 2^32). Adding an existing label replaces its vector.
 */
export interface VectorIndex {
  readonly kind: 'exact' | 'hnsw';
  readonly dim: number;
  /** Number of live vectors. */
  readonly size: number;
  add(label: number, v: Float32Array): void;
  /** Removes a label; false when it was not present. */
  remove(label: number): boolean;
  has(label: number): boolean;
  /** The k most similar vectors, best first (fewer when the index holds fewer). */
  search(q: Float32Array, k: number): VectorHit[];
  /** {@link search} for several queries at once, faster than one by one. */
  searchBatch(qs: readonly Float32Array[], k: number): VectorHit[][];
}

const MAX_LABEL = 2 ** 32 - 1;

/** Throws INPUT_INVALID unless `label` is an integer in [0, 2^32): hnswlib would silently wrap anything else. */
export function assertLabel(label: number): void {
  if (!Number.isInteger(label) || label < 0 || label > MAX_LABEL) {
    throw new FamiliarError('INPUT_INVALID', `vector label must be an integer in [0, 2^32), got ${label}`);
  }
}

/** Throws INPUT_INVALID for a non-Float32Array and INDEX_DIM_MISMATCH for a wrong length. */
export function assertDim(v: Float32Array, dim: number): void {
  if (!(v instanceof Float32Array)) throw new FamiliarError('INPUT_INVALID', 'vectors must be Float32Array');
  if (v.length !== dim) {
    throw new FamiliarError('INDEX_DIM_MISMATCH', `vector has ${v.length} dimensions; the index has ${dim}`, { details: { expected: dim, actual: v.length } });
  }
}

/** {@link assertDim} plus: every component finite (a NaN would poison every similarity it touches). */
export function assertVector(v: Float32Array, dim: number): void {
  assertDim(v, dim);
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) throw new FamiliarError('INPUT_INVALID', `vector component ${i} is not finite`);
  }
}

/** Throws INPUT_INVALID unless k is a non-negative integer. */
export function assertK(k: number): void {
  if (!Number.isInteger(k) || k < 0) throw new FamiliarError('INPUT_INVALID', `k must be a non-negative integer, got ${k}`);
}

/** Throws INPUT_INVALID unless dim is a positive integer. */
export function assertIndexDim(dim: number): void {
  if (!Number.isInteger(dim) || dim < 1 || dim > 65_536) throw new FamiliarError('INPUT_INVALID', `index dimension must be an integer in [1, 65536], got ${dim}`);
}

/** Queries scored per pass over the gallery in {@link ExactIndex.searchBatch}: the gallery row is read once for all of them. */
const QUERY_BLOCK = 4;

/**
 * Exact search over a flat Float32Array (row-major, one row per vector) with plain unrolled JS loops.
 * Removal swaps the last row into the hole, so storage stays dense. Exact answers, no build cost;
 * the right choice up to tens of thousands of vectors.
 */
export class ExactIndex implements VectorIndex {
  readonly kind = 'exact' as const;
  readonly dim: number;
  #data: Float32Array;
  #labels: Uint32Array;
  #count = 0;
  readonly #slotOf = new Map<number, number>();
  /** Scores of QUERY_BLOCK queries against every row; reused between searches. */
  #scores = new Float64Array(0);

  constructor(dim: number, initialCapacity = 64) {
    assertIndexDim(dim);
    this.dim = dim;
    const cap = Math.max(1, Math.floor(initialCapacity));
    this.#data = new Float32Array(cap * dim);
    this.#labels = new Uint32Array(cap);
  }

  get size(): number {
    return this.#count;
  }

  has(label: number): boolean {
    return this.#slotOf.has(label);
  }

  add(label: number, v: Float32Array): void {
    assertLabel(label);
    assertVector(v, this.dim);
    let slot = this.#slotOf.get(label);
    if (slot === undefined) {
      if (this.#count === this.#labels.length) this.#grow();
      slot = this.#count++;
      this.#labels[slot] = label;
      this.#slotOf.set(label, slot);
    }
    this.#data.set(v, slot * this.dim);
  }

  remove(label: number): boolean {
    const slot = this.#slotOf.get(label);
    if (slot === undefined) return false;
    const last = this.#count - 1;
    if (slot !== last) {
      const moved = this.#labels[last]!;
      this.#data.copyWithin(slot * this.dim, last * this.dim, (last + 1) * this.dim);
      this.#labels[slot] = moved;
      this.#slotOf.set(moved, slot);
    }
    this.#slotOf.delete(label);
    this.#count = last;
    return true;
  }

  /** A copy of the stored vector of `label`, or undefined. */
  get(label: number): Float32Array | undefined {
    const slot = this.#slotOf.get(label);
    if (slot === undefined) return undefined;
    return this.#data.slice(slot * this.dim, (slot + 1) * this.dim);
  }

  /** Every live label (in storage order). */
  labels(): number[] {
    return Array.from(this.#labels.subarray(0, this.#count));
  }

  search(q: Float32Array, k: number): VectorHit[] {
    return this.searchBatch([q], k)[0]!;
  }

  searchBatch(qs: readonly Float32Array[], k: number): VectorHit[][] {
    assertK(k);
    for (const q of qs) assertVector(q, this.dim);
    const n = this.#count;
    const kk = Math.min(k, n);
    if (kk === 0) return qs.map(() => []);
    if (this.#scores.length < n * QUERY_BLOCK) this.#scores = new Float64Array(this.#labels.length * QUERY_BLOCK);
    const scores = this.#scores;
    const out: VectorHit[][] = [];
    let b = 0;
    while (b < qs.length) {
      const left = qs.length - b;
      if (left >= 4) {
        score4(this.#data, n, this.dim, qs[b]!, qs[b + 1]!, qs[b + 2]!, qs[b + 3]!, scores);
        for (let t = 0; t < 4; t++) out.push(this.#topK(scores, t * n, kk));
        b += 4;
      } else if (left >= 2) {
        score2(this.#data, n, this.dim, qs[b]!, qs[b + 1]!, scores);
        for (let t = 0; t < 2; t++) out.push(this.#topK(scores, t * n, kk));
        b += 2;
      } else {
        score1(this.#data, n, this.dim, qs[b]!, scores);
        out.push(this.#topK(scores, 0, kk));
        b += 1;
      }
    }
    return out;
  }

  /** The k best of scores[offset .. offset + count), best first; ties keep the lower row. */
  #topK(scores: Float64Array, offset: number, k: number): VectorHit[] {
    const n = this.#count;
    const bestSim = new Float64Array(k).fill(-Infinity);
    const bestRow = new Int32Array(k).fill(-1);
    let floor = -Infinity;
    for (let i = 0; i < n; i++) {
      const s = scores[offset + i]!;
      if (s <= floor) continue;
      // Insertion into a small sorted array: k is tiny compared with n, and most rows never get here.
      let j = k - 1;
      while (j > 0 && bestSim[j - 1]! < s) {
        bestSim[j] = bestSim[j - 1]!;
        bestRow[j] = bestRow[j - 1]!;
        j--;
      }
      bestSim[j] = s;
      bestRow[j] = i;
      if (bestRow[k - 1] !== -1) floor = bestSim[k - 1]!;
    }
    const hits: VectorHit[] = [];
    for (let j = 0; j < k; j++) hits.push({ label: this.#labels[bestRow[j]!]!, similarity: bestSim[j]! });
    return hits;
  }

  #grow(): void {
    const cap = this.#labels.length * 2;
    const data = new Float32Array(cap * this.dim);
    data.set(this.#data);
    const labels = new Uint32Array(cap);
    labels.set(this.#labels);
    this.#data = data;
    this.#labels = labels;
  }
}

// The kernels below are the hot loop of recognition. Separate accumulators break the add dependency
// chain; scoring several queries per gallery row reads each row from memory once for all of them.

function score1(g: Float32Array, n: number, d: number, q: Float32Array, out: Float64Array): void {
  // Two rows per pass: each query element is loaded once for both.
  let i = 0;
  const d2 = d & ~1;
  for (; i + 1 < n; i += 2) {
    const r0 = i * d;
    const r1 = r0 + d;
    let a0 = 0, a1 = 0, b0 = 0, b1 = 0;
    let j = 0;
    for (; j < d2; j += 2) {
      const x = q[j]!, y = q[j + 1]!;
      a0 += g[r0 + j]! * x;
      a1 += g[r0 + j + 1]! * y;
      b0 += g[r1 + j]! * x;
      b1 += g[r1 + j + 1]! * y;
    }
    if (j < d) {
      a0 += g[r0 + j]! * q[j]!;
      b0 += g[r1 + j]! * q[j]!;
    }
    out[i] = a0 + a1;
    out[i + 1] = b0 + b1;
  }
  if (i < n) {
    const r0 = i * d;
    let s = 0;
    for (let j = 0; j < d; j++) s += g[r0 + j]! * q[j]!;
    out[i] = s;
  }
}

function score2(g: Float32Array, n: number, d: number, qa: Float32Array, qb: Float32Array, out: Float64Array): void {
  const d2 = d & ~1;
  for (let i = 0, r = 0; i < n; i++, r += d) {
    let a0 = 0, a1 = 0, b0 = 0, b1 = 0;
    let j = 0;
    for (; j < d2; j += 2) {
      const x = g[r + j]!, y = g[r + j + 1]!;
      a0 += x * qa[j]!;
      a1 += y * qa[j + 1]!;
      b0 += x * qb[j]!;
      b1 += y * qb[j + 1]!;
    }
    if (j < d) {
      const x = g[r + j]!;
      a0 += x * qa[j]!;
      b0 += x * qb[j]!;
    }
    out[i] = a0 + a1;
    out[n + i] = b0 + b1;
  }
}

function score4(
  g: Float32Array,
  n: number,
  d: number,
  qa: Float32Array,
  qb: Float32Array,
  qc: Float32Array,
  qd: Float32Array,
  out: Float64Array,
): void {
  const d2 = d & ~1;
  const n2 = 2 * n;
  const n3 = 3 * n;
  for (let i = 0, r = 0; i < n; i++, r += d) {
    let a0 = 0, a1 = 0, b0 = 0, b1 = 0, c0 = 0, c1 = 0, e0 = 0, e1 = 0;
    let j = 0;
    for (; j < d2; j += 2) {
      const x = g[r + j]!, y = g[r + j + 1]!;
      a0 += x * qa[j]!;
      a1 += y * qa[j + 1]!;
      b0 += x * qb[j]!;
      b1 += y * qb[j + 1]!;
      c0 += x * qc[j]!;
      c1 += y * qc[j + 1]!;
      e0 += x * qd[j]!;
      e1 += y * qd[j + 1]!;
    }
    if (j < d) {
      const x = g[r + j]!;
      a0 += x * qa[j]!;
      b0 += x * qb[j]!;
      c0 += x * qc[j]!;
      e0 += x * qd[j]!;
    }
    out[i] = a0 + a1;
    out[n + i] = b0 + b1;
    out[n2 + i] = c0 + c1;
    out[n3 + i] = e0 + e1;
  }
}
