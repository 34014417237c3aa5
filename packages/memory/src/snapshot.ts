import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { FamiliarError } from '@familiar/contracts';
import { cleanTempFiles, quarantineFile, readVerified, storeIoError, writeVerified, type EnvelopeSpec } from './atomic.ts';
import { silentLogger, type MemoryLogger } from './log.ts';

export interface SnapshotOptions<T> {
  /** Validates a verified payload; throws (anything) when its shape is wrong, which counts as corruption. */
  decode: (payload: unknown) => T;
  /** The document to write now (called when a save runs, so it always writes the latest state). */
  encode: () => unknown;
  readOnly?: boolean;
  log?: MemoryLogger;
  now?: () => number;
}

/** What {@link SnapshotFile.open} found. */
export interface SnapshotOpenReport {
  /** Where a corrupt file was moved to. */
  quarantined?: string;
  tempFilesRemoved: string[];
}

/**
 * One small document kept whole in memory and persisted as a checksummed envelope file that is replaced
 * atomically on every save. Saves run one at a time and coalesce: a save asked for while another is
 * waiting shares it (it writes the state as of when it runs). A corrupt file is quarantined and the store
 * starts empty; a file from a newer Familiar fails the open.
 */
export class SnapshotFile {
  readonly file: string;
  readonly readOnly: boolean;
  readonly #spec: EnvelopeSpec;
  readonly #encode: () => unknown;
  #tail: Promise<void> = Promise.resolve();
  #waiting: Promise<void> | undefined;

  private constructor(file: string, spec: EnvelopeSpec, encode: () => unknown, readOnly: boolean) {
    this.file = file;
    this.#spec = spec;
    this.#encode = encode;
    this.readOnly = readOnly;
  }

  static async open<T>(file: string, spec: EnvelopeSpec, options: SnapshotOptions<T>): Promise<{ snapshot: SnapshotFile; value: T | undefined; report: SnapshotOpenReport }> {
    const abs = path.resolve(file);
    const readOnly = options.readOnly === true;
    const log = options.log ?? silentLogger;
    const snapshot = new SnapshotFile(abs, spec, options.encode, readOnly);
    const report: SnapshotOpenReport = { tempFilesRemoved: [] };
    if (!readOnly) {
      try {
        await mkdir(path.dirname(abs), { recursive: true, mode: 0o700 });
      } catch (cause) {
        throw storeIoError('create', path.dirname(abs), cause);
      }
      report.tempFilesRemoved = await cleanTempFiles(path.dirname(abs), path.basename(abs));
    }
    let value: T | undefined;
    try {
      const payload = await readVerified(abs, spec);
      if (payload !== undefined) {
        try {
          value = options.decode(payload);
        } catch (err) {
          throw new FamiliarError('STORE_CORRUPT', `${abs}: ${err instanceof Error ? err.message : String(err)}`, { details: { file: abs, reason: 'schema' } });
        }
      }
    } catch (err) {
      if (!(err instanceof FamiliarError) || err.code !== 'STORE_CORRUPT' || err.details?.reason === 'version') throw err;
      if (readOnly) {
        log('warn', 'ignoring a corrupt file (read-only)', { file: abs, error: err.message });
      } else {
        report.quarantined = await quarantineFile(abs, (options.now ?? Date.now)());
        log('warn', 'quarantined a corrupt file', { file: abs, movedTo: report.quarantined, error: err.message });
      }
    }
    return { snapshot, value, report };
  }

  /** Writes the current state durably (coalesced with a save already waiting). STORE_IO on failure or when read-only. */
  save(): Promise<void> {
    if (this.readOnly) return Promise.reject(new FamiliarError('STORE_IO', `${this.file} is opened read-only`));
    if (this.#waiting !== undefined) return this.#waiting;
    const run = this.#tail.then(() => {
      this.#waiting = undefined;
      return writeVerified(this.file, this.#spec, this.#encode());
    });
    this.#waiting = run;
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** Resolves when every save asked for so far has finished (successfully or not). */
  async settled(): Promise<void> {
    await this.#tail;
  }
}
