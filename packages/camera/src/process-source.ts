import { spawn, type ChildProcess } from 'node:child_process';
import type { CameraSupervisionConfig } from '@familiar/config';
import { FamiliarError } from '@familiar/contracts';
import { MjpegSplitter, type SplitterStats } from './mjpeg-splitter.ts';
import { BaseFrameSource, backoffDelay, redactUrl } from './source.ts';
import { requireTool, type CameraTool } from './tools.ts';

/** A program and its arguments (never a shell string). */
export interface ProcessCommand {
  tool: CameraTool;
  args: string[];
}

export interface MjpegProcessOptions {
  supervision: CameraSupervisionConfig;
  env?: NodeJS.ProcessEnv;
  /** Exit code 0 means the input ended (a play-once file): go to `stopped` instead of restarting. */
  endOnCleanExit?: boolean;
  /** Run before every (re)start; a FamiliarError thrown at the first start is a permanent `failed`. */
  preflight?: () => void;
  /** Signal for a graceful stop (gst-launch -e wants SIGINT to close the camera cleanly). */
  stopSignal?: NodeJS.Signals;
  /** For deterministic tests of the back-off. */
  random?: () => number;
}

const STDERR_TAIL_CHARS = 4096;
const STOP_GRACE_MS = 2000;

/**
 * A supervised child process that writes a continuous MJPEG stream to stdout (ffmpeg image2pipe,
 * gst-launch fdsink). It runs in its own process group so stop() can end it with all its children;
 * exits and stalls (no frame for stallTimeoutMs, or none within startTimeoutMs of a start) lead to a
 * restart after an exponential, jittered, capped back-off — forever, because cameras come back.
 */
export class MjpegProcessSource extends BaseFrameSource {
  readonly #command: ProcessCommand;
  readonly #options: MjpegProcessOptions;
  #child: ChildProcess | null = null;
  #splitter: MjpegSplitter;
  #stderrTail = '';
  #attempt = 0;
  #stopping = false;
  #startedAt = 0;
  #lastFrameAt = 0;
  #gotFrame = false;
  /** Why the current child is being killed (a stall), reported instead of its exit code. */
  #killReason: FamiliarError | null = null;
  #watchdog: NodeJS.Timeout | null = null;
  #restartTimer: NodeJS.Timeout | null = null;
  #exited: Promise<void> = Promise.resolve();
  readonly #totals: SplitterStats = { frames: 0, discardedBytes: 0, brokenFrames: 0 };

  constructor(id: string, command: ProcessCommand, options: MjpegProcessOptions) {
    super(id);
    this.#command = command;
    this.#options = options;
    this.#splitter = new MjpegSplitter(options.supervision.maxFrameBytes);
  }

  /** The command line, for logs and tests. */
  get command(): ProcessCommand {
    return { tool: this.#command.tool, args: [...this.#command.args] };
  }

  /** Process id of the running child (for diagnostics and fault-injection tests). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The last few KB the child wrote to stderr (passwords in urls masked). */
  get stderrTail(): string {
    return redactUrl(this.#stderrTail);
  }

  /** Splitter counters summed over every child run, plus the restarts. */
  get stats(): SplitterStats & { restarts: number } {
    const s = this.#splitter.stats;
    return {
      frames: this.#totals.frames + s.frames,
      discardedBytes: this.#totals.discardedBytes + s.discardedBytes,
      brokenFrames: this.#totals.brokenFrames + s.brokenFrames,
      restarts: this.restarts,
    };
  }

  start(): void {
    if ((this.state !== 'stopped' && this.state !== 'failed') || this.#stopping) return;
    this.restarts = 0;
    this.#attempt = 0;
    try {
      requireTool(this.#command.tool, this.#options.env);
      this.#options.preflight?.();
    } catch (err) {
      return this.failSoon(err instanceof FamiliarError ? err : new FamiliarError('CAMERA_UNAVAILABLE', String(err), { cause: err }));
    }
    this.setState('starting');
    const period = Math.max(50, Math.min(250, this.#options.supervision.stallTimeoutMs / 4));
    this.#watchdog = setInterval(() => this.#checkStall(), period);
    this.#spawn(false);
  }

  async stop(): Promise<void> {
    if (this.#stopping) return this.#exited;
    this.#stopping = true;
    if (this.#watchdog) clearInterval(this.#watchdog);
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    this.#watchdog = this.#restartTimer = null;
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      this.#killGroup(child, this.#options.stopSignal ?? 'SIGTERM');
      const forced = setTimeout(() => this.#killGroup(child, 'SIGKILL'), STOP_GRACE_MS);
      await this.#exited;
      clearTimeout(forced);
    }
    if (this.state !== 'failed' && this.state !== 'stopped') this.setState('stopped');
    this.#stopping = false;
  }

  /** Starts a child; `preflight` re-checks the device/file first (start() has just checked it). */
  #spawn(preflight = true): void {
    this.#accumulate();
    this.#splitter = new MjpegSplitter(this.#options.supervision.maxFrameBytes);
    this.#stderrTail = '';
    this.#gotFrame = false;
    this.#killReason = null;
    this.#startedAt = Date.now();
    try {
      if (preflight) this.#options.preflight?.();
    } catch (err) {
      this.#scheduleRestart(err instanceof FamiliarError ? err : new FamiliarError('CAMERA_UNAVAILABLE', String(err), { cause: err }));
      return;
    }
    let child: ChildProcess;
    try {
      child = spawn(this.#command.tool, this.#command.args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        // Own process group: stop() and stall kills reach whatever the tool itself spawned.
        detached: true,
        env: this.#options.env ?? process.env,
      });
    } catch (err) {
      // Only arguments Node refuses outright get here (they would never work): give up for good.
      this.#fail(new FamiliarError('CONFIG_INVALID', `camera ${this.id}: cannot start ${this.#command.tool}: ${(err as Error).message}`, { cause: err }));
      return;
    }
    this.#child = child;
    const splitter = this.#splitter;
    let settled = false;
    this.#exited = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error): void => {
        if (settled) return;
        settled = true;
        if (this.#child === child) this.#child = null;
        resolve();
        this.#onExit(code, signal, spawnError);
      };
      child.once('error', (err) => done(null, null, err));
      child.once('close', (code, signal) => done(code, signal));
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      for (const jpeg of splitter.push(chunk)) this.#onFrame(jpeg);
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      this.#stderrTail = (this.#stderrTail + text).slice(-STDERR_TAIL_CHARS);
    });
  }

  #onFrame(jpeg: Uint8Array): void {
    if (this.#stopping || this.#killReason) return;
    this.#lastFrameAt = Date.now();
    if (!this.#gotFrame) {
      this.#gotFrame = true;
      this.#attempt = 0;
    }
    this.emitFrame(jpeg);
  }

  #onExit(code: number | null, signal: NodeJS.Signals | null, spawnError?: Error): void {
    if (this.#stopping) return;
    const tool = this.#command.tool;
    if (spawnError && (spawnError as NodeJS.ErrnoException).code === 'ENOENT') {
      this.#fail(new FamiliarError('TOOL_MISSING', `${tool} could not be started: ${spawnError.message}`, { cause: spawnError }));
      return;
    }
    if (code === 0 && this.#options.endOnCleanExit && !this.#killReason) {
      if (this.#watchdog) clearInterval(this.#watchdog);
      this.#watchdog = null;
      this.setState('stopped');
      return;
    }
    const why = spawnError ? spawnError.message : signal ? `was killed by ${signal}` : `exited with code ${code}`;
    const tail = lastLines(this.#stderrTail, 3);
    const error =
      this.#killReason ??
      new FamiliarError('CAMERA_UNAVAILABLE', `camera ${this.id}: ${tool} ${why}${tail ? `: ${tail}` : ''}`, {
        details: { exitCode: code, signal, stderr: redactUrl(this.#stderrTail) },
      });
    this.#scheduleRestart(error);
  }

  #fail(error: FamiliarError): void {
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#watchdog = null;
    this.setState('failed', { error });
  }

  #scheduleRestart(error: FamiliarError): void {
    const { restartInitialMs, restartMaxMs, restartJitter } = this.#options.supervision;
    const delay = backoffDelay(this.#attempt, { initialMs: restartInitialMs, maxMs: restartMaxMs, jitter: restartJitter }, this.#options.random);
    this.#attempt += 1;
    this.restarts += 1;
    this.setState('restarting', { error, retryInMs: delay });
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null;
      if (this.#stopping || this.state === 'stopped' || this.state === 'failed') return;
      this.setState('starting');
      this.#spawn();
    }, delay);
  }

  #checkStall(): void {
    const child = this.#child;
    if (!child || this.#killReason || this.#stopping) return;
    const now = Date.now();
    const { startTimeoutMs, stallTimeoutMs } = this.#options.supervision;
    let reason: string | null = null;
    if (!this.#gotFrame && now - this.#startedAt > startTimeoutMs) reason = `no first frame within ${startTimeoutMs} ms`;
    else if (this.#gotFrame && now - this.#lastFrameAt > stallTimeoutMs) reason = `no frame for ${stallTimeoutMs} ms`;
    if (!reason) return;
    const tail = lastLines(this.#stderrTail, 3);
    this.#killReason = new FamiliarError('CAMERA_TIMEOUT', `camera ${this.id}: ${reason}${tail ? ` (${this.#command.tool}: ${tail})` : ''}`);
    this.setState('stalled', { error: this.#killReason });
    this.#killGroup(child, 'SIGKILL');
  }

  #killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // Already gone, or the group leader exited: fall back to the child itself.
      try {
        child.kill(signal);
      } catch {
        // gone
      }
    }
  }

  #accumulate(): void {
    const s = this.#splitter.stats;
    this.#totals.frames += s.frames;
    this.#totals.discardedBytes += s.discardedBytes;
    this.#totals.brokenFrames += s.brokenFrames;
  }
}

function lastLines(text: string, n: number): string {
  return redactUrl(text.trim().split('\n').slice(-n).join(' | ').trim());
}
