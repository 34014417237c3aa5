import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { CameraConfig } from '@familiar/config';
import { createFrameSource, NodeWebcamSource } from '@familiar/camera';
import { decodeImage } from '@familiar/image';
import { HAVE_FSWEBCAM, SourceRecorder, tempDir, removeTempDirs } from './camera-helpers.ts';

if (!HAVE_FSWEBCAM) console.warn('camera-webcam capture tests skipped: fswebcam is not installed (apt-get install --no-install-recommends fswebcam)');

// A device number no machine running the tests is likely to have.
const MISSING_DEVICE = ['/dev/video0', '/dev/video63', '/dev/video999'].find((d) => !existsSync(d))!;
const supervision = { restartInitialMs: 100, restartMaxMs: 300 };

function webcam(uri: string, fps = 5) {
  return createFrameSource(CameraConfig.parse({ id: 'usb', room: 'office', fps, source: { kind: 'node-webcam', uri, width: 320, height: 240, skipFrames: 0 }, supervision }));
}

describe('node-webcam frame source', () => {
  afterAll(removeTempDirs);

  it.skipIf(!HAVE_FSWEBCAM)('reports CAMERA_UNAVAILABLE, once and for good, when the device does not exist', async () => {
    const source = webcam(MISSING_DEVICE);
    const rec = new SourceRecorder(source);
    source.start();
    await rec.until(() => source.state === 'failed' && rec.statuses.length > 0, 2000, 'failed');
    const status = rec.statuses.at(-1)!;
    expect(status.error?.code).toBe('CAMERA_UNAVAILABLE');
    expect(status.error?.message).toContain(MISSING_DEVICE);
    expect(rec.frames).toHaveLength(0);
    await source.stop();
  });

  it('reports TOOL_MISSING with the install command when fswebcam is not on PATH', async () => {
    const source = new NodeWebcamSource('usb', {
      device: '/dev/video0',
      fps: 1,
      width: 320,
      height: 240,
      skipFrames: 0,
      supervision: CameraConfig.parse({ id: 'x', room: 'r', source: { kind: 'replay', uri: '.' } }).supervision,
      env: { PATH: tempDir('nopath') },
    });
    const rec = new SourceRecorder(source);
    source.start();
    await rec.until(() => rec.statuses.length > 0, 1000, 'a status');
    expect(rec.statuses[0]!.state).toBe('failed');
    expect(rec.statuses[0]!.error?.code).toBe('TOOL_MISSING');
    expect(rec.statuses[0]!.error?.message).toContain('apt-get install');
  });

  it.skipIf(!HAVE_FSWEBCAM)("captures stills through node-webcam and the real fswebcam (its TEST: pattern source)", async () => {
    const source = webcam('TEST:', 5);
    const rec = new SourceRecorder(source);
    const startedAt = Date.now();
    source.start();
    await rec.until(() => rec.frames.length >= 3, 5000, '3 stills');
    await source.stop();
    const img = await decodeImage(rec.frames[2]!.jpeg);
    expect([img.originalWidth, img.originalHeight]).toEqual([320, 240]);
    // Paced at the 5 fps cap: the third capture starts no earlier than 400 ms after the first.
    expect(rec.frames[2]!.capturedAt - startedAt).toBeGreaterThanOrEqual(400);
    expect(rec.states()).toEqual(['starting', 'streaming', 'stopped']);
  });
});
