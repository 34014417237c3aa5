import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { FamiliarError, silentLogger, type Logger } from '@familiar/contracts';
import { cleanTempFiles, corruptError, quarantineFile, sha256Hex, storeIoError, writeFileAtomic } from './atomic.ts';

/**
 * A crash-safe append-only JSON-lines file: a header line `{"format":…,"version":…}`, then one record per
 * line as `{"h":<16 hex of sha256(record json)>,"<key>":<record>}`. Appends are fsynced; after a crash a
 * torn last line is dropped and every earlier line survives; a flipped byte costs only its own line. The
 * owner rewrites the file atomically (compaction) when it has dropped records or the file has grown.
 */
export interface JsonlSpec {
  format: string;
  /** The newest version this code reads (and the one it writes). */
  version: number;
  /** The field that holds the record in each line. */
  key: string;
}

export interface JsonlOpenOptions {
  /** Read only: never create, repair, quarantine or write the file. */
  readOnly?: boolean;
  log?: Logger;
  /** Clock (quarantine names). */
  now?: () => number;
}

/** What {@link JsonlFile.open} read and repaired. */
export interface JsonlLoad {
  /** The records of the intact lines in file order (checksum verified; the owner validates their shape). */
  records: unknown[];
  /** Torn or corrupt lines skipped (a torn last line after a crash is normal). */
  droppedLines: number;
  /** Where a file with an unreadable header was moved to. */
  quarantined?: string;
  tempFilesRemoved: string[];
  /** The file should be rewritten: it is missing, had its header replaced, or lost lines. */
  needsRewrite: boolean;
}

function lineHash(json: string): string {
  return sha256Hex(json).slice(0, 16);
}

/** One record as a checksummed line (with its newline). */
function encodeJsonlLine(spec: JsonlSpec, record: unknown): string {
  const json = JSON.stringify(record);
  return `{"h":"${lineHash(json)}",${JSON.stringify(spec.key)}:${json}}\n`;
}

/** The record of a line, or undefined when the line is torn, fails its checksum or is not a record line. */
function decodeJsonlLine(spec: JsonlSpec, line: string): unknown {
  try {
    const doc = JSON.parse(line) as Record<string, unknown>;
    if (typeof doc !== 'object' || doc === null || typeof doc.h !== 'string' || !(spec.key in doc)) return undefined;
    const record = doc[spec.key];
    return lineHash(JSON.stringify(record)) === doc.h ? record : undefined;
  } catch {
    return undefined;
  }
}

export class JsonlFile {
  readonly file: string;
  readonly spec: JsonlSpec;
  readonly readOnly: boolean;
  #fh: FileHandle | undefined;
  #bytes = 0;
  #lines = 0;

  private constructor(file: string, spec: JsonlSpec, readOnly: boolean) {
    this.file = file;
    this.spec = spec;
    this.readOnly = readOnly;
  }

  /**
   * Reads the file (creating its directory unless read-only). A file whose header is not this format is
   * quarantined (moved aside) and reported; a newer version fails with STORE_CORRUPT reason 'version'.
   */
  static async open(file: string, spec: JsonlSpec, options: JsonlOpenOptions = {}): Promise<{ jsonl: JsonlFile; loaded: JsonlLoad }> {
    const jsonl = new JsonlFile(path.resolve(file), spec, options.readOnly === true);
    const loaded = await jsonl.#load(options.log ?? silentLogger, options.now ?? Date.now);
    return { jsonl, loaded };
  }

  /** Record lines in the file now (compaction decisions). */
  get lines(): number {
    return this.#lines;
  }

  /** Appends records and fsyncs. On failure a partial append is cut off, so the next append starts on a clean line. */
  async append(records: readonly unknown[]): Promise<void> {
    this.#assertWritable();
    if (records.length === 0) return;
    const text = records.map((r) => encodeJsonlLine(this.spec, r)).join('');
    try {
      this.#fh ??= await open(this.file, 'a', 0o600);
      await this.#fh.appendFile(text);
      await this.#fh.sync();
    } catch (cause) {
      await this.#fh?.truncate(this.#bytes).catch(() => undefined);
      throw storeIoError('append to', this.file, cause);
    }
    this.#bytes += Buffer.byteLength(text);
    this.#lines += records.length;
  }

  /** Replaces the whole file atomically with a header and these records. */
  async rewrite(records: readonly unknown[]): Promise<void> {
    this.#assertWritable();
    const text = this.#header() + records.map((r) => encodeJsonlLine(this.spec, r)).join('');
    await writeFileAtomic(this.file, text);
    // The old handle points at the replaced file.
    await this.#fh?.close().catch(() => undefined);
    this.#fh = undefined;
    this.#bytes = Buffer.byteLength(text);
    this.#lines = records.length;
  }

  async close(): Promise<void> {
    await this.#fh?.close().catch(() => undefined);
    this.#fh = undefined;
  }

  #header(): string {
    return `${JSON.stringify({ format: this.spec.format, version: this.spec.version })}\n`;
  }

  #assertWritable(): void {
    if (this.readOnly) throw new FamiliarError('STORE_IO', `${this.file} is opened read-only`);
  }

  async #load(log: Logger, now: () => number): Promise<JsonlLoad> {
    const loaded: JsonlLoad = { records: [], droppedLines: 0, tempFilesRemoved: [], needsRewrite: false };
    const dir = path.dirname(this.file);
    if (!this.readOnly) {
      try {
        await mkdir(dir, { recursive: true, mode: 0o700 });
      } catch (cause) {
        throw storeIoError('create', dir, cause);
      }
      loaded.tempFilesRemoved = await cleanTempFiles(dir, path.basename(this.file));
    }
    let text = '';
    try {
      text = await readFile(this.file, 'utf8');
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw storeIoError('read', this.file, cause);
    }
    const firstNewline = text.indexOf('\n');
    if (firstNewline < 0) {
      // Missing, empty, or torn while its header was being written: nothing to lose.
      loaded.needsRewrite = true;
      return loaded;
    }
    if (!this.#headerOk(text.slice(0, firstNewline))) {
      if (this.readOnly) {
        log('warn', 'ignoring a log with an unreadable header (read-only)', { file: this.file });
      } else {
        loaded.quarantined = await quarantineFile(this.file, now());
        log('warn', 'quarantined a log with an unreadable header', { file: this.file, moved_to: loaded.quarantined });
      }
      loaded.needsRewrite = true;
      return loaded;
    }
    const lines = text.slice(firstNewline + 1).split('\n');
    // The text after the last newline is a torn write (or '' when the file ends cleanly).
    if (lines.pop() !== '') loaded.droppedLines++;
    for (const line of lines) {
      const record = decodeJsonlLine(this.spec, line);
      if (record === undefined) loaded.droppedLines++;
      else loaded.records.push(record);
    }
    if (loaded.droppedLines > 0) {
      loaded.needsRewrite = true;
      log('warn', 'dropped torn or corrupt log lines', { file: this.file, count: loaded.droppedLines });
    }
    this.#bytes = Buffer.byteLength(text);
    this.#lines = lines.length;
    return loaded;
  }

  #headerOk(line: string): boolean {
    let header: unknown;
    try {
      header = JSON.parse(line);
    } catch {
      return false;
    }
    const h = header as { format?: unknown; version?: unknown };
    if (typeof h !== 'object' || h === null || h.format !== this.spec.format || !Number.isInteger(h.version)) return false;
    if ((h.version as number) > this.spec.version) {
      throw corruptError(this.file, 'version', `written by a newer Familiar (format version ${String(h.version)}; this build reads up to ${this.spec.version})`);
    }
    return true;
  }
}
