/** Counters of what the splitter threw away. */
export interface SplitterStats {
  frames: number;
  /** Bytes outside any JPEG (noise between frames, a garbage stream). */
  discardedBytes: number;
  /** Frames abandoned because they grew past maxFrameBytes without an end marker, or had a broken header. */
  brokenFrames: number;
}

// Markers without a length field: TEM, RST0-7, SOI, EOI.
const isStandalone = (m: number): boolean => m === 0x01 || (m >= 0xd0 && m <= 0xd9);
const SOS = 0xda;
const EOI = Buffer.from([0xff, 0xd9]);
const SOI = Buffer.from([0xff, 0xd8]);

/**
 * Cuts a continuous MJPEG byte stream (ffmpeg/GStreamer `image2pipe`/`fdsink` output) into JPEGs.
 *
 * The header is walked segment by segment up to the start of scan, so an EXIF thumbnail (a whole JPEG
 * inside APP1, with its own end marker) cannot end the frame early; after SOS, 0xFF is byte-stuffed, so
 * the first FFD9 is the end. Memory is bounded: at most maxFrameBytes (+ one chunk) is ever held.
 */
export class MjpegSplitter {
  readonly stats: SplitterStats = { frames: 0, discardedBytes: 0, brokenFrames: 0 };
  readonly #maxFrameBytes: number;
  // Bytes live in #buf[#start, #end); the buffer grows by doubling and is compacted lazily, so feeding
  // tiny chunks stays linear instead of re-copying the pending frame on every push.
  #buf: Buffer = Buffer.alloc(64 * 1024);
  #start = 0;
  #end = 0;
  /** Offset (relative to #start) where the end-marker search resumes once the header is parsed; -1 while parsing it. */
  #scanFrom = -1;

  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Bytes currently held (an incomplete frame). */
  get pendingBytes(): number {
    return this.#end - this.#start;
  }

  /** Feeds a chunk; returns the JPEGs it completed (copies, safe to keep). */
  push(chunk: Uint8Array): Uint8Array[] {
    this.#append(chunk);
    const frames: Uint8Array[] = [];
    for (;;) {
      const data = this.#buf.subarray(this.#start, this.#end);
      // A frame under way always starts at #start; find an SOI otherwise.
      if (this.#scanFrom < 0 && !startsWithSoi(data)) {
        const soi = data.indexOf(SOI);
        // No SOI: keep the last two bytes, they may be the start of one split across chunks.
        const skip = soi < 0 ? Math.max(0, data.length - 2) : soi;
        this.#discard(skip);
        if (soi < 0) break;
        continue;
      }
      if (this.#scanFrom < 0) {
        const header = scanHeader(data);
        if (header === 'broken') {
          this.stats.brokenFrames += 1;
          this.#discard(2);
          continue;
        }
        if (header === 'incomplete') {
          if (data.length > this.#maxFrameBytes) this.#abandon();
          break;
        }
        this.#scanFrom = header;
      }
      const eoi = data.indexOf(EOI, this.#scanFrom);
      // FFD8 cannot occur in entropy-coded data: a new SOI before the end means this frame was cut short.
      const nextSoi = data.indexOf(SOI, this.#scanFrom);
      if (nextSoi >= 0 && (eoi < 0 || nextSoi < eoi)) {
        this.stats.brokenFrames += 1;
        this.#scanFrom = -1;
        this.#discard(nextSoi);
        continue;
      }
      if (eoi < 0) {
        if (data.length > this.#maxFrameBytes) {
          this.#abandon();
          continue;
        }
        // Resume where this search stopped (an FF at the very end may be half of the marker).
        this.#scanFrom = Math.max(this.#scanFrom, data.length - 2);
        break;
      }
      frames.push(new Uint8Array(data.subarray(0, eoi + 2)));
      this.stats.frames += 1;
      this.#start += eoi + 2;
      this.#scanFrom = -1;
    }
    return frames;
  }

  #append(chunk: Uint8Array): void {
    const pending = this.#end - this.#start;
    if (this.#end + chunk.length > this.#buf.length) {
      if (pending + chunk.length <= this.#buf.length / 2) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        const next = Buffer.alloc(Math.max(this.#buf.length * 2, pending + chunk.length));
        this.#buf.copy(next, 0, this.#start, this.#end);
        this.#buf = next;
      }
      this.#start = 0;
      this.#end = pending;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  #discard(n: number): void {
    this.stats.discardedBytes += n;
    this.#start += n;
    if (this.#start === this.#end) this.#start = this.#end = 0;
  }

  #abandon(): void {
    this.stats.brokenFrames += 1;
    this.#discard(this.#end - this.#start);
    this.#scanFrom = -1;
    // Give back a buffer that a huge broken frame inflated.
    if (this.#buf.length > 4 * 64 * 1024) this.#buf = Buffer.alloc(64 * 1024);
  }
}

function startsWithSoi(buf: Buffer): boolean {
  return buf.length >= 2 && buf[0] === 0xff && buf[1] === 0xd8;
}

/** Walks marker segments after SOI; returns the offset of the entropy-coded data after SOS. */
function scanHeader(buf: Buffer): number | 'incomplete' | 'broken' {
  let pos = 2;
  for (;;) {
    if (pos + 2 > buf.length) return 'incomplete';
    if (buf[pos] !== 0xff) return 'broken';
    const marker = buf[pos + 1]!;
    if (marker === 0xff) {
      pos += 1; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0xd9 || marker === 0x00) return 'broken';
    if (isStandalone(marker)) {
      pos += 2;
      continue;
    }
    if (pos + 4 > buf.length) return 'incomplete';
    const length = buf.readUInt16BE(pos + 2);
    if (length < 2) return 'broken';
    pos += 2 + length;
    if (marker === SOS) return pos;
  }
}
