import type { RgbImage } from '@familiar/contracts';
import { resizeRgb } from '@familiar/image';
import { float32Tensor, type ModelSession } from './session.ts';
import { l2normalize, writeChw } from './tensor.ts';

/** A spatial feature map: `dim` channels on a `width`×`height` grid, channel-last per cell. */
export interface FeatureMap {
  dim: number;
  width: number;
  height: number;
  /** cells × dim, row-major cells. */
  data: Float32Array;
}

/**
 * MobileNetV2 `features` (1280 × H/32 × W/32): pooled into one unit vector per crop, or kept as a map for
 * patch-level matching. Crops are batched into one run.
 */
export class ObjectEmbedder {
  readonly #model: ModelSession;
  readonly size: number;
  readonly #input = new BatchBuffer();
  constructor(model: ModelSession, size = 224) {
    this.#model = model;
    this.size = size;
  }

  /** The raw `features` output (N × dim × h × w) for the crops resized to size×size, batched into one run. */
  async #features(crops: readonly RgbImage[]): Promise<{ dims: [number, number, number, number]; data: Float32Array }> {
    const S = this.size;
    const plane = 3 * S * S;
    const buf = this.#input.take(plane * crops.length);
    const resized = await Promise.all(crops.map((c) => resizeRgb(c, S, S)));
    resized.forEach((r, i) => writeChw(r, 'RGB', 'imagenet', buf, i * plane));
    const out = await this.#model.run({ [this.#model.inputName]: float32Tensor(buf, [crops.length, 3, S, S]) });
    const t = out['features']!;
    return { dims: t.dims as [number, number, number, number], data: t.data as Float32Array };
  }

  /** Feature maps of each crop resized to size×size. */
  async featureMaps(crops: readonly RgbImage[]): Promise<FeatureMap[]> {
    if (crops.length === 0) return [];
    const { dims, data } = await this.#features(crops);
    const [n, dim, h, w] = dims;
    const maps: FeatureMap[] = [];
    for (let i = 0; i < n; i++) {
      const cells = h * w;
      const m = new Float32Array(cells * dim);
      const base = i * dim * cells;
      for (let c = 0; c < dim; c++) for (let k = 0; k < cells; k++) m[k * dim + c] = data[base + c * cells + k]!;
      maps.push({ dim, width: w, height: h, data: m });
    }
    return maps;
  }

  /** One unit vector per crop: generalised-mean pooling of the feature map (p = 1 is the average). */
  async embed(crops: readonly RgbImage[], p = 1): Promise<Float32Array[]> {
    if (crops.length === 0) return [];
    if (p !== 1) return (await this.featureMaps(crops)).map((m) => poolFeatureMap(m, p));
    // The average straight from the model's channel-major output, without a channel-last copy of every map; the
    // float32 running sum in cell order gives the same vector as poolFeatureMap.
    const { dims, data } = await this.#features(crops);
    const [n, dim, h, w] = dims;
    const cells = h * w;
    const acc = new Float32Array(1);
    const vectors: Float32Array[] = [];
    for (let i = 0; i < n; i++) {
      const v = new Float32Array(dim);
      for (let c = 0; c < dim; c++) {
        const o = (i * dim + c) * cells;
        acc[0] = 0;
        for (let k = 0; k < cells; k++) acc[0] = acc[0]! + data[o + k]!;
        v[c] = acc[0]!;
      }
      vectors.push(l2normalize(v));
    }
    return vectors;
  }
}

/** A model input buffer reused across runs and grown on demand (ORT has copied it by the time run() resolves). */
class BatchBuffer {
  #buf = new Float32Array(0);

  /** A view of exactly `length` floats. */
  take(length: number): Float32Array {
    if (this.#buf.length < length) this.#buf = new Float32Array(length);
    return this.#buf.subarray(0, length);
  }
}

export function poolFeatureMap(m: FeatureMap, p = 1, weights?: Float32Array): Float32Array {
  const v = new Float32Array(m.dim);
  const cells = m.width * m.height;
  let wsum = 0;
  for (let k = 0; k < cells; k++) {
    const w = weights ? weights[k]! : 1;
    if (w <= 0) continue;
    wsum += w;
    const o = k * m.dim;
    if (p === 1) for (let c = 0; c < m.dim; c++) v[c] = v[c]! + w * m.data[o + c]!;
    else for (let c = 0; c < m.dim; c++) v[c] = v[c]! + w * Math.pow(Math.max(m.data[o + c]!, 1e-6), p);
  }
  if (wsum > 0 && p !== 1) for (let c = 0; c < m.dim; c++) v[c] = Math.pow(v[c]! / wsum, 1 / p);
  return l2normalize(v);
}

/** OSNet person re-identification: a person crop squashed to 128×256 → 512-d unit vector. */
export class BodyEmbedder {
  readonly #model: ModelSession;
  readonly #input = new BatchBuffer();
  constructor(model: ModelSession) {
    this.#model = model;
  }

  async embed(crops: readonly RgbImage[]): Promise<Float32Array[]> {
    if (crops.length === 0) return [];
    const plane = 3 * 256 * 128;
    const buf = this.#input.take(plane * crops.length);
    const resized = await Promise.all(crops.map((c) => resizeRgb(c, 128, 256)));
    resized.forEach((r, i) => writeChw(r, 'RGB', 'imagenet', buf, i * plane));
    const out = await this.#model.run({ [this.#model.inputName]: float32Tensor(buf, [crops.length, 3, 256, 128]) });
    const t = out['output']!;
    const dim = t.dims[1]!;
    const data = t.data as Float32Array;
    return crops.map((_, i) => l2normalize(new Float32Array(data.subarray(i * dim, (i + 1) * dim))));
  }
}

/** A soft foreground mask in [0,1] over an image's own pixel grid. */
export interface SalientMask {
  width: number;
  height: number;
  alpha: Float32Array;
}

/** U²-Net-p salient-object mask: 320×320, x/max then ImageNet normalisation; d1 min-max normalised. */
export class SalientSegmenter {
  readonly #model: ModelSession;
  readonly #buf = new Float32Array(3 * 320 * 320);
  constructor(model: ModelSession) {
    this.#model = model;
  }

  /** The mask on the 320×320 grid (callers map it onto their image). */
  async mask(img: RgbImage): Promise<SalientMask> {
    const r = await resizeRgb(img, 320, 320);
    writeChw(r, 'RGB', 'max-imagenet', this.#buf);
    const out = await this.#model.run({ [this.#model.inputName]: float32Tensor(this.#buf, [1, 3, 320, 320]) });
    const d = out['1959']!.data as Float32Array;
    let min = Infinity, max = -Infinity;
    for (let i = 0; i < d.length; i++) {
      if (d[i]! < min) min = d[i]!;
      if (d[i]! > max) max = d[i]!;
    }
    const span = max - min || 1;
    const alpha = new Float32Array(d.length);
    for (let i = 0; i < d.length; i++) alpha[i] = (d[i]! - min) / span;
    return { width: 320, height: 320, alpha };
  }
}
