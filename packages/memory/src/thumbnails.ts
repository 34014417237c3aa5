import { chmod, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { FamiliarError } from '@familiar/contracts';
import { cleanTempFiles, fsyncDir, removeFileDurable, storeIoError, writeFileAtomic } from './atomic.ts';

/** Largest thumbnail accepted, bytes: a small JPEG for a list row, never a photo. */
const MAX_THUMBNAIL_BYTES = 64 * 1024;

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

export interface ThumbnailOptions {
  /** Keep thumbnails. When false (embeddings-only mode) none is stored and any found on open are erased. */
  keep: boolean;
  readOnly?: boolean;
}

/**
 * One small JPEG per concept (the enrolled region of its first photo), for people to recognise the row in a list.
 * The only image data Familiar ever keeps, and only outside embeddings-only mode; written atomically, erased with
 * the concept.
 */
export class ThumbnailStore {
  readonly dir: string;
  readonly keep: boolean;
  readonly #readOnly: boolean;

  private constructor(dir: string, options: ThumbnailOptions) {
    this.dir = dir;
    this.keep = options.keep;
    this.#readOnly = options.readOnly === true;
  }

  /** Opens the folder; in embeddings-only mode (and not read-only) erases every thumbnail a previous mode left. */
  static async open(dir: string, options: ThumbnailOptions): Promise<ThumbnailStore> {
    const store = new ThumbnailStore(dir, options);
    if (store.#readOnly) return store;
    try {
      if (options.keep) {
        // Thumbnails are faces: readable by the owner only, like every other store file.
        await mkdir(dir, { recursive: true, mode: 0o700 });
        await chmod(dir, 0o700);
        await cleanTempFiles(dir);
      } else {
        await rm(dir, { recursive: true, force: true });
        await fsyncDir(path.dirname(dir));
      }
    } catch (err) {
      throw storeIoError('open thumbnails', dir, err);
    }
    return store;
  }

  #file(conceptId: string): string {
    if (!ID_PATTERN.test(conceptId)) throw new FamiliarError('INPUT_INVALID', `not a concept id: ${JSON.stringify(conceptId.slice(0, 80))}`);
    return path.join(this.dir, `${conceptId}.jpg`);
  }

  /** Stores a concept's thumbnail (no-op in embeddings-only mode). */
  async put(conceptId: string, jpeg: Uint8Array): Promise<void> {
    if (!this.keep) return;
    if (this.#readOnly) throw new FamiliarError('STORE_IO', 'the store is open read-only');
    if (jpeg.byteLength > MAX_THUMBNAIL_BYTES) throw new FamiliarError('IMAGE_TOO_LARGE', `a thumbnail may have at most ${MAX_THUMBNAIL_BYTES} bytes`);
    await writeFileAtomic(this.#file(conceptId), jpeg);
  }

  /** The concept's thumbnail, or null when it has none. */
  async get(conceptId: string): Promise<Uint8Array | null> {
    if (!this.keep) return null;
    try {
      return new Uint8Array(await readFile(this.#file(conceptId)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw storeIoError('read thumbnail', this.#file(conceptId), err);
    }
  }

  /** Erases the concept's thumbnail, durably; true if there was one. */
  async remove(conceptId: string): Promise<boolean> {
    if (this.#readOnly) throw new FamiliarError('STORE_IO', 'the store is open read-only');
    return removeFileDurable(this.#file(conceptId));
  }

  /** Ids of the concepts that have a thumbnail (to erase orphans after a crash). */
  async ids(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter((f) => f.endsWith('.jpg')).map((f) => f.slice(0, -4));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw storeIoError('list thumbnails', this.dir, err);
    }
  }

  async close(): Promise<void> {}
}
