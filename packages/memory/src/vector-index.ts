import { FamiliarError } from '@familiar/contracts';
import { createInt16Kernel, INT16_SCALE, LANES, QUERY_BLOCK, type Int16Kernel } from './int16-kernel.ts';

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

/**
 * Exact search over a flat Float32Array (row-major, one row per vector). Removal swaps the last row into the hole, so
 * storage stays dense. Exact answers, no build cost.
 *
 * Each row also has an int16 copy scored by a WebAssembly SIMD kernel ({@link createInt16Kernel}); those scores carry
 * a proven error bound, and only the rows the bound cannot rule out of the top k are rescored in float. So the answer
 * is the float answer, at a fraction of the cost (about 0.5 ms per query at 10 k × 1280-d on one 2-core x86 CPU,
 * against 13–18 ms for the float loop). Where WebAssembly SIMD is missing, every row is scored in float.
 */
export class ExactIndex implements VectorIndex {
  readonly kind = 'exact' as const;
  readonly dim: number;
  #data: Float32Array;
  #labels: Uint32Array;
  #count = 0;
  readonly #slotOf = new Map<number, number>();
  readonly #q: QuantizedRows | null;

  /** `simd: false` forces the float-only path (tests compare the two). */
  constructor(dim: number, initialCapacity = 64, options: { simd?: boolean } = {}) {
    assertIndexDim(dim);
    this.dim = dim;
    const cap = Math.max(1, Math.floor(initialCapacity));
    this.#data = new Float32Array(cap * dim);
    this.#labels = new Uint32Array(cap);
    this.#q = options.simd === false ? null : QuantizedRows.create(dim, cap);
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
    this.#q?.write(slot, v);
  }

  remove(label: number): boolean {
    const slot = this.#slotOf.get(label);
    if (slot === undefined) return false;
    const last = this.#count - 1;
    if (slot !== last) {
      const moved = this.#labels[last]!;
      this.#data.copyWithin(slot * this.dim, last * this.dim, (last + 1) * this.dim);
      this.#q?.move(last, slot);
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
    const out: VectorHit[][] = [];
    if (!this.#q) {
      const scores = new Float64Array(n);
      for (const q of qs) {
        for (let i = 0; i < n; i++) scores[i] = this.#dot(i, q);
        out.push(this.#best(scores, null, n, kk));
      }
      return out;
    }
    for (let b = 0; b < qs.length; b += QUERY_BLOCK) {
      const block = qs.slice(b, b + QUERY_BLOCK);
      this.#q.candidates(block, n, kk).forEach((rows, t) => {
        const q = block[t]!;
        const scores = new Float64Array(rows.length);
        for (let j = 0; j < rows.length; j++) scores[j] = this.#dot(rows[j]!, q);
        out.push(this.#best(scores, rows, rows.length, kk));
      });
    }
    return out;
  }

  /** Float dot product of row `row` with `q` (float64 accumulation). */
  #dot(row: number, q: Float32Array): number {
    const g = this.#data;
    const d = this.dim;
    const r = row * d;
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    let j = 0;
    for (; j + 3 < d; j += 4) {
      a0 += g[r + j]! * q[j]!;
      a1 += g[r + j + 1]! * q[j + 1]!;
      a2 += g[r + j + 2]! * q[j + 2]!;
      a3 += g[r + j + 3]! * q[j + 3]!;
    }
    for (; j < d; j++) a0 += g[r + j]! * q[j]!;
    return a0 + a1 + (a2 + a3);
  }

  /** The k best of `scores` (row i, or rows[i]), best first; ties keep the lower row. */
  #best(scores: Float64Array, rows: Int32Array | null, count: number, k: number): VectorHit[] {
    const bestSim = new Float64Array(k).fill(-Infinity);
    const bestRow = new Int32Array(k).fill(-1);
    let floor = -Infinity;
    for (let i = 0; i < count; i++) {
      const s = scores[i]!;
      if (s <= floor) continue;
      // Insertion into a small sorted array: k is tiny compared with n, and most rows never get here.
      let j = k - 1;
      while (j > 0 && bestSim[j - 1]! < s) {
        bestSim[j] = bestSim[j - 1]!;
        bestRow[j] = bestRow[j - 1]!;
        j--;
      }
      bestSim[j] = s;
      bestRow[j] = rows ? rows[i]! : i;
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
    this.#q?.grow(cap, this.#count);
  }
}

/**
 * The int16 copy of an index's rows in the kernel's memory, with what the error bound needs per row: its norm and
 * the norm of its rounding error. Memory layout: [query block][int32 scores, QUERY_BLOCK per row][rows].
 *
 * Bound: with unit u = g/‖g‖, v = q/‖q‖, rounding residues r_u = u − û/S (norm e_u) and r_v (norm e_v),
 * |u·v − û·v̂/S²| ≤ ‖û/S‖e_v + e_u‖v̂/S‖ + e_u e_v ≤ e_u + e_v + 3 e_u e_v, scaled by ‖g‖‖q‖.
 */
class QuantizedRows {
  readonly #kernel: Int16Kernel;
  /** SIMD steps per row (dim padded to a multiple of LANES). */
  readonly #steps: number;
  #cap: number;
  #norms: Float64Array;
  #errors: Float64Array;
  #rows!: Int16Array;
  #scores!: Int32Array;
  #queries!: Int16Array;
  /** Scratch for {@link candidates}: each row's upper bound on its score. */
  #upper = new Float64Array(0);

  private constructor(kernel: Int16Kernel, dim: number, cap: number) {
    this.#kernel = kernel;
    this.#steps = Math.ceil(dim / LANES);
    this.#cap = cap;
    this.#norms = new Float64Array(cap);
    this.#errors = new Float64Array(cap);
    this.#layout(0);
  }

  static create(dim: number, cap: number): QuantizedRows | null {
    const kernel = createInt16Kernel();
    return kernel ? new QuantizedRows(kernel, dim, cap) : null;
  }

  get #rowLength(): number {
    return this.#steps * LANES;
  }

  /** Sizes the memory for the capacity and (re)creates the views; `keep` rows are moved to the new row offset. */
  #layout(keep: number): void {
    const queryBytes = this.#rowLength * 2 * QUERY_BLOCK;
    const scoreBytes = this.#cap * QUERY_BLOCK * 4;
    const rowsOffset = queryBytes + scoreBytes;
    const total = rowsOffset + this.#cap * this.#rowLength * 2;
    const memory = this.#kernel.memory;
    const oldRowsOffset = this.#rows?.byteOffset ?? rowsOffset;
    if (total > memory.buffer.byteLength) {
      try {
        memory.grow(Math.ceil((total - memory.buffer.byteLength) / 65_536));
      } catch (cause) {
        throw new FamiliarError('INTERNAL', `the exact index cannot grow to ${total} bytes`, { cause });
      }
    }
    const buf = memory.buffer;
    if (keep > 0 && oldRowsOffset !== rowsOffset) {
      new Uint8Array(buf).copyWithin(rowsOffset, oldRowsOffset, oldRowsOffset + keep * this.#rowLength * 2);
    }
    this.#queries = new Int16Array(buf, 0, this.#rowLength * QUERY_BLOCK);
    this.#scores = new Int32Array(buf, queryBytes, this.#cap * QUERY_BLOCK);
    this.#rows = new Int16Array(buf, rowsOffset, this.#cap * this.#rowLength);
  }

  grow(cap: number, keep: number): void {
    this.#cap = cap;
    const norms = new Float64Array(cap);
    norms.set(this.#norms);
    const errors = new Float64Array(cap);
    errors.set(this.#errors);
    this.#norms = norms;
    this.#errors = errors;
    this.#layout(keep);
  }

  write(slot: number, v: Float32Array): void {
    const { norm, error } = quantize(v, this.#rows, slot * this.#rowLength, 1);
    this.#norms[slot] = norm;
    this.#errors[slot] = error;
  }

  move(from: number, to: number): void {
    const len = this.#rowLength;
    this.#rows.copyWithin(to * len, from * len, (from + 1) * len);
    this.#norms[to] = this.#norms[from]!;
    this.#errors[to] = this.#errors[from]!;
  }

  /**
   * For up to QUERY_BLOCK queries, the rows (ascending) that may be among the k most similar: with L the k-th largest
   * lower bound of the approximate scores, a row whose upper bound is below L cannot be (k rows certainly score at
   * least L). Everything else is left for float rescoring.
   */
  candidates(queries: readonly Float32Array[], n: number, k: number): Int32Array[] {
    const qs = this.#queries;
    qs.fill(0);
    const meta = queries.map((q, t) => quantize(q, qs, t * LANES, QUERY_BLOCK));
    this.#kernel.dots(this.#rows.byteOffset, n, this.#steps, qs.byteOffset, this.#scores.byteOffset);
    const dots = this.#scores;
    const inv = 1 / (INT16_SCALE * INT16_SCALE);
    const upper = this.#upper.length >= n ? this.#upper : (this.#upper = new Float64Array(this.#cap));
    const top = new Float64Array(k);
    return meta.map(({ norm: nq, error: eq }, t) => {
      top.fill(-Infinity);
      for (let i = 0; i < n; i++) {
        const scale = nq * this.#norms[i]!;
        const eg = this.#errors[i]!;
        const a = dots[i * QUERY_BLOCK + t]! * inv * scale;
        // The float rescoring itself rounds; 1e-9 relative covers that many times over.
        const e = scale * (eq + eg + 3 * eg * eq + 1e-9);
        upper[i] = a + e;
        const low = a - e;
        if (low <= top[k - 1]!) continue;
        let j = k - 1;
        while (j > 0 && top[j - 1]! < low) {
          top[j] = top[j - 1]!;
          j--;
        }
        top[j] = low;
      }
      const floor = top[k - 1]!;
      let count = 0;
      for (let i = 0; i < n; i++) if (upper[i]! >= floor) count++;
      const rows = new Int32Array(count);
      for (let i = 0, c = 0; i < n; i++) if (upper[i]! >= floor) rows[c++] = i;
      return rows;
    });
  }
}

/**
 * Writes round(SCALE · v/‖v‖) into `out`: component j at out[offset + j] (stride 1) or, for the interleaved query
 * block, at out[offset + (j / LANES) · LANES · stride + j % LANES]. Returns ‖v‖ and the norm of the rounding residue.
 */
function quantize(v: Float32Array, out: Int16Array, offset: number, stride: number): { norm: number; error: number } {
  let ss = 0;
  for (let j = 0; j < v.length; j++) ss += v[j]! * v[j]!;
  const norm = Math.sqrt(ss);
  const inv = norm > 0 ? 1 / norm : 0;
  let err = 0;
  for (let j = 0; j < v.length; j++) {
    const u = v[j]! * inv;
    const r = Math.round(u * INT16_SCALE);
    err += (u - r / INT16_SCALE) ** 2;
    out[offset + (stride === 1 ? j : Math.floor(j / LANES) * LANES * stride + (j % LANES))] = r;
  }
  return { norm, error: Math.sqrt(err) };
}
