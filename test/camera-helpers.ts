import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '@familiar/config';
import type { FrameSource, SourceState, SourceStatus } from '@familiar/camera';
import { findTool } from '@familiar/camera';
import type { EncodedFrame } from '@familiar/contracts';

export const DATA = path.resolve(REPO_ROOT, '../shared/data');
export const HAVE_FFMPEG = findTool('ffmpeg') !== null;
export const HAVE_FSWEBCAM = findTool('fswebcam') !== null;

const made: string[] = [];

/** A fresh temp folder, removed by removeTempDirs(). */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `familiar-${prefix}-`));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Encodes the real photos of a folder into a short MJPEG video (each photo shown for 1/fps s). */
export function makeClip(photosGlob: string, out: string, fps = 10): string {
  const r = spawnSync(
    'ffmpeg',
    ['-hide_banner', '-loglevel', 'error', '-y', '-framerate', String(fps), '-pattern_type', 'glob', '-i', photosGlob, '-vf', 'scale=320:-2', '-c:v', 'mjpeg', '-q:v', '5', out],
    { encoding: 'utf8', timeout: 30_000 },
  );
  if (r.status !== 0) throw new Error(`ffmpeg could not make ${out}: ${r.stderr}`);
  return out;
}

/** A free TCP port on loopback (released just before use; good enough for tests). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Records everything a source says. */
export class SourceRecorder {
  readonly frames: EncodedFrame[] = [];
  readonly statuses: SourceStatus[] = [];
  #waiters: Array<() => void> = [];

  constructor(source: FrameSource, keepFrames = 200) {
    source.on('frame', (f) => {
      if (this.frames.length < keepFrames) this.frames.push(f);
      this.#wake();
    });
    source.on('status', (s) => {
      this.statuses.push(s);
      this.#wake();
    });
  }

  states(): SourceState[] {
    return this.statuses.map((s) => s.state);
  }

  /** Resolves when `predicate` holds (checked on every event), or rejects after timeoutMs. */
  until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; states: ${this.states().join(' > ')}; frames: ${this.frames.length}`));
      }, timeoutMs);
      const check = (): void => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== check);
        resolve();
      };
      this.#waiters.push(check);
    });
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }
}

/** Starts an ffmpeg child (a fake network camera) and returns it; kill it with stopChild. */
export function startFfmpeg(args: string[]): ChildProcess {
  return spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('close', () => resolve());
    child.kill('SIGKILL');
  });
}

/** Whether a process id is alive. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
