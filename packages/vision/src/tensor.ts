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
  const swap = order === 'BGR';
  for (let c = 0; c < 3; c++) {
    const srcC = swap ? 2 - c : c;
    const base = offset + c * plane;
    if (scale === 'raw') {
      for (let y = 0; y < img.height; y++) {
        const row = base + y * W;
        const s = y * img.width * 3 + srcC;
        for (let x = 0; x < img.width; x++) out[row + x] = src[s + x * 3]!;
      }
    } else {
      const m = MEAN[srcC]!;
      const inv = 1 / (STD[srcC]! * max);
      const mo = m / STD[srcC]!;
      for (let y = 0; y < img.height; y++) {
        const row = base + y * W;
        const s = y * img.width * 3 + srcC;
        for (let x = 0; x < img.width; x++) out[row + x] = src[s + x * 3]! * inv - mo;
      }
    }
  }
}

export function l2normalize(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
  for (let i = 0; i < v.length; i++) v[i] = v[i]! * inv;
  return v;
}

export function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}
