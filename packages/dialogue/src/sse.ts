/** One dispatched server-sent event (the `data` lines joined with "\n"). */
export interface SseEvent {
  event: string;
  data: string;
  id: string | undefined;
}

/**
 * Incremental parser for text/event-stream as the WHATWG spec defines it: lines end in CRLF, LF or CR;
 * `field: value` with one optional space stripped; lines starting with ':' are comments (keep-alives);
 * several `data` lines form one event; a blank line dispatches. Feed decoded text in any chunking.
 */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private id: string | undefined;
  /** A chunk ended with CR: a following LF belongs to the same line break. */
  private pendingCr = false;

  constructor(
    private readonly onEvent: (e: SseEvent) => void,
    /** Longest line kept while waiting for its end; bounds memory on a stream with no line breaks. */
    private readonly maxLineChars = 1024 * 1024,
  ) {}

  /** Parses `chunk`; throws RangeError when one line exceeds the bound. */
  push(chunk: string): void {
    let text = chunk;
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.pendingCr = false;
    this.buffer += text;
    let start = 0;
    for (;;) {
      const cr = this.buffer.indexOf('\r', start);
      const lf = this.buffer.indexOf('\n', start);
      if (cr < 0 && lf < 0) break;
      const end = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
      this.line(this.buffer.slice(start, end));
      if (this.buffer[end] === '\r') {
        if (end + 1 === this.buffer.length) {
          this.pendingCr = true;
          start = end + 1;
          break;
        }
        start = this.buffer[end + 1] === '\n' ? end + 2 : end + 1;
      } else {
        start = end + 1;
      }
    }
    this.buffer = this.buffer.slice(start);
    if (this.buffer.length > this.maxLineChars) throw new RangeError(`an event-stream line exceeds ${this.maxLineChars} characters`);
  }

  /** End of stream: a final event without its blank line is discarded, as the spec says. */
  end(): void {
    if (this.buffer.length > 0) this.line(this.buffer);
    this.buffer = '';
    this.data = [];
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) this.onEvent({ event: this.event || 'message', data: this.data.join('\n'), id: this.id });
      this.data = [];
      this.event = '';
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    // 'retry' and unknown fields are ignored.
  }
}
