import { FamiliarError, type EncodedFrame } from '@familiar/contracts';
import type { FrameSource } from './source.ts';

/** Invariant: captured = processed + dropped + (1 if a frame is waiting, else 0). */
export interface MailboxCounters {
  /** Frames offered by the source. */
  captured: number;
  /** Frames handed to the consumer. */
  processed: number;
  /** Frames over the fps cap, replaced by a newer one before being taken, or left at close(). */
  dropped: number;
}

export interface FrameMailboxOptions {
  /** Frame-rate cap, on the frames' capturedAt. */
  fps: number;
  /** Subscribe to this source's frames (else call put() yourself). */
  source?: FrameSource;
}

interface Waiter {
  resolve: (frame: EncodedFrame) => void;
  reject: (err: FamiliarError) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

// The bucket holds up to this many frames' worth of credit, so a late frame's surplus pays for the next
// early one: a camera running at the cap with jitter is not halved. The long-run rate still never
// exceeds the cap (at most this much of a one-off burst).
const BUCKET_CAPACITY = 1.5;

/**
 * One camera's hand-off to the (slower) perception pipeline: latest frame wins. It holds at most one
 * frame, so a slow consumer costs drops, never memory; frames above the fps cap are dropped on arrival
 * (a token bucket), before anybody decodes them.
 */
export class FrameMailbox {
  readonly #fps: number;
  readonly #counters: MailboxCounters = { captured: 0, processed: 0, dropped: 0 };
  #slot: EncodedFrame | null = null;
  #waiters: Waiter[] = [];
  #tokens = 1;
  #lastAt: number | null = null;
  #closed = false;
  #detach: (() => void) | null = null;

  constructor(options: FrameMailboxOptions) {
    if (!(options.fps > 0) || !Number.isFinite(options.fps)) throw new FamiliarError('INPUT_INVALID', `fps must be a positive number, got ${options.fps}`);
    this.#fps = options.fps;
    if (options.source) {
      const source = options.source;
      const onFrame = (f: EncodedFrame): void => {
        this.put(f);
      };
      source.on('frame', onFrame);
      this.#detach = () => source.off('frame', onFrame);
    }
  }

  /** A snapshot of the counters. */
  get counters(): MailboxCounters {
    return { ...this.#counters };
  }

  /** Whether a frame is waiting. */
  get pending(): boolean {
    return this.#slot !== null;
  }

  /** Offers a frame; false when it was dropped by the rate cap (or the mailbox is closed). */
  put(frame: EncodedFrame): boolean {
    this.#counters.captured += 1;
    if (this.#closed || !this.#admit(frame.capturedAt)) {
      this.#counters.dropped += 1;
      return false;
    }
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#settle(waiter);
      this.#counters.processed += 1;
      waiter.resolve(frame);
      return true;
    }
    if (this.#slot) this.#counters.dropped += 1;
    this.#slot = frame;
    return true;
  }

  /** The waiting frame, if any, without waiting. */
  poll(): EncodedFrame | null {
    const frame = this.#slot;
    if (frame) {
      this.#slot = null;
      this.#counters.processed += 1;
    }
    return frame;
  }

  /** The next frame: the waiting one, else the next admitted. Rejects with CANCELLED on abort or close(). */
  take(signal?: AbortSignal): Promise<EncodedFrame> {
    const frame = this.poll();
    if (frame) return Promise.resolve(frame);
    if (this.#closed) return Promise.reject(new FamiliarError('CANCELLED', 'the frame mailbox is closed'));
    if (signal?.aborted) return Promise.reject(new FamiliarError('CANCELLED', 'waiting for a frame was cancelled'));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          reject(new FamiliarError('CANCELLED', 'waiting for a frame was cancelled'));
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Frames until close() or abort. */
  async *frames(signal?: AbortSignal): AsyncGenerator<EncodedFrame> {
    for (;;) {
      try {
        yield await this.take(signal);
      } catch (err) {
        if (err instanceof FamiliarError && err.code === 'CANCELLED') return;
        throw err;
      }
    }
  }

  /** Detaches from the source, drops the waiting frame and wakes every waiter with CANCELLED. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#detach?.();
    if (this.#slot) {
      this.#slot = null;
      this.#counters.dropped += 1;
    }
    for (const w of this.#waiters.splice(0)) {
      this.#settle(w);
      w.reject(new FamiliarError('CANCELLED', 'the frame mailbox is closed'));
    }
  }

  #admit(at: number): boolean {
    if (this.#lastAt !== null) this.#tokens = Math.min(BUCKET_CAPACITY, this.#tokens + (Math.max(0, at - this.#lastAt) * this.#fps) / 1000);
    this.#lastAt = at;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  #settle(w: Waiter): void {
    w.signal?.removeEventListener('abort', w.onAbort);
  }
}
