import type { Box, RgbImage } from '@familiar/contracts';
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
