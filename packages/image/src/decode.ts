import sharp from 'sharp';
import { readFile, stat } from 'node:fs/promises';
import { FamiliarError, type RgbImage } from '@familiar/contracts';

export interface ImageLimits {
  maxImageBytes: number;
  maxImagePixels: number;
  minImageSide: number;
}

export const DEFAULT_IMAGE_LIMITS: ImageLimits = { maxImageBytes: 25 * 1024 * 1024, maxImagePixels: 50_000_000, minImageSide: 16 };

export interface DecodeOptions {
  limits?: ImageLimits;
  /** Shrink while decoding so the long side is at most this (JPEG shrink-on-load makes this much cheaper than decoding in full). */
  maxSide?: number;
}

/** A decoded image plus the factor that maps its pixels back to the original's (original = decoded * scale). */
export interface DecodedImage {
  image: RgbImage;
  originalWidth: number;
  originalHeight: number;
  scale: number;
}

/** sharp's names of the raster formats Familiar decodes (AVIF reports as heif). */
const RASTER_FORMATS: ReadonlySet<string> = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif']);

// sharp only loads a handful of tiles at a time; 1 libvips thread per call keeps 2 cores free for ORT.
sharp.concurrency(1);

/**
 * Decodes JPEG/PNG/WebP/GIF/TIFF/AVIF bytes to RGB with EXIF orientation applied. Rejects, with a typed
 * error and before decoding pixels, anything too large (bytes or pixel count: decompression bombs), too
 * small, or not an image.
 */
export async function decodeImage(bytes: Uint8Array, options: DecodeOptions = {}): Promise<DecodedImage> {
  const limits = options.limits ?? DEFAULT_IMAGE_LIMITS;
  if (bytes.byteLength === 0) throw new FamiliarError('IMAGE_INVALID', 'empty image');
  if (bytes.byteLength > limits.maxImageBytes) {
    throw new FamiliarError('IMAGE_TOO_LARGE', `image is ${bytes.byteLength} bytes; the limit is ${limits.maxImageBytes}`);
  }
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (cause) {
    throw new FamiliarError('IMAGE_INVALID', `not a decodable image: ${(cause as Error).message}`, { cause });
  }
  // Vector and document formats (SVG, PDF) are programs, not photos: an 800-byte SVG with a blur filter takes
  // minutes of CPU to render, and librsvg follows references. Only raster formats are decoded.
  if (!RASTER_FORMATS.has(meta.format ?? '')) throw new FamiliarError('IMAGE_INVALID', `${meta.format ?? 'unknown'} images are not accepted; send JPEG, PNG, WebP, GIF, TIFF, HEIF or AVIF`);
  const { width, height } = meta;
  if (!width || !height) throw new FamiliarError('IMAGE_INVALID', 'image has no dimensions');
  if (width * height > limits.maxImagePixels) {
    throw new FamiliarError('IMAGE_TOO_LARGE', `image is ${width}x${height} = ${width * height} pixels; the limit is ${limits.maxImagePixels}`);
  }
  if (Math.min(width, height) < limits.minImageSide) {
    throw new FamiliarError('IMAGE_TOO_SMALL', `image is ${width}x${height}; each side must be at least ${limits.minImageSide} pixels`);
  }
  const swapped = (meta.orientation ?? 1) >= 5;
  const ow = swapped ? height : width;
  const oh = swapped ? width : height;
  let pipeline = sharp(bytes, { limitInputPixels: limits.maxImagePixels, failOn: 'error', pages: 1 }).rotate();
  const long = Math.max(ow, oh);
  if (options.maxSide && long > options.maxSide) {
    const r = options.maxSide / long;
    pipeline = pipeline.resize(Math.max(1, Math.round(ow * r)), Math.max(1, Math.round(oh * r)), { fit: 'fill' });
  }
  try {
    const { data, info } = await pipeline.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`unexpected channel count ${info.channels}`);
    const image: RgbImage = { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
    return { image, originalWidth: ow, originalHeight: oh, scale: ow / info.width };
  } catch (cause) {
    throw new FamiliarError('IMAGE_INVALID', `image data is corrupt or truncated: ${(cause as Error).message}`, { cause });
  }
}

/** Reads and decodes an image file, checking its size before reading it. */
export async function readImageFile(file: string, options: DecodeOptions = {}): Promise<DecodedImage> {
  const limits = options.limits ?? DEFAULT_IMAGE_LIMITS;
  const unreadable = (cause: unknown) => new FamiliarError('INPUT_INVALID', `cannot read ${file}: ${(cause as Error).message}`, { cause, details: { errno: (cause as NodeJS.ErrnoException).code } });
  let size: number;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new FamiliarError('INPUT_INVALID', `${file} is ${st.isDirectory() ? 'a directory' : 'not a regular file'}, not an image file`);
    size = st.size;
  } catch (cause) {
    throw cause instanceof FamiliarError ? cause : unreadable(cause);
  }
  if (size > limits.maxImageBytes) throw new FamiliarError('IMAGE_TOO_LARGE', `${file} is ${size} bytes; the limit is ${limits.maxImageBytes}`);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (cause) {
    throw unreadable(cause);
  }
  try {
    return await decodeImage(bytes, options);
  } catch (err) {
    if (err instanceof FamiliarError) throw new FamiliarError(err.code, `${file}: ${err.message}`, { cause: err });
    throw err;
  }
}
