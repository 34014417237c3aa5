import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { FamiliarError, silentLogger, type Logger } from '@familiar/contracts';
import { cleanTempFiles, quarantineFile, readVerified, storeIoError, writeVerified, type EnvelopeSpec } from './atomic.ts';

export interface SnapshotOptions<T> {
  /** Validates a verified payload; throws (anything) when its shape is wrong, which counts as corruption. */
  decode: (payload: unknown) => T;
  /** The document to write now (called when a save runs, so it always writes the latest state). */
  encode: () => unknown;
  readOnly?: boolean;
  log?: Logger;
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
  readonly #writes: CoalescedWrites;

  private constructor(file: string, spec: EnvelopeSpec, encode: () => unknown, readOnly: boolean) {
    this.file = file;
    this.readOnly = readOnly;
    this.#writes = new CoalescedWrites(() => writeVerified(file, spec, encode()));
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
    const { value, quarantined } = await readOrQuarantine(abs, spec, options.decode, { readOnly, log, now: options.now ?? Date.now });
    if (quarantined !== undefined) report.quarantined = quarantined;
    return { snapshot, value, report };
  }

  /** Writes the current state durably (coalesced with a save already waiting). STORE_IO on failure or when read-only. */
  save(): Promise<void> {
    if (this.readOnly) return Promise.reject(new FamiliarError('STORE_IO', `${this.file} is opened read-only`));
    return this.#writes.run();
  }

  /** Resolves when every save asked for so far has finished (successfully or not). */
  settled(): Promise<void> {
    return this.#writes.settled();
  }
}

/**
 * Writes that run one at a time and coalesce: a write asked for while another is waiting to start shares it
 * (so `write` must write the latest state when it runs, not the state when it was asked for).
 */
export class CoalescedWrites {
  readonly #write: () => Promise<void>;
  #tail: Promise<void> = Promise.resolve();
  #waiting: Promise<void> | undefined;

  constructor(write: () => Promise<void>) {
    this.#write = write;
  }

  run(): Promise<void> {
    if (this.#waiting !== undefined) return this.#waiting;
    const run = this.#tail.then(() => {
      this.#waiting = undefined;
      return this.#write();
    });
    this.#waiting = run;
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** Resolves when every write asked for so far has finished (successfully or not). */
  async settled(): Promise<void> {
    await this.#tail;
  }
}

/**
 * Reads and decodes a checked file (undefined when there is none). A corrupt one — a failed checksum, or a payload
 * `decode` rejects — is logged and, unless read-only, moved aside; a file from a newer Familiar and I/O errors throw.
 */
export async function readOrQuarantine<T>(
  file: string,
  spec: EnvelopeSpec,
  decode: (payload: unknown) => T,
  options: { readOnly: boolean; log: Logger; now: () => number },
): Promise<{ value: T | undefined; quarantined?: string }> {
  try {
    const payload = await readVerified(file, spec);
    if (payload === undefined) return { value: undefined };
    try {
      return { value: decode(payload) };
    } catch (err) {
      throw new FamiliarError('STORE_CORRUPT', `${file}: ${err instanceof Error ? err.message : String(err)}`, { details: { file, reason: 'schema' } });
    }
  } catch (err) {
    if (!(err instanceof FamiliarError) || err.code !== 'STORE_CORRUPT' || err.details?.reason === 'version') throw err;
    if (options.readOnly) {
      options.log('warn', 'ignoring a corrupt file (read-only)', { file, error: err.message });
      return { value: undefined };
    }
    const quarantined = await quarantineFile(file, options.now());
    options.log('warn', 'quarantined a corrupt file', { file, moved_to: quarantined, error: err.message });
    return { value: undefined, quarantined };
  }
}
