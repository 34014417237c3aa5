import { EventEmitter } from 'node:events';
import { FamiliarError, type EncodedFrame } from '@familiar/contracts';

/**
 * Life cycle of a source. `starting` → `streaming` on the first frame; `stalled` when frames stop;
 * `restarting` while waiting out the back-off; `stopped` after stop() or the end of a play-once replay;
 * `failed` is terminal (missing tool, missing device, bad configuration) and carries the error.
 */
export type SourceState = 'starting' | 'streaming' | 'stalled' | 'restarting' | 'stopped' | 'failed';

export interface SourceStatus {
  cameraId: string;
  state: SourceState;
  /** Epoch milliseconds of the change. */
  at: number;
  /** Why: set for `failed`, and for `restarting`/`stalled` (what went wrong with the last attempt). */
  error?: FamiliarError;
  /** Restarts since start(). */
  restarts: number;
  /** Delay before the next attempt, for `restarting`. */
  retryInMs?: number;
}

/** Events of a {@link FrameSource}. */
export interface FrameSourceEvents {
  frame: [EncodedFrame];
  status: [SourceStatus];
}

/**
 * A camera. Push-based: listen to `frame` and `status`, then call start(). Sources never throw after
 * start() and never crash the process; they report trouble through `status` and keep trying unless
 * the trouble is permanent (`failed`). Frames are delivered as fast as the camera produces them; put a
 * {@link FrameMailbox} in front of slow consumers (it caps the rate and keeps only the latest frame).
 */
export interface FrameSource {
  readonly id: string;
  readonly state: SourceState;
  start(): void;
  /** Stops capturing, ends child processes and resolves when they are gone. Idempotent. */
  stop(): Promise<void>;
  on<E extends keyof FrameSourceEvents>(event: E, listener: (...args: FrameSourceEvents[E]) => void): this;
  off<E extends keyof FrameSourceEvents>(event: E, listener: (...args: FrameSourceEvents[E]) => void): this;
  once<E extends keyof FrameSourceEvents>(event: E, listener: (...args: FrameSourceEvents[E]) => void): this;
}

/** Shared bookkeeping of every adapter: sequence numbers, state changes and their events. */
export abstract class BaseFrameSource extends EventEmitter<FrameSourceEvents> implements FrameSource {
  readonly id: string;
  #state: SourceState = 'stopped';
  #seq = 0;
  protected restarts = 0;

  constructor(id: string) {
    super();
    this.id = id;
  }

  get state(): SourceState {
    return this.#state;
  }

  abstract start(): void;
  abstract stop(): Promise<void>;

  protected emitFrame(jpeg: Uint8Array): void {
    if (this.#state === 'stopped' || this.#state === 'failed') return;
    if (this.#state !== 'streaming') this.setState('streaming');
    this.#seq += 1;
    this.#safeEmit('frame', { cameraId: this.id, seq: this.#seq, capturedAt: Date.now(), jpeg });
  }

  protected setState(state: SourceState, extra: { error?: FamiliarError; retryInMs?: number } = {}): void {
    this.#state = state;
    const status: SourceStatus = { cameraId: this.id, state, at: Date.now(), restarts: this.restarts };
    if (extra.error) status.error = extra.error;
    if (extra.retryInMs !== undefined) status.retryInMs = extra.retryInMs;
    this.#safeEmit('status', status);
  }

  #safeEmit<E extends keyof FrameSourceEvents>(event: E, ...args: FrameSourceEvents[E]): void {
    try {
      (this.emit as (e: E, ...a: FrameSourceEvents[E]) => boolean)(event, ...args);
    } catch (err) {
      // A consumer's bug must not stop the capture loop (or, thrown from a pipe handler, the process).
      process.emitWarning(`camera ${this.id}: a ${event} listener threw: ${err instanceof Error ? err.message : String(err)}`, 'FamiliarCameraWarning');
    }
  }

  /** Reports a permanent failure on the next tick, so listeners attached right after start() still hear it. */
  protected failSoon(error: FamiliarError): void {
    this.#state = 'failed';
    queueMicrotask(() => this.setState('failed', { error }));
  }
}

/** Exponential back-off with ± jitter, capped. `attempt` counts from 0. */
export function backoffDelay(attempt: number, policy: { initialMs: number; maxMs: number; jitter: number }, random = Math.random): number {
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt, 30));
  const jittered = base * (1 + policy.jitter * (2 * random() - 1));
  return Math.round(Math.min(policy.maxMs, Math.max(0, jittered)));
}

/** Hides passwords in urls (rtsp://user:secret@host) before text reaches a message or a log. */
export function redactUrl(text: string): string {
  return text.replace(/(\/\/[^/\s:@]*:)[^@/\s]*@/g, '$1***@');
}
