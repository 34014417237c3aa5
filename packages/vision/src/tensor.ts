import type { RgbImage } from '@familiar/contracts';

const MEAN = [0.485, 0.456, 0.406] as const;
const STD = [0.229, 0.224, 0.225] as const;

export type PixelScale = 'raw' | 'imagenet' | 'max-imagenet';
export type ChannelOrder = 'RGB' | 'BGR';

/**
 * Writes an RGB image as planar CHW float32 into `out` at `offset` (batching: one call per image).
 * `padTo` places the image top-left in a larger canvas filled with `padValue` (letterboxing).
 */
export function writeChw(
  img: RgbImage,
  order: ChannelOrder,
  scale: PixelScale,
  out: Float32Array,
  offset = 0,
  padTo?: { width: number; height: number; value: number },
): void {
  const W = padTo?.width ?? img.width;
  const H = padTo?.height ?? img.height;
  const plane = W * H;
  if (padTo) out.fill(padTo.value, offset, offset + 3 * plane);
  let max = 255;
  if (scale === 'max-imagenet') {
    max = 1;
    for (let i = 0; i < img.data.length; i++) if (img.data[i]! > max) max = img.data[i]!;
  }
  const src = img.data;
  // One pass over the pixels writing all three planes: the source is read once, in order.
  const [c0, c1, c2] = order === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  const p0 = offset, p1 = offset + plane, p2 = offset + 2 * plane;
  const w = img.width;
  if (scale === 'raw') {
    for (let y = 0; y < img.height; y++) {
      const row = y * W;
      let s = y * w * 3;
      for (let x = 0; x < w; x++, s += 3) {
        out[p0 + row + x] = src[s + c0]!;
        out[p1 + row + x] = src[s + c1]!;
        out[p2 + row + x] = src[s + c2]!;
      }
    }
  } else {
    // (px / max − mean) / std, written as px · inv − mo so each channel costs one multiply-add.
    const inv0 = 1 / (STD[c0]! * max), mo0 = MEAN[c0]! / STD[c0]!;
    const inv1 = 1 / (STD[c1]! * max), mo1 = MEAN[c1]! / STD[c1]!;
    const inv2 = 1 / (STD[c2]! * max), mo2 = MEAN[c2]! / STD[c2]!;
    for (let y = 0; y < img.height; y++) {
      const row = y * W;
      let s = y * w * 3;
      for (let x = 0; x < w; x++, s += 3) {
        out[p0 + row + x] = src[s + c0]! * inv0 - mo0;
        out[p1 + row + x] = src[s + c1]! * inv1 - mo1;
        out[p2 + row + x] = src[s + c2]! * inv2 - mo2;
      }
    }
  }
}

/** A model input buffer reused across runs and grown on demand (ORT has copied it by the time run() resolves). */
export class BatchBuffer {
  #buf = new Float32Array(0);

  /** A view of exactly `length` floats. */
  take(length: number): Float32Array {
    if (this.#buf.length < length) this.#buf = new Float32Array(length);
    return this.#buf.subarray(0, length);
  }
}
