import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import NodeWebcam from 'node-webcam';
import type { CameraSupervisionConfig } from '@familiar/config';
import { FamiliarError, toFamiliarError } from '@familiar/contracts';
import { BaseFrameSource, backoffDelay } from './source.ts';
import { requireTool } from './tools.ts';

export interface NodeWebcamOptions {
  /** /dev/videoN, /dev/v4l/by-id/… or by-path/…, or `TEST:` (fswebcam's built-in test pattern, no camera needed). */
  device: string;
  fps: number;
  width: number;
  height: number;
  /** Frames fswebcam discards before each still so exposure settles. */
  skipFrames: number;
  supervision: CameraSupervisionConfig;
  /** Environment whose PATH must hold fswebcam (checked at start). */
  env?: NodeJS.ProcessEnv;
  random?: () => number;
}

// node-webcam builds a shell command by concatenating its options, so every value that reaches it must
// be free of shell syntax: device paths are matched strictly, numbers are integers, the output path is ours.
const WEBCAM_DEVICE = /^(\/dev\/video\d{1,3}|\/dev\/v4l\/by-(id|path)\/[A-Za-z0-9._:+-]{1,200}|TEST:)$/;
const SHELL_SAFE_PATH = /^[A-Za-z0-9/._-]+$/;
const JPEG_QUALITY = 85;

/** Whether node-webcam may be given this device string. */
export function isWebcamDevice(device: string): boolean {
  return WEBCAM_DEVICE.test(device);
}

/**
 * USB camera stills through the node-webcam package (fswebcam underneath). Each frame is a separate
 * fswebcam run (it opens the device, skips a few frames, writes one JPEG), so this suits low rates
 * (≈1–5 fps); prefer the ffmpeg source (MJPEG passthrough) for video rates. Capture errors (unplugged
 * camera) are retried with back-off; a missing tool or device at start is a permanent `failed`.
 */
export class NodeWebcamSource extends BaseFrameSource {
  readonly #options: NodeWebcamOptions;
  #running = false;
  #loop: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  #wake: (() => void) | null = null;
  #tmpDir: string | null = null;

  constructor(id: string, options: NodeWebcamOptions) {
    super(id);
    if (!isWebcamDevice(options.device)) {
      throw new FamiliarError('CONFIG_INVALID', `node-webcam device must be /dev/videoN, /dev/v4l/by-id/… or TEST:, got ${JSON.stringify(options.device)}`);
    }
    for (const [name, value] of Object.entries({ width: options.width, height: options.height, skipFrames: options.skipFrames })) {
      if (!Number.isInteger(value) || value < 0 || value > 10_000) throw new FamiliarError('CONFIG_INVALID', `node-webcam ${name} must be a small integer, got ${value}`);
    }
    if (!(options.fps > 0)) throw new FamiliarError('CONFIG_INVALID', `fps must be positive, got ${options.fps}`);
    this.#options = options;
  }

  start(): void {
    if (this.#running || (this.state !== 'stopped' && this.state !== 'failed')) return;
    try {
      requireTool('fswebcam', this.#options.env);
      this.#checkDevice();
    } catch (err) {
      return this.failSoon(toFamiliarError(err, 'CAMERA_UNAVAILABLE'));
    }
    this.#running = true;
    this.restarts = 0;
    this.setState('starting');
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#wake?.();
    // An fswebcam run in flight finishes by itself (it times out on a dead device), then the loop exits.
    await this.#loop;
    if (this.state !== 'stopped' && this.state !== 'failed') this.setState('stopped');
  }

  #checkDevice(): void {
    const { device } = this.#options;
    if (device !== 'TEST:' && !existsSync(device)) {
      throw new FamiliarError('CAMERA_UNAVAILABLE', `camera device ${device} does not exist (is it plugged in? ls /dev/video*)`, { details: { device } });
    }
  }

  async #run(): Promise<void> {
    const interval = 1000 / this.#options.fps;
    let attempt = 0;
    try {
      this.#tmpDir = await mkdtemp(path.join(os.tmpdir(), 'familiar-webcam-'));
      if (!SHELL_SAFE_PATH.test(this.#tmpDir)) {
        throw new FamiliarError('CAMERA_UNAVAILABLE', `temp folder ${this.#tmpDir} has characters unsafe for fswebcam's shell command; set TMPDIR to a plain path`);
      }
    } catch (err) {
      this.#running = false;
      this.setState('failed', { error: toFamiliarError(err, 'STORE_IO') });
      return;
    }
    const webcam = new NodeWebcam.FSWebcam({
      width: this.#options.width,
      height: this.#options.height,
      quality: JPEG_QUALITY,
      skip: this.#options.skipFrames > 0 ? this.#options.skipFrames : false,
      output: 'jpeg',
      device: this.#options.device,
      callbackReturn: 'location',
      // node-webcam would otherwise keep every shot in an ever-growing array.
      saveShots: false,
      verbose: false,
    });
    const shot = path.join(this.#tmpDir, 'shot.jpg');
    let nextAt = Date.now();
    while (this.#running) {
      await this.#sleep(nextAt - Date.now());
      if (!this.#running) break;
      nextAt = Math.max(nextAt + interval, Date.now());
      try {
        this.#checkDevice();
        const jpeg = await captureOnce(webcam, shot);
        attempt = 0;
        this.emitFrame(jpeg);
      } catch (err) {
        if (!this.#running) break;
        const { restartInitialMs, restartMaxMs, restartJitter } = this.#options.supervision;
        const delay = backoffDelay(attempt++, { initialMs: restartInitialMs, maxMs: restartMaxMs, jitter: restartJitter }, this.#options.random);
        this.restarts += 1;
        this.setState('restarting', { error: toFamiliarError(err, 'CAMERA_UNAVAILABLE'), retryInMs: delay });
        nextAt = Date.now() + delay;
      }
    }
    await rm(this.#tmpDir, { recursive: true, force: true });
    this.#tmpDir = null;
  }

  #sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#wake = () => {
        if (this.#timer) clearTimeout(this.#timer);
        this.#timer = null;
        this.#wake = null;
        resolve();
      };
      this.#timer = setTimeout(this.#wake, ms);
    });
  }
}

async function captureOnce(webcam: ReturnType<typeof NodeWebcam.create>, file: string): Promise<Uint8Array> {
  await rm(file, { force: true });
  await new Promise<void>((resolve, reject) => {
    webcam.capture(file, (err) => (err ? reject(new FamiliarError('CAMERA_UNAVAILABLE', `fswebcam: ${err.message.trim()}`, { cause: err })) : resolve()));
  });
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (cause) {
    throw new FamiliarError('CAMERA_UNAVAILABLE', 'fswebcam wrote no image', { cause });
  }
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) throw new FamiliarError('CAMERA_UNAVAILABLE', 'fswebcam wrote something that is not a JPEG');
  return bytes;
}
