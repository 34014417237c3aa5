import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@familiar/config';
import { decodeImage } from '@familiar/image';
import { MjpegSplitter } from './mjpeg-splitter.ts';

const DATA = path.resolve(REPO_ROOT, '../shared/data');
const photo = (rel: string): Buffer => readFileSync(path.join(DATA, rel));
const DOG = photo('dreambooth/dog/00.jpg');
const BILLY = photo('myvlm/billy_dog/billy_dog_1.jpg');
// A real camera photo whose EXIF block embeds two thumbnail JPEGs (each with its own FFD8…FFD9).
const WITH_THUMBS = photo('faces_5celeb/train/Madonna/19.jpg');

/** Feeds `stream` in chunks of the given sizes (cycled) and collects the frames. */
function split(splitter: MjpegSplitter, stream: Buffer, sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let pos = 0, i = 0; pos < stream.length; i++) {
    const n = sizes[i % sizes.length]!;
    out.push(...splitter.push(stream.subarray(pos, pos + n)));
    pos += n;
  }
  return out;
}

describe('MjpegSplitter', () => {
  it('cuts back-to-back real JPEGs at any chunk boundary, byte-exact', () => {
    expect(WITH_THUMBS.indexOf(Buffer.from([0xff, 0xd8, 0xff]), 3)).toBeGreaterThan(0); // the fixture really has a thumbnail
    const stream = Buffer.concat([DOG, BILLY, WITH_THUMBS, DOG]);
    for (const sizes of [[1], [2, 3, 5], [4096], [65536], [stream.length]]) {
      const frames = split(new MjpegSplitter(8 << 20), stream, sizes);
      expect(frames.map((f) => Buffer.from(f).equals(DOG) || Buffer.from(f).equals(BILLY) || Buffer.from(f).equals(WITH_THUMBS))).toEqual([true, true, true, true]);
      expect(Buffer.from(frames[2]!).equals(WITH_THUMBS)).toBe(true);
    }
  });

  it('skips noise between frames and counts it; the frames still decode', async () => {
    const noise = Buffer.from('garbage \xff\xd8 not a jpeg \xff\xd9 more', 'latin1');
    const splitter = new MjpegSplitter(8 << 20);
    const frames = split(splitter, Buffer.concat([noise, DOG, noise, BILLY]), [777]);
    expect(frames).toHaveLength(2);
    expect(splitter.stats.discardedBytes).toBeGreaterThanOrEqual(2 * noise.length - 4);
    const decoded = await decodeImage(frames[1]!);
    expect(decoded.originalWidth).toBeGreaterThan(100);
  });

  it('holds bounded memory on an endless garbage stream, and recovers', () => {
    const splitter = new MjpegSplitter(256 * 1024);
    // Random bytes with an SOI planted in every chunk: each looks like a frame start that never ends.
    let seed = 7;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    let maxPending = 0;
    for (let i = 0; i < 200; i++) {
      const chunk = Buffer.alloc(32 * 1024, 0).map(() => rnd());
      chunk.set([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10], 100);
      expect(splitter.push(chunk)).toEqual([]);
      maxPending = Math.max(maxPending, splitter.pendingBytes);
    }
    expect(maxPending).toBeLessThanOrEqual(256 * 1024 + 32 * 1024);
    expect(splitter.stats.discardedBytes).toBeGreaterThan(5_000_000);
    // A truncated frame followed by a good one: the good one comes through.
    const frames = split(splitter, Buffer.concat([DOG.subarray(0, 5000), DOG]), [4096]);
    expect(frames.length).toBeGreaterThanOrEqual(1);
    expect(Buffer.from(frames.at(-1)!).equals(DOG)).toBe(true);
  });

  it('drops a frame that outgrows maxFrameBytes without an end marker', () => {
    const splitter = new MjpegSplitter(128 * 1024);
    expect(DOG.length).toBeLessThan(128 * 1024);
    const huge = Buffer.concat([BILLY.subarray(0, BILLY.length - 2), Buffer.alloc(100_000, 0x11)]);
    const frames = split(splitter, Buffer.concat([huge, DOG]), [8192]);
    expect(splitter.stats.brokenFrames).toBeGreaterThanOrEqual(1);
    expect(frames).toHaveLength(1);
    expect(Buffer.from(frames[0]!).equals(DOG)).toBe(true);
    expect(splitter.pendingBytes).toBe(0);
  });
});
