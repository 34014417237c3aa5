import { FamiliarError } from '@familiar/contracts';
import { decodeImage, type ImageLimits } from '@familiar/image';

/** Base64 → bytes, refusing what cannot be an image under the byte limit before allocating it. */
export function decodeBase64(text: string, limits: ImageLimits): Uint8Array {
  const bytes = Math.floor((text.length * 3) / 4);
  if (bytes > limits.maxImageBytes) throw new FamiliarError('IMAGE_TOO_LARGE', `image is about ${bytes} bytes; the limit is ${limits.maxImageBytes}`);
  const buf = Buffer.from(text, 'base64');
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * Base64 → the image's bytes, checked before a backend sees them: size, pixel count (decompression bombs) and
 * decodability, each with its typed IMAGE_* error.
 */
export async function checkedImage(base64: string, limits: ImageLimits): Promise<Uint8Array> {
  const bytes = decodeBase64(base64, limits);
  await decodeImage(bytes, { limits, maxSide: 64 });
  return bytes;
}
