import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CameraConfig } from '@familiar/config';
import { createFrameSource, FrameMailbox, MjpegProcessSource, type FrameSource } from '@familiar/camera';
import { decodeImage } from '@familiar/image';
import { alive, DATA, freePort, HAVE_FFMPEG, makeClip, SourceRecorder, startFfmpeg, stopChild, tempDir, removeTempDirs } from './camera-helpers.ts';

if (!HAVE_FFMPEG) console.warn('camera-ffmpeg tests skipped: ffmpeg is not installed (apt-get install --no-install-recommends ffmpeg)');

// Short timeouts so faults are noticed and recovered within a test's few seconds.
const FAST = { startTimeoutMs: 4000, stallTimeoutMs: 1000, restartInitialMs: 100, restartMaxMs: 400, restartJitter: 0.2 };

function ffmpegCamera(uri: string, extra: Record<string, unknown> = {}): FrameSource {
  const config = CameraConfig.parse({ id: 'cam1', room: 'hall', fps: 10, source: { kind: 'ffmpeg', uri }, supervision: FAST, ...extra });
  return createFrameSource(config);
}

describe.skipIf(!HAVE_FFMPEG)('ffmpeg frame source (real ffmpeg)', () => {
  let clip: string;
  const sources: FrameSource[] = [];
  const track = <T extends FrameSource>(s: T): T => (sources.push(s), s);

  beforeAll(() => {
    clip = makeClip(path.join(DATA, 'myvlm/billy_dog/*.jpg'), path.join(tempDir('clip'), 'billy.mkv'), 10);
  });
  afterAll(async () => {
    await Promise.all(sources.map((s) => s.stop()));
    removeTempDirs();
  });

  it('streams a video file as a camera: JPEG frames of the real photos, in order', async () => {
    const source = track(ffmpegCamera(clip));
    const rec = new SourceRecorder(source);
    source.start();
    await rec.until(() => rec.frames.length >= 8, 5000, '8 frames');
    const pid = (source as MjpegProcessSource).pid!;
    await source.stop();
    expect(alive(pid)).toBe(false);
    expect(rec.states()[0]).toBe('starting');
    expect(rec.states()).toContain('streaming');
    expect(rec.states().at(-1)).toBe('stopped');
    expect(rec.frames.map((f) => f.seq).slice(0, 8)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const img = await decodeImage(rec.frames[3]!.jpeg);
    expect(img.originalWidth).toBe(320);
    expect(rec.frames.every((f) => f.cameraId === 'cam1' && f.jpeg[0] === 0xff && f.jpeg[1] === 0xd8)).toBe(true);
  });

  it('reads an HTTP network camera (ffmpeg serving MJPEG on 127.0.0.1)', async () => {
    const port = await freePort();
    const server = startFfmpeg(['-re', '-stream_loop', '-1', '-i', clip, '-c:v', 'copy', '-f', 'mpjpeg', '-listen', '1', `http://127.0.0.1:${port}/cam`]);
    try {
      // The reader may start before the server listens: that is just a restart or two.
      const source = track(ffmpegCamera(`http://127.0.0.1:${port}/cam`));
      const rec = new SourceRecorder(source);
      source.start();
      await rec.until(() => rec.frames.length >= 5, 8000, '5 frames over HTTP');
      const img = await decodeImage(rec.frames[4]!.jpeg);
      expect(img.originalWidth).toBe(320);
      await source.stop();
    } finally {
      await stopChild(server);
    }
  });

  it('restarts after the ffmpeg child is killed with SIGKILL, and frames resume', async () => {
    const source = track(ffmpegCamera(clip)) as MjpegProcessSource;
    const rec = new SourceRecorder(source);
    source.start();
    await rec.until(() => rec.frames.length >= 3, 5000, 'first frames');
    const firstPid = source.pid!;
    process.kill(firstPid, 'SIGKILL');
    await rec.until(() => rec.states().includes('restarting'), 3000, 'restarting');
    const restarting = rec.statuses.find((s) => s.state === 'restarting')!;
    expect(restarting.error?.code).toBe('CAMERA_UNAVAILABLE');
    expect(restarting.error?.message).toContain('SIGKILL');
    expect(restarting.retryInMs).toBeLessThanOrEqual(FAST.restartInitialMs * (1 + FAST.restartJitter));
    const before = rec.frames.length;
    await rec.until(() => rec.frames.length >= before + 3, 5000, 'frames after the restart');
    expect(source.pid).not.toBe(firstPid);
    expect(rec.states().at(-1)).toBe('streaming');
    // Sequence numbers keep counting across the restart.
    const seqs = rec.frames.map((f) => f.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    await source.stop();
    expect(alive(firstPid)).toBe(false);
  });

  it('detects a stalled stream (child frozen with SIGSTOP) and restarts it', async () => {
    const source = track(ffmpegCamera(clip)) as MjpegProcessSource;
    const rec = new SourceRecorder(source);
    source.start();
    await rec.until(() => rec.frames.length >= 2, 5000, 'first frames');
    const frozen = source.pid!;
    process.kill(frozen, 'SIGSTOP');
    await rec.until(() => rec.states().includes('stalled'), 3000, 'stalled');
    const stalled = rec.statuses.find((s) => s.state === 'stalled')!;
    expect(stalled.error?.code).toBe('CAMERA_TIMEOUT');
    const before = rec.frames.length;
    await rec.until(() => rec.frames.length >= before + 3, 5000, 'frames after the stall');
    expect(rec.states()).toEqual(expect.arrayContaining(['stalled', 'restarting', 'starting', 'streaming']));
    expect(alive(frozen)).toBe(false);
    await source.stop();
  });

  it('keeps retrying a camera that refuses connections, with capped back-off, and stops cleanly', async () => {
    const port = await freePort();
    const source = track(ffmpegCamera(`rtsp://user:secret@127.0.0.1:${port}/cam`));
    const rec = new SourceRecorder(source);
    source.start();
    await rec.until(() => rec.statuses.filter((s) => s.state === 'restarting').length >= 3, 6000, 'three restarts');
    const retries = rec.statuses.filter((s) => s.state === 'restarting');
    for (const r of retries) {
      expect(r.error?.code).toBe('CAMERA_UNAVAILABLE');
      expect(r.error?.message).not.toContain('secret');
      expect(r.retryInMs).toBeLessThanOrEqual(FAST.restartMaxMs);
    }
    expect(retries[0]!.error?.message).toMatch(/refused|ffmpeg exited/i);
    await source.stop();
    expect(rec.states().at(-1)).toBe('stopped');
    const count = rec.statuses.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(rec.statuses.length).toBe(count); // no restart after stop()
  });

  it('a slow consumer behind the mailbox costs drops, never memory', async () => {
    const source = track(ffmpegCamera(clip, { fps: 10 }));
    const mailbox = new FrameMailbox({ fps: 10, source });
    source.start();
    const got: number[] = [];
    for (let i = 0; i < 4; i++) {
      const f = await mailbox.take();
      got.push(f.seq);
      await new Promise((r) => setTimeout(r, 350)); // a pipeline far slower than the camera
      expect(mailbox.counters.captured - mailbox.counters.processed - mailbox.counters.dropped).toBeLessThanOrEqual(1);
    }
    await source.stop();
    mailbox.close();
    const c = mailbox.counters;
    expect(c.processed).toBe(4);
    expect(c.dropped).toBeGreaterThan(4);
    expect(c.captured).toBe(c.processed + c.dropped);
    // Each take got the newest frame, so the consumer skips ahead rather than lagging behind.
    expect(got[3]! - got[2]!).toBeGreaterThan(1);
  });
});
