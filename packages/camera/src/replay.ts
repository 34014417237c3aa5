import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FamiliarError, toFamiliarError } from '@familiar/contracts';
import { decodeImage, encodeJpeg } from '@familiar/image';
import { BaseFrameSource } from './source.ts';

/** Extensions a replay folder is scanned for (case-insensitive). */
const REPLAY_IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif'] as const;

/** Something a replay skipped, for the caller's log. */
export interface ReplayWarning {
  cameraId: string;
  file: string;
  error: FamiliarError;
}

export interface FolderReplayOptions {
  /** A folder (all images in it, in natural name order) or one image file. */
  path: string;
  fps: number;
  /** Start again after the last image; false = play once, then `stopped`. */
  loop: boolean;
  /** Files larger than this are skipped. */
  maxFrameBytes: number;
  /** Told about each file that is skipped (unreadable, not an image, too large). */
  onWarning?: (warning: ReplayWarning) => void;
}

const isJpeg = (b: Uint8Array): boolean => b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;

/** Whether a path names an image a folder replay would play. */
export function isReplayImage(file: string): boolean {
  return (REPLAY_IMAGE_EXTENSIONS as readonly string[]).includes(path.extname(file).toLowerCase());
}

/**
 * Plays a folder of images as a camera at a fixed rate. JPEGs are sent as they are on disk; other
 * formats are converted to JPEG once, on first use, into a private temp folder (removed by stop()).
 * Frames are read from disk each time, so memory stays at one frame whatever the folder size.
 */
export class FolderReplaySource extends BaseFrameSource {
  readonly #options: FolderReplayOptions;
  #files: string[] = [];
  /** Original path -> converted JPEG path, or null when the file proved unusable. */
  readonly #converted = new Map<string, string | null>();
  #tmpDir: string | null = null;
  #index = 0;
  #timer: NodeJS.Timeout | null = null;
  #running = false;
  #busy: Promise<void> = Promise.resolve();
  #nextAt = 0;

  constructor(id: string, options: FolderReplayOptions) {
    super(id);
    if (!(options.fps > 0)) throw new FamiliarError('INPUT_INVALID', `fps must be positive, got ${options.fps}`);
    this.#options = options;
  }

  /** The images being played, in order (after start() has listed them). */
  get files(): readonly string[] {
    return this.#files;
  }

  start(): void {
    if (this.#running || (this.state !== 'stopped' && this.state !== 'failed')) return;
    this.#running = true;
    this.restarts = 0;
    this.setState('starting');
    this.#busy = this.#list().then(
      (files) => {
        if (!this.#running) return;
        this.#files = files;
        this.#index = 0;
        this.#nextAt = Date.now();
        this.#schedule();
      },
      (err: unknown) => this.#end(toFamiliarError(err, 'CAMERA_UNAVAILABLE')),
    );
  }

  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#busy;
    if (this.#tmpDir) {
      await rm(this.#tmpDir, { recursive: true, force: true });
      this.#tmpDir = null;
      this.#converted.clear();
    }
    if (this.state !== 'stopped' && this.state !== 'failed') this.setState('stopped');
  }

  async #list(): Promise<string[]> {
    const target = this.#options.path;
    let info;
    try {
      info = await stat(target);
    } catch (cause) {
      throw new FamiliarError('CAMERA_UNAVAILABLE', `replay source ${target} does not exist`, { cause });
    }
    if (info.isFile()) return [target];
    const names = (await readdir(target)).filter(isReplayImage);
    names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    if (names.length === 0) throw new FamiliarError('CAMERA_UNAVAILABLE', `replay folder ${target} holds no images (${REPLAY_IMAGE_EXTENSIONS.join(' ')})`);
    return names.map((n) => path.join(target, n));
  }

  #schedule(): void {
    if (!this.#running) return;
    const interval = 1000 / this.#options.fps;
    const now = Date.now();
    // Catch up by skipping, never by bursting: a slow disk lowers the rate instead of flooding.
    if (this.#nextAt < now - interval) this.#nextAt = now;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#nextAt += interval;
      this.#busy = this.#tick().then(() => this.#schedule());
    }, Math.max(0, this.#nextAt - now));
  }

  async #tick(): Promise<void> {
    // One pass over the list at most, so a folder whose every file is bad cannot spin.
    for (let tries = 0; tries < this.#files.length; tries++) {
      if (!this.#running) return;
      if (this.#index >= this.#files.length) {
        if (!this.#options.loop) return this.#end();
        this.#index = 0;
      }
      const jpeg = await this.#frameBytes(this.#files[this.#index++]!);
      if (jpeg && this.#running) return this.emitFrame(jpeg);
    }
    if (this.#running && this.#files.every((f) => this.#converted.get(f) === null)) {
      this.#end(new FamiliarError('CAMERA_UNAVAILABLE', `no file in ${this.#options.path} is a usable image`));
    }
  }

  /** The end of a play-once replay, or of a folder with nothing playable. */
  #end(error?: FamiliarError): void {
    this.#running = false;
    if (error) this.setState('failed', { error });
    else this.setState('stopped');
  }

  /** The JPEG bytes to send for a file, or null (and a warning) when it must be skipped. */
  async #frameBytes(file: string): Promise<Uint8Array | null> {
    const known = this.#converted.get(file);
    if (known === null) return null;
    try {
      const source = known ?? file;
      const size = (await stat(source)).size;
      if (size > this.#options.maxFrameBytes) {
        throw new FamiliarError('IMAGE_TOO_LARGE', `${file} is ${size} bytes; the frame limit is ${this.#options.maxFrameBytes}`);
      }
      const bytes = new Uint8Array(await readFile(source));
      if (known || isJpeg(bytes)) return bytes;
      const { image } = await decodeImage(bytes);
      const jpeg = await encodeJpeg(image, 90);
      this.#tmpDir ??= await mkdtemp(path.join(os.tmpdir(), 'familiar-replay-'));
      const out = path.join(this.#tmpDir, `${this.#converted.size}.jpg`);
      await writeFile(out, jpeg);
      this.#converted.set(file, out);
      return jpeg;
    } catch (err) {
      this.#converted.set(file, null);
      this.#options.onWarning?.({ cameraId: this.id, file, error: toFamiliarError(err, 'IMAGE_INVALID') });
      return null;
    }
  }
}
