import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CameraConfig } from '@familiar/config';
import { createFrameSource, FolderReplaySource, FrameMailbox, type ReplayWarning } from '@familiar/camera';
import { decodeImage, encodePng } from '@familiar/image';
import { DATA, HAVE_FFMPEG, makeClip, SourceRecorder, tempDir, removeTempDirs } from './camera-helpers.ts';

const DOG_DIR = path.join(DATA, 'dreambooth/dog');
const dogFiles = readdirSync(DOG_DIR).filter((f) => f.endsWith('.jpg')).sort();

function replay(uri: string, fps: number, loop: boolean, onWarning?: (w: ReplayWarning) => void) {
  const config = CameraConfig.parse({ id: 'replay1', room: 'kitchen', fps, source: { kind: 'replay', uri, loop } });
  return createFrameSource(config, onWarning ? { onWarning } : {});
}

describe('replay frame source', () => {
  afterAll(removeTempDirs);

  it('plays a folder of real photos in name order at the chosen fps, looping', async () => {
    const source = replay(DOG_DIR, 25, true);
    expect(source).toBeInstanceOf(FolderReplaySource);
    const rec = new SourceRecorder(source);
    source.start();
    await rec.until(() => rec.frames.length >= 11, 3000, '11 frames');
    await source.stop();
    const expected = dogFiles.map((f) => readFileSync(path.join(DOG_DIR, f)));
    rec.frames.slice(0, 11).forEach((frame, i) => {
      // JPEGs go out byte-for-byte as on disk, wrapping around after the last one.
      expect(Buffer.from(frame.jpeg).equals(expected[i % expected.length]!), `frame ${i}`).toBe(true);
    });
    // 10 intervals at 25 fps = 400 ms; a timer may fire late but never early.
    const span = rec.frames[10]!.capturedAt - rec.frames[0]!.capturedAt;
    expect(span).toBeGreaterThanOrEqual(380);
    expect(rec.states()).toEqual(['starting', 'streaming', 'stopped']);
  });

  it('plays once and then reports stopped', async () => {
    const source = replay(DOG_DIR, 50, false);
    const rec = new SourceRecorder(source);
    source.start();
    await rec.until(() => source.state === 'stopped', 3000, 'end of replay');
    expect(rec.frames).toHaveLength(dogFiles.length);
    await source.stop();
    expect(rec.states()).toEqual(['starting', 'streaming', 'stopped']);
  });

  it('converts non-JPEG images once and skips broken files with a warning', async () => {
    const dir = tempDir('replay-mixed');
    const original = await decodeImage(readFileSync(path.join(DATA, 'myvlm/billy_dog/billy_dog_2.jpg')), { maxSide: 400 });
    writeFileSync(path.join(dir, '1-billy.png'), await encodePng(original.image));
    writeFileSync(path.join(dir, '2-broken.png'), Buffer.from('this is not a png at all'));
    copyFileSync(path.join(DOG_DIR, '00.jpg'), path.join(dir, '3-dog.jpg'));
    writeFileSync(path.join(dir, 'notes.txt'), 'ignored: not an image extension');
    const warnings: ReplayWarning[] = [];
    const source = replay(dir, 50, true, (w) => warnings.push(w));
    const rec = new SourceRecorder(source);
    source.start();
    await rec.until(() => rec.frames.length >= 6, 3000, '6 frames');
    await source.stop();
    expect((source as FolderReplaySource).files.map((f) => path.basename(f))).toEqual(['1-billy.png', '2-broken.png', '3-dog.jpg']);
    // The PNG arrives as a JPEG of the same picture; the broken file is skipped (and reported once).
    const first = rec.frames[0]!.jpeg;
    expect([first[0], first[1]]).toEqual([0xff, 0xd8]);
    const decoded = await decodeImage(first);
    expect([decoded.originalWidth, decoded.originalHeight]).toEqual([original.image.width, original.image.height]);
    expect(Buffer.from(rec.frames[1]!.jpeg).equals(readFileSync(path.join(DOG_DIR, '00.jpg')))).toBe(true);
    expect(Buffer.from(rec.frames[2]!.jpeg).equals(Buffer.from(first))).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.error.code).toBe('IMAGE_INVALID');
    expect(path.basename(warnings[0]!.file)).toBe('2-broken.png');
  });

  it('keeps playing when a frame listener throws', async () => {
    const source = replay(DOG_DIR, 50, true);
    const rec = new SourceRecorder(source);
    let thrown = 0;
    source.on('frame', () => {
      thrown += 1;
      throw new Error('consumer bug');
    });
    source.start();
    await rec.until(() => rec.frames.length >= 4, 3000, '4 frames despite the throwing listener');
    await source.stop();
    expect(thrown).toBeGreaterThanOrEqual(4);
  });

  it('fails clearly on a folder without images', async () => {
    const source = replay(tempDir('replay-empty'), 10, true);
    const rec = new SourceRecorder(source);
    source.start();
    await rec.until(() => source.state === 'failed', 2000, 'failed');
    expect(rec.statuses.at(-1)!.error?.code).toBe('CAMERA_UNAVAILABLE');
    expect(rec.statuses.at(-1)!.error?.message).toContain('holds no images');
  });

  it('a slow consumer behind the mailbox gets the latest frame; drops are counted', async () => {
    const source = replay(DOG_DIR, 40, true);
    const mailbox = new FrameMailbox({ fps: 40, source });
    source.start();
    const seqs: number[] = [];
    for (let i = 0; i < 3; i++) {
      seqs.push((await mailbox.take()).seq);
      await new Promise((r) => setTimeout(r, 300));
    }
    await source.stop();
    mailbox.close();
    const c = mailbox.counters;
    expect(c.processed).toBe(3);
    // Timers run late on a loaded machine, so only a loose lower bound on what 300 ms at 40 fps drops.
    expect(c.dropped).toBeGreaterThanOrEqual(4);
    expect(c.captured).toBe(c.processed + c.dropped);
    expect(seqs[2]! - seqs[1]!).toBeGreaterThanOrEqual(2);
  });

  it.skipIf(!HAVE_FFMPEG)('replays a video file through ffmpeg at the chosen fps, once', async () => {
    const clip = makeClip(path.join(DOG_DIR, '*.jpg'), path.join(tempDir('replay-clip'), 'dog.mkv'), 10);
    const source = replay(clip, 10, false);
    const rec = new SourceRecorder(source);
    source.start();
    await rec.until(() => source.state === 'stopped', 5000, 'the end of the video');
    // 5 photos at 10 fps = 0.5 s of video = 5 frames at a 10 fps cap.
    expect(rec.frames.length).toBeGreaterThanOrEqual(4);
    expect(rec.frames.length).toBeLessThanOrEqual(6);
    expect((await decodeImage(rec.frames[0]!.jpeg)).originalWidth).toBe(320);
    expect(rec.states()).toEqual(['starting', 'streaming', 'stopped']);
    await source.stop();
  });
});
