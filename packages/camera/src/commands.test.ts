import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CameraConfig } from '@familiar/config';
import { FamiliarError } from '@familiar/contracts';
import { createFrameSource } from './factory.ts';
import { classifyFfmpegUri, ffmpegArgs } from './ffmpeg.ts';
import { gstreamerCsiArgs, parseCsiSensorId } from './gstreamer.ts';
import { isWebcamDevice, NodeWebcamSource } from './node-webcam.ts';
import { redactUrl } from './source.ts';
import { findTool, requireTool } from './tools.ts';

const EMPTY_PATH_ENV = { PATH: mkdtempSync(path.join(os.tmpdir(), 'familiar-nopath-')) };
afterAll(() => rmSync(EMPTY_PATH_ENV.PATH, { recursive: true, force: true }));
const camera = (source: Record<string, unknown>): CameraConfig => CameraConfig.parse({ id: 'cam', room: 'hall', source });

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof FamiliarError ? err.code : `not a FamiliarError: ${String(err)}`;
  }
  return undefined;
}

describe('ffmpeg command lines', () => {
  it('passes V4L2 MJPEG through with the Huffman-table fix', () => {
    const input = classifyFfmpegUri('/dev/video2', { baseDir: '/', loop: true, width: 1280, height: 720, captureFps: 30 });
    expect(ffmpegArgs(input, 10)).toEqual([
      '-hide_banner', '-nostdin', '-loglevel', 'error',
      '-f', 'v4l2', '-input_format', 'mjpeg', '-video_size', '1280x720', '-framerate', '30', '-i', '/dev/video2',
      '-an', '-c:v', 'copy', '-bsf:v', 'mjpeg2jpeg',
      '-f', 'image2pipe', 'pipe:1',
    ]);
  });

  it('re-encodes raw V4L2, RTSP (over TCP), HTTP and files, capped at fps without duplicates', () => {
    const yuyv = ffmpegArgs(classifyFfmpegUri('/dev/v4l/by-id/usb-Logitech_C920_AB12-video-index0', { baseDir: '/', loop: true, v4l2Format: 'yuyv422' }), 5);
    expect(yuyv.join(' ')).toContain('-input_format yuyv422 -i /dev/v4l/by-id/usb-Logitech_C920_AB12-video-index0 -an -sn -dn -vsync vfr -r 5 -c:v mjpeg');
    const rtsp = ffmpegArgs(classifyFfmpegUri('rtsp://user:pw@10.0.0.5:554/stream1', { baseDir: '/', loop: true }), 8);
    expect(rtsp.slice(4, 8)).toEqual(['-rtsp_transport', 'tcp', '-i', 'rtsp://user:pw@10.0.0.5:554/stream1']);
    expect(rtsp.slice(-3)).toEqual(['-f', 'image2pipe', 'pipe:1']);
    const http = ffmpegArgs(classifyFfmpegUri('http://cam.local/video.mjpg', { baseDir: '/', loop: true }), 8);
    expect(http).not.toContain('-rtsp_transport');
    const file = ffmpegArgs(classifyFfmpegUri('clips/a:b.mp4', { baseDir: '/repo', loop: true }), 12);
    expect(file.join(' ')).toContain('-re -stream_loop -1 -i file:/repo/clips/a:b.mp4');
    const once = ffmpegArgs(classifyFfmpegUri('/videos/x.mp4', { baseDir: '/repo', loop: false }), 12);
    expect(once).not.toContain('-stream_loop');
  });

  it('refuses uris that would make ffmpeg read anything but a camera or a file', () => {
    for (const uri of ['concat:/etc/passwd|x', 'pipe:0', 'lavfi:testsrc', '/dev/sda', '/dev/video0; rm -rf /', 'ftp://host/x', 'rtsp://', 'clip\u0000.mp4']) {
      expect(codeOf(() => classifyFfmpegUri(uri, { baseDir: '/', loop: true })), uri).toBe('CONFIG_INVALID');
    }
  });

  it('masks url passwords in messages', () => {
    expect(redactUrl('rtsp://admin:s3cret@10.0.0.5/x failed; http://u:p@h/y')).toBe('rtsp://admin:***@10.0.0.5/x failed; http://u:***@h/y');
  });
});

describe('gstreamer-csi command line', () => {
  it('builds the nvarguscamerasrc → nvjpegenc → stdout pipeline', () => {
    expect(gstreamerCsiArgs({ sensorId: 1, width: 1920, height: 1080, captureFps: 30, flipMethod: 0 })).toEqual([
      '-q', '-e', 'nvarguscamerasrc', 'sensor-id=1', '!',
      'video/x-raw(memory:NVMM),width=1920,height=1080,framerate=30/1,format=NV12', '!',
      'nvjpegenc', 'quality=85', '!', 'fdsink', 'fd=1',
    ]);
    expect(gstreamerCsiArgs({ sensorId: 0, width: 1280, height: 720, captureFps: 60, flipMethod: 2 }).join(' ')).toContain('! nvvidconv flip-method=2 ! nvjpegenc');
  });

  it('accepts only integers', () => {
    expect(parseCsiSensorId('3')).toBe(3);
    for (const bad of ['8', '-1', '0 ! filesink location=/etc/x', '', '1.5']) expect(codeOf(() => parseCsiSensorId(bad)), bad).toBe('CONFIG_INVALID');
    expect(codeOf(() => gstreamerCsiArgs({ sensorId: 0, width: 1.5, height: 720, captureFps: 30, flipMethod: 0 }))).toBe('CONFIG_INVALID');
  });
});

describe('tools and the factory', () => {
  it('finds installed tools and names the package of missing ones', () => {
    expect(findTool('sh')).toMatch(/\/sh$/);
    expect(findTool('ffmpeg', EMPTY_PATH_ENV)).toBeNull();
    try {
      requireTool('fswebcam', EMPTY_PATH_ENV);
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ code: 'TOOL_MISSING' });
      expect((err as Error).message).toContain('apt-get install --no-install-recommends fswebcam');
    }
  });

  it('fails fast with TOOL_MISSING for every tool-backed kind', () => {
    expect(codeOf(() => createFrameSource(camera({ kind: 'ffmpeg', uri: 'rtsp://10.0.0.5/x' }), { env: EMPTY_PATH_ENV }))).toBe('TOOL_MISSING');
    expect(codeOf(() => createFrameSource(camera({ kind: 'node-webcam', uri: '/dev/video0' }), { env: EMPTY_PATH_ENV }))).toBe('TOOL_MISSING');
    expect(codeOf(() => createFrameSource(camera({ kind: 'gstreamer-csi', uri: '0' }), { env: EMPTY_PATH_ENV }))).toBe('TOOL_MISSING');
  });

  it('rejects a replay path that does not exist', () => {
    expect(codeOf(() => createFrameSource(camera({ kind: 'replay', uri: 'no/such/folder' })))).toBe('CAMERA_UNAVAILABLE');
  });
});

describe('node-webcam device strings', () => {
  it('accepts device paths and the test pattern, nothing shell-like', () => {
    for (const ok of ['/dev/video0', '/dev/video12', '/dev/v4l/by-id/usb-046d_C920_AB12-video-index0', '/dev/v4l/by-path/pci-0000:00:14.0-usb-0:1:1.0-video-index0', 'TEST:']) {
      expect(isWebcamDevice(ok), ok).toBe(true);
    }
    for (const bad of ['/dev/video0 --exec "rm -rf /"', '/dev/video0;id', '$(id)', '/dev/../etc/passwd', '/dev/v4l/by-id/a b', 'video0', '/dev/video0\n']) {
      expect(isWebcamDevice(bad), bad).toBe(false);
      const make = () => new NodeWebcamSource('cam', { device: bad, fps: 1, width: 640, height: 480, skipFrames: 0, supervision: camera({ kind: 'replay', uri: 'x' }).supervision });
      expect(codeOf(make)).toBe('CONFIG_INVALID');
    }
  });
});
