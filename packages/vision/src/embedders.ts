import { normalise, type RgbImage } from '@familiar/contracts';
import { resizeRgb } from '@familiar/image';
import { float32Tensor, type ModelSession } from './session.ts';
import { BatchBuffer, writeChw } from './tensor.ts';

/** MobileNetV2 `features` (1280 × H/32 × W/32), average-pooled into one unit vector per crop. */
export class ObjectEmbedder {
  readonly #model: ModelSession;
  readonly size: number;
  readonly #input = new BatchBuffer();
  constructor(model: ModelSession, size = 224) {
    this.#model = model;
    this.size = size;
  }

  /** One unit vector per crop: the average of its MobileNetV2 feature map, crops resized to size×size and batched into one run. */
  async embed(crops: readonly RgbImage[]): Promise<Float32Array[]> {
    if (crops.length === 0) return [];
    const S = this.size;
    const plane = 3 * S * S;
    const buf = this.#input.take(plane * crops.length);
    const resized = await Promise.all(crops.map((c) => resizeRgb(c, S, S)));
    resized.forEach((r, i) => writeChw(r, 'RGB', 'imagenet', buf, i * plane));
    const out = await this.#model.run({ [this.#model.inputName]: float32Tensor(buf, [crops.length, 3, S, S]) });
    const t = out['features']!;
    const [n, dim, h, w] = t.dims as [number, number, number, number];
    const data = t.data as Float32Array;
    // Averaged straight from the model's channel-major output; the float32 running sum in cell order.
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
      vectors.push(normalise(v));
    }
    return vectors;
  }
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
    return crops.map((_, i) => normalise(new Float32Array(data.subarray(i * dim, (i + 1) * dim))));
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
