import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { Duplex } from 'node:stream';
import { FamiliarError } from '@familiar/contracts';

/** A message from the dialogue server (only the fields the benchmark looks at). */
export interface ServerMessage {
  type: string;
  id?: number | null;
  success?: boolean;
  [field: string]: unknown;
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** A benchmark client never expects a message this large; more is a broken stream. */
const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
const MAX_INBOX = 64;

/**
 * A minimal WebSocket client (RFC 6455 text frames over node:http) for the benchmark's load and round-trip
 * probes. The `ws` library belongs to the dialogue package (the server side); a client this small keeps the
 * runtime from depending on it, and adds nothing to the round trip it measures.
 */
export class WsProbe {
  readonly #socket: Duplex;
  #buffer: Buffer = Buffer.alloc(0);
  #fragments: Buffer[] = [];
  #waiters: { test: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void; reject: (e: Error) => void }[] = [];
  #inbox: ServerMessage[] = [];
  #nextId = 1;
  #closed = false;
  /** Scene events received (for the load clients). */
  events = 0;

  private constructor(socket: Duplex, head: Buffer) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('close', () => this.#fail(new FamiliarError('INTERNAL', 'WebSocket closed')));
    socket.on('error', (err) => this.#fail(new FamiliarError('INTERNAL', `WebSocket error: ${err.message}`, { cause: err })));
    if (head.length) this.#receive(head);
  }

  /** Connects to `url` (ws://host:port/path) and authenticates with `token`. */
  static async connect(url: string, token: string, timeoutMs = 10_000): Promise<WsProbe> {
    const u = new URL(url);
    const key = randomBytes(16).toString('base64');
    const probe = await new Promise<WsProbe>((resolve, reject) => {
      const req = request({
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        timeout: timeoutMs,
        headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': key, 'Sec-WebSocket-Version': '13' },
      });
      req.on('upgrade', (res, socket, head) => {
        const expected = createHash('sha1').update(key + WS_GUID).digest('base64');
        if (res.headers['sec-websocket-accept'] !== expected) {
          socket.destroy();
          reject(new FamiliarError('INTERNAL', 'WebSocket handshake: wrong Sec-WebSocket-Accept'));
          return;
        }
        (socket as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
        resolve(new WsProbe(socket, head));
      });
      req.on('response', (res) => {
        res.resume();
        reject(new FamiliarError('INTERNAL', `WebSocket upgrade refused: HTTP ${res.statusCode}`));
      });
      req.on('timeout', () => req.destroy(new Error('connect timed out')));
      req.on('error', (err) => reject(new FamiliarError('INTERNAL', `WebSocket connect failed: ${err.message}`, { cause: err })));
      req.end();
    });
    await probe.waitFor((m) => m.type === 'auth_required', timeoutMs);
    probe.send({ type: 'auth', access_token: token });
    const reply = await probe.waitFor((m) => m.type === 'auth_ok' || m.type === 'auth_invalid', timeoutMs);
    if (reply.type !== 'auth_ok') {
      probe.close();
      throw new FamiliarError('AUTH_INVALID', 'benchmark client: authentication failed');
    }
    return probe;
  }

  send(message: Record<string, unknown>): void {
    const payload = Buffer.from(JSON.stringify(message));
    const mask = randomBytes(4);
    const len = payload.length;
    const header = len < 126 ? Buffer.alloc(2) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
    header[0] = 0x81;
    if (len < 126) header[1] = 0x80 | len;
    else if (len < 65536) {
      header[1] = 0x80 | 126;
      header.writeUInt16BE(len, 2);
    } else {
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(len), 2);
    }
    for (let i = 0; i < len; i++) payload[i] = payload[i]! ^ mask[i & 3]!;
    this.#socket.write(Buffer.concat([header, mask, payload]));
  }

  /** Sends a command with the next id and resolves with its reply (a result, or a pong). */
  request(command: Record<string, unknown>, timeoutMs = 10_000): Promise<ServerMessage> {
    const id = this.#nextId++;
    const reply = this.waitFor((m) => m.id === id && (m.type === 'result' || m.type === 'pong'), timeoutMs);
    this.send({ id, ...command });
    return reply;
  }

  /** The first message, already received or still to come, that passes `test`. */
  waitFor(test: (m: ServerMessage) => boolean, timeoutMs = 10_000): Promise<ServerMessage> {
    const held = this.#inbox.findIndex(test);
    if (held >= 0) return Promise.resolve(this.#inbox.splice(held, 1)[0]!);
    if (this.#closed) return Promise.reject(new FamiliarError('INTERNAL', 'WebSocket closed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new FamiliarError('INTERNAL', `no reply from the server in ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = {
        test,
        resolve: (m: ServerMessage) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // A close frame (masked, empty), then end: the server sees a clean close.
    this.#socket.end(Buffer.from([0x88, 0x80, 0, 0, 0, 0]));
  }

  #receive(chunk: Buffer): void {
    this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, chunk]) : chunk;
    for (;;) {
      const b = this.#buffer;
      if (b.length < 2) return;
      const fin = (b[0]! & 0x80) !== 0;
      const opcode = b[0]! & 0x0f;
      let len = b[1]! & 0x7f;
      let offset = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        offset = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        offset = 10;
      }
      if (len > MAX_MESSAGE_BYTES) {
        this.#socket.destroy();
        return;
      }
      if (b.length < offset + len) return;
      const payload = b.subarray(offset, offset + len);
      this.#buffer = b.subarray(offset + len);
      if (opcode === 0x9) this.#control(0x8a, payload);
      else if (opcode === 0x8) this.close();
      else if (opcode === 0x1 || opcode === 0x0) {
        this.#fragments.push(Buffer.from(payload));
        if (fin) {
          const text = Buffer.concat(this.#fragments).toString('utf8');
          this.#fragments = [];
          this.#deliver(JSON.parse(text) as ServerMessage);
        }
      }
    }
  }

  /** Answers a server ping (the dialogue server's heartbeat) with a pong carrying the same payload. */
  #control(first: number, payload: Buffer): void {
    const mask = randomBytes(4);
    const masked = Buffer.from(payload);
    for (let i = 0; i < masked.length; i++) masked[i] = masked[i]! ^ mask[i & 3]!;
    this.#socket.write(Buffer.concat([Buffer.from([first, 0x80 | masked.length]), mask, masked]));
  }

  #deliver(msg: ServerMessage): void {
    if (msg.type === 'event') this.events++;
    const i = this.#waiters.findIndex((w) => w.test(msg));
    if (i >= 0) this.#waiters.splice(i, 1)[0]!.resolve(msg);
    else if (msg.type !== 'event') {
      // Held for a later waitFor (the greeting can arrive before anyone waits for it); bounded, oldest first out.
      this.#inbox.push(msg);
      if (this.#inbox.length > MAX_INBOX) this.#inbox.shift();
    }
  }

  #fail(err: Error): void {
    this.#closed = true;
    for (const w of this.#waiters) w.reject(err);
    this.#waiters = [];
  }
}
