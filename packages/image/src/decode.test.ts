import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { FamiliarError } from '@familiar/contracts';
import { decodeImage } from './decode.ts';

async function jpeg(width: number, height: number): Promise<Uint8Array> {
  return new Uint8Array(await sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 40 } } }).jpeg().toBuffer());
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof FamiliarError) return e.code;
    throw e;
  }
  return 'OK';
}

describe('decodeImage', () => {
  it('decodes to RGB and shrinks on load, reporting the scale back to the original', async () => {
    const d = await decodeImage(await jpeg(1600, 800), { maxSide: 400 });
    expect(d.image.width).toBe(400);
    expect(d.image.height).toBe(200);
    expect(d.image.data.length).toBe(400 * 200 * 3);
    expect(d.scale).toBeCloseTo(4, 5);
    expect(d.image.data[0]).toBeGreaterThan(150);
  });

  it('rejects empty, non-image, truncated and corrupt input with IMAGE_INVALID', async () => {
    const good = await jpeg(64, 64);
    expect(await code(decodeImage(new Uint8Array()))).toBe('IMAGE_INVALID');
    expect(await code(decodeImage(new TextEncoder().encode('hello, I am not a picture')))).toBe('IMAGE_INVALID');
    expect(await code(decodeImage(good.subarray(0, good.length >> 1)))).toBe('IMAGE_INVALID');
    const corrupt = Uint8Array.from(good);
    for (let i = 200; i < corrupt.length - 2; i += 7) corrupt[i] = 0xff;
    expect(['IMAGE_INVALID', 'OK']).toContain(await code(decodeImage(corrupt)));
  });

  it('rejects decompression bombs by their header, before decoding pixels', async () => {
    const limits = { maxImageBytes: 1 << 20, maxImagePixels: 1_000_000, minImageSide: 16 };
    const bomb = new Uint8Array(await sharp({ create: { width: 4000, height: 4000, channels: 3, background: '#000' } }).png({ compressionLevel: 9 }).toBuffer());
    expect(bomb.length).toBeLessThan(limits.maxImageBytes);
    expect(await code(decodeImage(bomb, { limits }))).toBe('IMAGE_TOO_LARGE');
    expect(await code(decodeImage(new Uint8Array(2 << 20), { limits }))).toBe('IMAGE_TOO_LARGE');
    expect(await code(decodeImage(await jpeg(8, 8), { limits }))).toBe('IMAGE_TOO_SMALL');
  });
});
