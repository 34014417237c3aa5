import { iou, type Box, type RgbImage } from '@familiar/contracts';
import { clampBox, cropRgb, padBox, resizeRgb } from '@familiar/image';
import type { SalientMask } from '@familiar/vision';

/** A mask resampled onto an image's own pixel grid, binarised. */
export interface BinaryMask {
  width: number;
  height: number;
  on: Uint8Array;
}

/** Nearest-neighbour resampling of a 320×320 saliency map onto w×h, thresholded. */
export function binariseMask(mask: SalientMask, width: number, height: number, threshold = 0.5): BinaryMask {
  const on = new Uint8Array(width * height);
  const sx = mask.width / width;
  const sy = mask.height / height;
  for (let y = 0; y < height; y++) {
    const my = Math.min(mask.height - 1, Math.floor((y + 0.5) * sy));
    for (let x = 0; x < width; x++) {
      const mx = Math.min(mask.width - 1, Math.floor((x + 0.5) * sx));
      on[y * width + x] = mask.alpha[my * mask.width + mx]! >= threshold ? 1 : 0;
    }
  }
  return { width, height, on };
}

/** Bounding box of the set pixels inside `within` (or the whole mask); null when fewer than `minPixels` are set. */
export function maskBox(mask: BinaryMask, within?: Box, minPixels = 1): Box | null {
  const b = within ? clampBox(within, mask.width, mask.height) : { xmin: 0, ymin: 0, xmax: mask.width, ymax: mask.height };
  if (!b) return null;
  let xmin = Infinity, ymin = Infinity, xmax = -1, ymax = -1, n = 0;
  for (let y = b.ymin; y < b.ymax; y++) {
    const row = y * mask.width;
    for (let x = b.xmin; x < b.xmax; x++) {
      if (!mask.on[row + x]) continue;
      n++;
      if (x < xmin) xmin = x;
      if (x > xmax) xmax = x;
      if (y < ymin) ymin = y;
      if (y > ymax) ymax = y;
    }
  }
  if (n < minPixels) return null;
  return { xmin, ymin, xmax: xmax + 1, ymax: ymax + 1 };
}

export function maskCoverage(mask: BinaryMask, box: Box): number {
  const b = clampBox(box, mask.width, mask.height);
  if (!b) return 0;
  let n = 0;
  for (let y = b.ymin; y < b.ymax; y++) for (let x = b.xmin; x < b.xmax; x++) n += mask.on[y * mask.width + x]!;
  return n / ((b.xmax - b.xmin) * (b.ymax - b.ymin));
}

/**
 * Crop of `box` with everything outside the mask replaced by mid-grey, so the embedder sees the object and not
 * its background (the largest single gain measured on the development photos).
 */
export function maskedCrop(img: RgbImage, mask: BinaryMask, box: Box): RgbImage {
  const crop = cropRgb(img, box);
  const b = clampBox(box, img.width, img.height)!;
  for (let y = 0; y < crop.height; y++) {
    const my = b.ymin + y;
    for (let x = 0; x < crop.width; x++) {
      if (mask.on[my * mask.width + b.xmin + x]) continue;
      const o = (y * crop.width + x) * 3;
      crop.data[o] = crop.data[o + 1] = crop.data[o + 2] = 128;
    }
  }
  return crop;
}

/** Square-ish crop around a box with some context, resized later by the embedder. */
export function contextCrop(img: RgbImage, box: Box, pad = 0.1): RgbImage {
  return cropRgb(img, padBox(box, pad, img.width, img.height));
}

export async function downscale(img: RgbImage, maxSide: number): Promise<RgbImage> {
  const long = Math.max(img.width, img.height);
  if (long <= maxSide) return img;
  const r = maxSide / long;
  return resizeRgb(img, Math.max(1, Math.round(img.width * r)), Math.max(1, Math.round(img.height * r)));
}

/** A salient mask to cut objects out with, and which proposals it may cut (a reused mask only covers what it saw). */
export interface MaskUse {
  mask: BinaryMask;
  covers(box: Box): boolean;
}

/** Options of {@link LiveMask}. */
export interface LiveMaskOptions {
  /** A proposal counts as already seen when it overlaps a proposal of the mask's frame at least this much (IoU). */
  minIou: number;
  /** The mask is recomputed at least this often, even in a still scene (frames). */
  maxAgeFrames: number;
  /**
   * At most this share of the camera's time goes to the mask: after a mask that took M ms, the next waits until the
   * frames in between have taken M × (1 − budget) / budget ms. A busy scene (something new on every frame) would
   * otherwise run the mask on every frame; new things meanwhile are embedded with their context and get the mask
   * when the budget allows.
   */
  budget: number;
}

const DEFAULT_LIVE_MASK: Readonly<LiveMaskOptions> = Object.freeze({ minIou: 0.7, maxAgeFrames: 50, budget: 0.1 });

/**
 * The salient mask of one camera, computed when the scene changes and reused while it does not. The mask is the
 * costliest model (~250 ms on a 2-core CPU) and the largest single gain in recognition, so a live frame gets it
 * exactly when something new or moved is in view — the photo path's analysis for every new track — and a still
 * scene pays for it once every `maxAgeFrames`. People's boxes do not count as change: they are named by face and
 * body, and walking people would otherwise force a mask on every frame.
 */
export class LiveMask {
  readonly options: Readonly<LiveMaskOptions>;
  readonly stats = { computed: 0, reused: 0 };
  #mask: BinaryMask | null = null;
  #boxes: Box[] = [];
  /** Coarse grey samples of the frame the mask was computed on: a box the mask covers must still show the same pixels. */
  #samples: Uint8Array | null = null;
  #age = 0;
  /** Duration of the last mask, and the time the camera has spent on other work since (ms). */
  #lastMaskMs = 0;
  #otherMs = 0;
  #lastCall: number | null = null;

  constructor(options: Partial<LiveMaskOptions> = {}) {
    this.options = { ...DEFAULT_LIVE_MASK, ...options };
  }

  async use(img: RgbImage, proposals: readonly { box: Box; classId: number }[], compute: () => Promise<BinaryMask | null>): Promise<MaskUse | null> {
    const { width, height } = img;
    const samples = greySamples(img);
    this.#age++;
    const now = performance.now();
    if (this.#lastCall !== null) this.#otherMs += now - this.#lastCall;
    this.#lastCall = now;
    // Covered: the mask's frame had a proposal here, and the pixels there have not changed since (a different photo,
    // or something that moved in, can sit at the same box).
    const seen = (box: Box) => this.#boxes.some((b) => iou(b, box) >= this.options.minIou) && this.#samples !== null && unchanged(this.#samples, samples, box, width, height);
    const usable = this.#mask !== null && this.#mask.width === width && this.#mask.height === height;
    const stale = !usable || this.#age > this.options.maxAgeFrames || proposals.some((p) => p.classId !== PERSON_CLASS && !seen(p.box));
    const { budget } = this.options;
    const affordable = !usable || this.#otherMs * budget >= this.#lastMaskMs * (1 - budget);
    if (stale && affordable) {
      const t = performance.now();
      this.#mask = await compute();
      this.#lastMaskMs = performance.now() - t;
      this.#lastCall = performance.now();
      this.#otherMs = 0;
      this.#boxes = proposals.map((p) => p.box);
      this.#samples = samples;
      this.#age = 0;
      this.stats.computed++;
      return this.#mask && { mask: this.#mask, covers: () => true };
    }
    this.stats.reused++;
    return usable ? { mask: this.#mask!, covers: seen } : null;
  }
}

const PERSON_CLASS = 0;
/** Grey samples on a GRID × GRID lattice of the frame. */
const GRID = 32;
/** Mean absolute grey difference (0–255) inside a box above which its pixels count as changed. */
const CHANGED = 12;

function greySamples(img: RgbImage): Uint8Array {
  const out = new Uint8Array(GRID * GRID);
  for (let gy = 0; gy < GRID; gy++) {
    const y = Math.min(img.height - 1, Math.floor(((gy + 0.5) * img.height) / GRID));
    for (let gx = 0; gx < GRID; gx++) {
      const x = Math.min(img.width - 1, Math.floor(((gx + 0.5) * img.width) / GRID));
      const o = (y * img.width + x) * 3;
      out[gy * GRID + gx] = (img.data[o]! + img.data[o + 1]! + img.data[o + 2]!) / 3;
    }
  }
  return out;
}

/** Whether the samples inside `box` are (nearly) the same in both frames. */
function unchanged(a: Uint8Array, b: Uint8Array, box: Box, width: number, height: number): boolean {
  let sum = 0;
  let n = 0;
  for (let gy = 0; gy < GRID; gy++) {
    const y = ((gy + 0.5) * height) / GRID;
    if (y < box.ymin || y >= box.ymax) continue;
    for (let gx = 0; gx < GRID; gx++) {
      const x = ((gx + 0.5) * width) / GRID;
      if (x < box.xmin || x >= box.xmax) continue;
      sum += Math.abs(a[gy * GRID + gx]! - b[gy * GRID + gx]!);
      n++;
    }
  }
  return n > 0 && sum / n <= CHANGED;
}

/** Options of {@link EmbeddingReuse}. */
export interface EmbeddingReuseOptions {
  /** A new region reuses a remembered embedding of the same kind when their boxes overlap at least this much (IoU). */
  minIou: number;
  /** A remembered embedding is recomputed after at most this many frames (so a change in place is seen within it). */
  maxAgeFrames: number;
  /** Most embeddings remembered (bounded memory). */
  capacity: number;
}

const DEFAULT_EMBEDDING_REUSE: Readonly<EmbeddingReuseOptions> = Object.freeze({ minIou: 0.85, maxAgeFrames: 10, capacity: 256 });

interface Remembered {
  kind: string;
  box: Box;
  vector: Float32Array;
  /** Frame after which it must be recomputed. */
  expires: number;
  /** Last frame it was handed out or stored (one region per frame may take it). */
  usedAt: number;
}

/**
 * Embeddings of one camera's recent regions, so a region that has not moved since a recent frame is not cut out,
 * resized and run through an embedder again (on a live camera most regions are still from one frame to the next).
 * Only the embedding is reused: matching, thresholds and tracking still run on every frame. Lifetimes are spread
 * over [maxAgeFrames/2, maxAgeFrames] so the recomputations do not all land on the same frame.
 */
export class EmbeddingReuse {
  readonly options: Readonly<EmbeddingReuseOptions>;
  readonly stats = { hits: 0, misses: 0 };
  #frame = 0;
  #stored = 0;
  #entries: Remembered[] = [];

  constructor(options: Partial<EmbeddingReuseOptions> = {}) {
    this.options = { ...DEFAULT_EMBEDDING_REUSE, ...options };
  }

  /** Starts a new frame: forgets what expired. */
  nextFrame(): void {
    this.#frame++;
    this.#entries = this.#entries.filter((e) => e.expires >= this.#frame);
  }

  /** A remembered embedding of a region of this kind at (nearly) this box, or null. */
  take(kind: string, box: Box): Float32Array | null {
    let best: Remembered | null = null;
    let bestIou = this.options.minIou;
    for (const e of this.#entries) {
      if (e.kind !== kind || e.usedAt === this.#frame) continue;
      const overlap = iou(e.box, box);
      if (overlap >= bestIou) {
        best = e;
        bestIou = overlap;
      }
    }
    if (!best) {
      this.stats.misses++;
      return null;
    }
    this.stats.hits++;
    best.usedAt = this.#frame;
    // Follow the region as it drifts, so slow motion keeps matching; the lifetime still bounds staleness.
    best.box = box;
    return best.vector;
  }

  /** Remembers a freshly computed embedding. */
  put(kind: string, box: Box, vector: Float32Array): void {
    const { maxAgeFrames, capacity } = this.options;
    const span = Math.max(1, Math.ceil(maxAgeFrames / 2));
    const life = maxAgeFrames - (this.#stored++ % span);
    this.#entries.push({ kind, box, vector, expires: this.#frame + life, usedAt: this.#frame });
    if (this.#entries.length > capacity) this.#entries.splice(0, this.#entries.length - capacity);
  }
}
