import { createHash, randomBytes } from 'node:crypto';
import { open, readdir, readFile, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { FamiliarError } from '@familiar/contracts';

/**
 * Crash-safe file primitives. A file is replaced only by writing a sibling temp file, fsyncing it,
 * renaming it over the target and fsyncing the directory, so after a crash at any instant the target
 * holds either the old or the new bytes, never a mix. Every persisted document is wrapped in an
 * envelope (format tag, version, sha256 of the payload) so a torn or flipped file is detected instead
 * of loading as data.
 */

const TEMP_MARK = '.tmp-';
const TEMP_RE = /\.tmp-[0-9a-f]{12}$/;
const CORRUPT_MARK = '.corrupt-';
const IS_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Hex sha256 of a string (UTF-8) or bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The temp path a write of `file` goes through: same directory, so the final rename is atomic. */
export function tempPathFor(file: string): string {
  return `${file}${TEMP_MARK}${randomBytes(6).toString('hex')}`;
}

/** Whether a file name is a leftover temp file of {@link writeFileAtomic}. */
function isTempFileName(name: string): boolean {
  return TEMP_RE.test(name);
}

/** Maps a Node fs error to STORE_IO, keeping the original (ENOSPC, EACCES, ...) as cause and in details. */
export function storeIoError(op: string, file: string, cause: unknown): FamiliarError {
  if (cause instanceof FamiliarError) return cause;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new FamiliarError('STORE_IO', `cannot ${op} ${file}: ${reason}`, { cause, details: { file, op, errno: code } });
}

/** fsync a directory so a rename or unlink inside it survives a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (cause) {
    throw storeIoError('fsync directory', dir, cause);
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** fsync an existing file by path (used after a native library wrote it). */
export async function fsyncFile(file: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(file, 'r');
    await fh.sync();
  } catch (cause) {
    throw storeIoError('fsync', file, cause);
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/**
 * Replaces `file` with `data` atomically and durably: when the promise resolves the new content is on
 * disk; when it rejects (STORE_IO: disk full, permissions, ...) the previous content is untouched and
 * no temp file is left behind.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = tempPathFor(file);
  let fh: FileHandle | undefined;
  try {
    // 0o600: the store holds biometric embeddings; other local users have no business reading them.
    fh = await open(tmp, 'wx', 0o600);
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, file);
  } catch (cause) {
    await fh?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw storeIoError('write', file, cause);
  }
  await fsyncDir(path.dirname(file));
}

/** Deletes a file durably. Resolves false when it did not exist. */
export async function removeFileDurable(file: string): Promise<boolean> {
  try {
    await unlink(file);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw storeIoError('delete', file, cause);
  }
  await fsyncDir(path.dirname(file));
  return true;
}

/**
 * Removes leftover temp files (from a crash mid-write) in `dir`, only those of files named `baseName`
 * when given; returns the names removed. Call it before anything in this process writes there.
 */
export async function cleanTempFiles(dir: string, baseName?: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw storeIoError('list', dir, cause);
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!isTempFileName(name) || (baseName !== undefined && !name.startsWith(`${baseName}.tmp-`))) continue;
    try {
      await rm(path.join(dir, name), { force: true });
    } catch (cause) {
      throw storeIoError('delete', path.join(dir, name), cause);
    }
    removed.push(name);
  }
  if (removed.length > 0) await fsyncDir(dir);
  return removed;
}

/**
 * Moves a file that failed its integrity check out of the way (to `<file>.corrupt-<epoch ms>`) so the
 * store can open without it while a human can still inspect it. Returns the new path.
 */
export async function quarantineFile(file: string, now: number = Date.now()): Promise<string> {
  const target = `${file}${CORRUPT_MARK}${now}`;
  try {
    await rename(file, target);
  } catch (cause) {
    throw storeIoError('quarantine', file, cause);
  }
  await fsyncDir(path.dirname(file));
  return target;
}

/** Whether a file name is a quarantined copy of `baseName`. */
export function isQuarantineOf(name: string, baseName: string): boolean {
  return name.startsWith(`${baseName}${CORRUPT_MARK}`);
}

/** What a persisted document must be: its format tag and the newest version this code reads. */
export interface EnvelopeSpec {
  format: string;
  version: number;
}

/** Why a document was rejected (FamiliarError STORE_CORRUPT details.reason). */
export type CorruptReason = 'parse' | 'format' | 'version' | 'checksum' | 'schema' | 'mismatch';

/** A STORE_CORRUPT error with a machine-readable reason. */
export function corruptError(file: string, reason: CorruptReason, message: string, extra: Record<string, unknown> = {}): FamiliarError {
  return new FamiliarError('STORE_CORRUPT', `${file}: ${message}`, { details: { file, reason, ...extra } });
}

/**
 * Serialises `payload` inside a checksummed envelope:
 * `{"format":…,"version":…,"sha256":<of the payload's JSON>,"payload":…}`. The checksum covers
 * JSON.stringify(payload), which JSON.parse + JSON.stringify reproduces byte for byte.
 */
export function encodeEnvelope(spec: EnvelopeSpec, payload: unknown): string {
  const body = JSON.stringify(payload);
  return `{"format":${JSON.stringify(spec.format)},"version":${spec.version},"sha256":"${sha256Hex(body)}","payload":${body}}\n`;
}

/** Parses and verifies an envelope; throws STORE_CORRUPT (with details.reason) on any mismatch. */
export function decodeEnvelope(text: string, spec: EnvelopeSpec, file = '(document)'): unknown {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw corruptError(file, 'parse', 'not valid JSON (torn or overwritten)');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw corruptError(file, 'parse', 'not a JSON object');
  const env = doc as Record<string, unknown>;
  if (env.format !== spec.format) throw corruptError(file, 'format', `format is ${JSON.stringify(env.format)}, expected ${JSON.stringify(spec.format)}`);
  const version = env.version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) throw corruptError(file, 'format', 'missing or invalid version');
  if (version > spec.version) {
    throw corruptError(file, 'version', `written by a newer Familiar (format version ${version}; this build reads up to ${spec.version})`, { version });
  }
  if (typeof env.sha256 !== 'string' || !('payload' in env)) throw corruptError(file, 'format', 'missing sha256 or payload');
  if (sha256Hex(JSON.stringify(env.payload)) !== env.sha256) throw corruptError(file, 'checksum', 'payload checksum mismatch');
  return env.payload;
}

/**
 * Reads and verifies an envelope file. Resolves undefined when the file does not exist; rejects with
 * STORE_CORRUPT when it fails verification and STORE_IO when it cannot be read.
 */
export async function readVerified(file: string, spec: EnvelopeSpec): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw storeIoError('read', file, cause);
  }
  return decodeEnvelope(text, spec, file);
}

/** Writes `payload` in an envelope, atomically and durably. */
export async function writeVerified(file: string, spec: EnvelopeSpec, payload: unknown): Promise<void> {
  await writeFileAtomic(file, encodeEnvelope(spec, payload));
}

/** Encodes a Float32Array as base64 of its little-endian bytes. */
export function float32ToBase64(v: Float32Array): string {
  const bytes = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (IS_LITTLE_ENDIAN) return bytes.toString('base64');
  const copy = Buffer.from(bytes);
  copy.swap32();
  return copy.toString('base64');
}

/** Decodes base64 little-endian float32 bytes; undefined when the length is not a multiple of 4. */
export function base64ToFloat32(text: string): Float32Array | undefined {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.byteLength % 4 !== 0) return undefined;
  // Copy into a fresh, aligned buffer (Buffer.from may return a slice of a shared pool).
  const out = new Float32Array(bytes.byteLength / 4);
  const view = new Uint8Array(out.buffer);
  view.set(bytes);
  if (!IS_LITTLE_ENDIAN) Buffer.from(out.buffer).swap32();
  return out;
}
