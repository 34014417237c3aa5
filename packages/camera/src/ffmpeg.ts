import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { CameraSupervisionConfig } from '@familiar/config';
import { FamiliarError } from '@familiar/contracts';
import { MjpegProcessSource } from './process-source.ts';
import { redactUrl } from './source.ts';

/** A V4L2 capture device (USB/UVC camera). */
export interface V4l2Input {
  type: 'v4l2';
  device: string;
  /** mjpeg: the camera's own JPEGs, passed through; yuyv422: raw, encoded by ffmpeg. */
  format: 'mjpeg' | 'yuyv422';
  width?: number;
  height?: number;
  captureFps?: number;
}

/** An RTSP or HTTP(S) network camera. */
export interface NetworkInput {
  type: 'network';
  url: string;
}

/** A video file, played at its native rate like a camera. */
export interface FileInput {
  type: 'file';
  /** Absolute path. */
  file: string;
  loop: boolean;
}

/** What ffmpeg reads, decided from the configured uri. */
export type FfmpegInput = V4l2Input | NetworkInput | FileInput;

export interface FfmpegSourceOptions {
  /** Output frame-rate cap (re-encoded inputs only; MJPEG passthrough delivers the device rate). */
  fps: number;
  supervision: CameraSupervisionConfig;
  env?: NodeJS.ProcessEnv;
  random?: () => number;
}

const V4L2_DEVICE = /^\/dev\/(video\d{1,3}|v4l\/by-(id|path)\/[A-Za-z0-9._:+-]{1,200})$/;
const NETWORK_URL = /^(rtsps?|https?):\/\//i;
/** ffmpeg JPEG quality scale: 2 (best) … 31; 5 keeps faces crisp at ~1/10 of raw size. */
const JPEG_QSCALE = '5';

/** True for paths that name a V4L2 capture device (strictly: no shell or option characters). */
function isV4l2Device(uri: string): boolean {
  return V4L2_DEVICE.test(uri);
}

/**
 * Classifies a uri for ffmpeg: a V4L2 device, an rtsp/http(s) url, or a video file (relative to
 * `baseDir`). Anything else — in particular ffmpeg's other protocols (`concat:`, `pipe:`, `lavfi`…) —
 * is rejected, so a configuration can only ever make ffmpeg read a camera or a file.
 */
export function classifyFfmpegUri(
  uri: string,
  opts: { baseDir: string; loop: boolean; v4l2Format?: 'mjpeg' | 'yuyv422'; width?: number; height?: number; captureFps?: number },
): FfmpegInput {
  if (/[\u0000-\u001f\u007f]/.test(uri)) throw new FamiliarError('CONFIG_INVALID', 'camera uri contains control characters');
  if (uri.startsWith('/dev/')) {
    if (!isV4l2Device(uri)) throw new FamiliarError('CONFIG_INVALID', `"${uri}" is not a V4L2 device path (/dev/videoN or /dev/v4l/by-id/…)`);
    const input: V4l2Input = { type: 'v4l2', device: uri, format: opts.v4l2Format ?? 'mjpeg' };
    if (opts.width !== undefined && opts.height !== undefined) {
      input.width = opts.width;
      input.height = opts.height;
    }
    if (opts.captureFps !== undefined) input.captureFps = opts.captureFps;
    return input;
  }
  if (NETWORK_URL.test(uri)) {
    let url: URL;
    try {
      url = new URL(uri);
    } catch (cause) {
      throw new FamiliarError('CONFIG_INVALID', `camera url "${redactUrl(uri)}" is not a valid URL`, { cause });
    }
    if (!url.hostname) throw new FamiliarError('CONFIG_INVALID', `camera url "${redactUrl(uri)}" has no host`);
    return { type: 'network', url: uri };
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(uri)) {
    throw new FamiliarError('CONFIG_INVALID', `unsupported camera uri scheme in "${redactUrl(uri)}": use /dev/videoN, rtsp://, http(s):// or a file path`);
  }
  return { type: 'file', file: path.resolve(opts.baseDir, uri), loop: opts.loop };
}

/** ffmpeg's argument list for an input: JPEGs on stdout, one after another. */
export function ffmpegArgs(input: FfmpegInput, fps: number): string[] {
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error'];
  // Re-encoded outputs: variable frame rate so -r only drops frames (never duplicates them to fill a gap).
  const reencode = ['-an', '-sn', '-dn', '-vsync', 'vfr', '-r', String(fps), '-c:v', 'mjpeg', '-q:v', JPEG_QSCALE];
  switch (input.type) {
    case 'v4l2':
      args.push('-f', 'v4l2', '-input_format', input.format);
      if (input.width !== undefined && input.height !== undefined) args.push('-video_size', `${input.width}x${input.height}`);
      if (input.captureFps !== undefined) args.push('-framerate', String(input.captureFps));
      args.push('-i', input.device);
      // The camera already sends JPEGs: copy them; mjpeg2jpeg adds the Huffman tables UVC frames omit.
      if (input.format === 'mjpeg') args.push('-an', '-c:v', 'copy', '-bsf:v', 'mjpeg2jpeg');
      else args.push(...reencode);
      break;
    case 'network':
      if (/^rtsps?:/i.test(input.url)) args.push('-rtsp_transport', 'tcp');
      args.push('-i', input.url, ...reencode);
      break;
    case 'file':
      // -re: read at the native rate, like a camera; file: stops ffmpeg reading a colon in the name as a protocol.
      args.push('-re');
      if (input.loop) args.push('-stream_loop', '-1');
      args.push('-i', `file:${input.file}`, ...reencode);
      break;
  }
  args.push('-f', 'image2pipe', 'pipe:1');
  return args;
}

/** Creates the supervised ffmpeg process source for an input. */
export function createFfmpegSource(id: string, input: FfmpegInput, options: FfmpegSourceOptions): MjpegProcessSource {
  return new MjpegProcessSource(
    id,
    { tool: 'ffmpeg', args: ffmpegArgs(input, options.fps) },
    {
      supervision: options.supervision,
      ...(options.env ? { env: options.env } : {}),
      ...(options.random ? { random: options.random } : {}),
      endOnCleanExit: input.type === 'file' && !input.loop,
      preflight: () => preflight(input),
    },
  );
}

function preflight(input: FfmpegInput): void {
  if (input.type === 'v4l2' && !existsSync(input.device)) {
    throw new FamiliarError('CAMERA_UNAVAILABLE', `camera device ${input.device} does not exist (is it plugged in? ls /dev/video*)`);
  }
  if (input.type === 'file') {
    let isFile = false;
    try {
      isFile = statSync(input.file).isFile();
    } catch {
      // reported below
    }
    if (!isFile) throw new FamiliarError('CAMERA_UNAVAILABLE', `video file ${input.file} does not exist or is not a file`);
  }
}
