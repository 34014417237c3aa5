import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, mkdir, open, readFile, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FamiliarError, silentLogger, type Logger } from '@familiar/contracts';
import { fsyncDir, storeIoError, tempPathFor } from './atomic.ts';

/** The lock file's name inside a store directory. */
export const LOCK_FILE_NAME = 'familiar.lock';

/** Who holds a store: what the lock file records (plain JSON, so a human can read it). */
export interface LockOwner {
  pid: number;
  hostname: string;
  /** When the lock was taken (epoch ms). */
  startedAt: number;
  /** Linux: /proc/sys/kernel/random/boot_id, so a lock from before a reboot is known stale. */
  bootId?: string;
  /** Linux: the holder's start time in clock ticks since boot, so a reused pid is not taken for the holder. */
  processStart?: string;
  /** Tells this lock from an earlier one of the same pid. */
  nonce: string;
}

export interface StoreLockOptions {
  log?: Logger;
  now?: () => number;
}

/** Locks held by this process, by lock file path: a lock naming our own pid that is not here is from a previous life (a restarted container's pid 1). */
const held = new Set<string>();
const MAX_ATTEMPTS = 5;

function readProcText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function bootId(): string | undefined {
  return process.platform === 'linux' ? readProcText('/proc/sys/kernel/random/boot_id') : undefined;
}

/** Field 22 of /proc/<pid>/stat (start time); the command name before it may contain spaces and parentheses. */
function processStart(pid: number): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const stat = readProcText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19];
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o !== 'object' || o === null || !Number.isInteger(o.pid) || typeof o.hostname !== 'string' || typeof o.nonce !== 'string' || typeof o.startedAt !== 'number') return undefined;
    return o as LockOwner;
  } catch {
    return undefined;
  }
}

type Liveness = 'live' | 'stale' | 'other-host';

function liveness(owner: LockOwner, file: string): Liveness {
  if (owner.hostname !== os.hostname()) return 'other-host';
  const boot = bootId();
  if (owner.bootId !== undefined && boot !== undefined && owner.bootId !== boot) return 'stale';
  if (owner.pid === process.pid) return held.has(file) ? 'live' : 'stale';
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return 'stale';
  }
  const start = processStart(owner.pid);
  if (owner.processStart !== undefined && start !== undefined && start !== owner.processStart) return 'stale';
  return 'live';
}

function inUse(dir: string, file: string, owner: LockOwner, where: Liveness): FamiliarError {
  const since = new Date(owner.startedAt).toISOString();
  const hint =
    where === 'other-host'
      ? `it cannot be checked from ${os.hostname()}; if that process no longer runs, delete ${file}`
      : 'stop it first, or open the store read-only';
  return new FamiliarError('STORE_IO', `the store ${dir} is in use by process ${owner.pid} (${owner.hostname}, since ${since}); ${hint}`, {
    details: { file, pid: owner.pid, hostname: owner.hostname, startedAt: owner.startedAt },
  });
}

/**
 * An exclusive lock on a store directory for one writing process: a file `familiar.lock` holding the
 * holder's pid, hostname and start time. The file is created complete (written to a temp file and hard
 * linked into place), so it never exists half-written. A lock whose holder is gone (dead pid on this host,
 * a pid reused by another program, a lock from before a reboot) is taken over; a live one fails with
 * STORE_IO "the store … is in use by process N (…)". A lock from another host is never taken over
 * automatically (its pid cannot be checked from here).
 */
export class StoreLock {
  readonly file: string;
  readonly owner: LockOwner;
  #released = false;

  private constructor(file: string, owner: LockOwner) {
    this.file = file;
    this.owner = owner;
  }

  /** Takes the lock of the store in `dir` (creating the directory), or fails with STORE_IO when it is in use. */
  static async acquire(dir: string, options: StoreLockOptions = {}): Promise<StoreLock> {
    const log = options.log ?? silentLogger;
    const root = path.resolve(dir);
    const file = path.join(root, LOCK_FILE_NAME);
    try {
      await mkdir(root, { recursive: true, mode: 0o700 });
    } catch (cause) {
      throw storeIoError('create', root, cause);
    }
    const owner: LockOwner = { pid: process.pid, hostname: os.hostname(), startedAt: (options.now ?? Date.now)(), nonce: randomBytes(8).toString('hex') };
    const boot = bootId();
    const start = processStart(process.pid);
    if (boot !== undefined) owner.bootId = boot;
    if (start !== undefined) owner.processStart = start;

    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (await createLinked(file, `${JSON.stringify(owner)}\n`)) {
        held.add(file);
        return new StoreLock(file, owner);
      }
      const current = await readOwner(file);
      if (current === 'missing') continue;
      if (current !== 'unreadable') {
        const where = liveness(current, file);
        if (where !== 'stale') throw inUse(root, file, current, where);
      }
      // Stale (or unreadable, which a lock created by linking never is unless damaged): move it aside under a
      // unique name. If another process took it over meanwhile we moved their fresh lock; put it back.
      const aside = `${file}.stale-${owner.nonce}`;
      try {
        await rename(file, aside);
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw storeIoError('take over the lock', file, cause);
      }
      const moved = await readOwner(aside);
      if (current !== 'unreadable' && (typeof moved !== 'object' || moved.nonce !== current.nonce)) {
        await link(aside, file).catch(() => undefined);
      } else {
        log('warn', 'took over a stale store lock', { file, ...(typeof current === 'object' ? { pid: current.pid, hostname: current.hostname, started_at: current.startedAt } : { unreadable: true }) });
      }
      await rm(aside, { force: true }).catch(() => undefined);
    }
    throw new FamiliarError('STORE_IO', `could not take the lock ${file}: other processes keep taking it`, { details: { file } });
  }

  /** Who holds the store in `dir` now, or undefined when nobody does (or the lock file is unreadable). */
  static async holder(dir: string): Promise<LockOwner | undefined> {
    const o = await readOwner(path.join(path.resolve(dir), LOCK_FILE_NAME));
    return typeof o === 'object' ? o : undefined;
  }

  get released(): boolean {
    return this.#released;
  }

  /** Deletes the lock file if it is still ours. Idempotent. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    held.delete(this.file);
    const current = await readOwner(this.file);
    if (typeof current === 'object' && current.nonce === this.owner.nonce) {
      try {
        await unlink(this.file);
        await fsyncDir(path.dirname(this.file));
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw storeIoError('release the lock', this.file, cause);
      }
    }
  }
}

async function readOwner(file: string): Promise<LockOwner | 'missing' | 'unreadable'> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw storeIoError('read', file, cause);
  }
  return parseOwner(text) ?? 'unreadable';
}

/** Creates `file` with `text` only if it does not exist; resolves false when it does. */
async function createLinked(file: string, text: string): Promise<boolean> {
  const tmp = tempPathFor(file);
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx', 0o600);
    await fh.writeFile(text);
    await fh.sync();
    await fh.close();
    fh = undefined;
    try {
      await link(tmp, file);
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw cause;
      // A filesystem without hard links (FAT, some network mounts): exclusive create instead. A crash in the
      // instant between create and write leaves an empty lock, which the next open treats as unreadable and takes over.
      if (!(await createExclusive(file, text))) return false;
    }
    await fsyncDir(path.dirname(file));
    return true;
  } catch (cause) {
    throw storeIoError('create the lock', file, cause);
  } finally {
    await fh?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
  }
}

async function createExclusive(file: string, text: string): Promise<boolean> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(file, 'wx', 0o600);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw cause;
  }
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close().catch(() => undefined);
  }
  return true;
}
