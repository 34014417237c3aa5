import sharp from 'sharp';
import { FamiliarError, type Box, type RgbImage } from '@familiar/contracts';

export type ResizeFit = 'fill' | 'contain';

/** Resizes raw RGB. 'fill' stretches to exactly w×h. */
export async function resizeRgb(img: RgbImage, width: number, height: number, fit: ResizeFit = 'fill'): Promise<RgbImage> {
  if (img.width === width && img.height === height) return img;
  const { data, info } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(width, height, { fit, background: { r: 0, g: 0, b: 0 }, kernel: 'linear' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** Integer pixel box clamped inside the image; null when nothing is left. */
export function clampBox(box: Box, width: number, height: number): Box | null {
  const xmin = Math.max(0, Math.floor(box.xmin));
  const ymin = Math.max(0, Math.floor(box.ymin));
  const xmax = Math.min(width, Math.ceil(box.xmax));
  const ymax = Math.min(height, Math.ceil(box.ymax));
  if (xmax - xmin < 1 || ymax - ymin < 1) return null;
  return { xmin, ymin, xmax, ymax };
}

/** Copies a rectangle out of raw RGB (plain row copies: far cheaper than a sharp round trip). */
export function cropRgb(img: RgbImage, box: Box): RgbImage {
  const b = clampBox(box, img.width, img.height);
  if (!b) throw new FamiliarError('INPUT_INVALID', `crop box ${JSON.stringify(box)} lies outside the ${img.width}x${img.height} image`);
  const w = b.xmax - b.xmin;
  const h = b.ymax - b.ymin;
  const out = new Uint8Array(w * h * 3);
  const rowBytes = w * 3;
  for (let y = 0; y < h; y++) {
    const src = ((b.ymin + y) * img.width + b.xmin) * 3;
    out.set(img.data.subarray(src, src + rowBytes), y * rowBytes);
  }
  return { width: w, height: h, data: out };
}

/** Grows a box by a fraction of its size on every side (clamped to the image). */
export function padBox(box: Box, fraction: number, width: number, height: number): Box {
  const pw = (box.xmax - box.xmin) * fraction;
  const ph = (box.ymax - box.ymin) * fraction;
  return {
    xmin: Math.max(0, box.xmin - pw),
    ymin: Math.max(0, box.ymin - ph),
    xmax: Math.min(width, box.xmax + pw),
    ymax: Math.min(height, box.ymax + ph),
  };
}

export function flipHorizontal(img: RgbImage): RgbImage {
  const out = new Uint8Array(img.data.length);
  for (let y = 0; y < img.height; y++) {
    const row = y * img.width * 3;
    for (let x = 0; x < img.width; x++) {
      const s = row + x * 3;
      const d = row + (img.width - 1 - x) * 3;
      out[d] = img.data[s]!;
      out[d + 1] = img.data[s + 1]!;
      out[d + 2] = img.data[s + 2]!;
    }
  }
  return { width: img.width, height: img.height, data: out };
}

export async function encodeJpeg(img: RgbImage, quality = 85): Promise<Uint8Array> {
  const buf = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).jpeg({ quality }).toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

export async function encodePng(img: RgbImage): Promise<Uint8Array> {
  const buf = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
