/**
 * A small test client for the dialogue WebSocket protocol. Every message the server sends is checked
 * against the published server-message schema, so the tests also prove the schema describes the wire.
 */
import WebSocket from 'ws';
import { expect } from 'vitest';
import type { EventMessage, ResultErrorMessage, ResultOkMessage, ServerMessage } from '@familiar/contracts';
import { ServerMessageSchema } from '@familiar/dialogue';

export interface Closed {
  code: number;
  reason: string;
}

export interface Exchange<R = unknown> {
  events: EventMessage['event'][];
  result: ResultOkMessage<R> | ResultErrorMessage;
}

export class TestClient {
  readonly messages: ServerMessage[] = [];
  readonly closed: Promise<Closed>;
  private nextId = 1;
  private waiters: { test: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void; reject: (e: Error) => void }[] = [];
  private cursor = 0;
  readonly schemaErrors: string[] = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as ServerMessage;
      const check = ServerMessageSchema.safeParse(msg);
      if (!check.success) this.schemaErrors.push(`${JSON.stringify(msg).slice(0, 200)}: ${check.error.message}`);
      this.messages.push(msg);
      this.waiters = this.waiters.filter((w) => {
        if (!w.test(msg)) return true;
        w.resolve(msg);
        return false;
      });
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.closed.then(() => {
      for (const w of this.waiters) w.reject(new Error('connection closed'));
      this.waiters = [];
    });
  }

  /** Opens a connection and, with a token, authenticates (expects auth_ok). */
  static async connect(url: string, token?: string, options: WebSocket.ClientOptions = {}): Promise<TestClient> {
    const ws = new WebSocket(url, options);
    const client = new TestClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const first = await client.waitFor((m) => m.type === 'auth_required');
    if (first.type !== 'auth_required') throw new Error('expected auth_required');
    if (token !== undefined) {
      client.send({ type: 'auth', access_token: token });
      const reply = await client.waitFor((m) => m.type === 'auth_ok' || m.type === 'auth_invalid');
      if (reply.type !== 'auth_ok') throw new Error(`authentication failed: ${JSON.stringify(reply)}`);
    }
    return client;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** The first message (already received or future) after the ones consumed so far that passes `test`. */
  waitFor(test: (m: ServerMessage) => boolean, timeoutMs = 10_000): Promise<ServerMessage> {
    for (let i = this.cursor; i < this.messages.length; i++) {
      if (test(this.messages[i]!)) {
        this.cursor = i + 1;
        return Promise.resolve(this.messages[i]!);
      }
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for a message; got ${JSON.stringify(this.messages.slice(-3))}`)), timeoutMs);
      this.waiters.push({
        test,
        resolve: (m) => {
          clearTimeout(timer);
          this.cursor = this.messages.length;
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  /** Sends a command with the next id. */
  command(cmd: Record<string, unknown>): number {
    const id = this.nextId++;
    this.send({ id, ...cmd });
    return id;
  }

  /** Sends a command and collects its events until its result. */
  async request<R = unknown>(cmd: Record<string, unknown>, timeoutMs = 10_000): Promise<Exchange<R>> {
    return this.exchange<R>(this.command(cmd), timeoutMs);
  }

  /** Events and result of an already-sent command id. */
  async exchange<R = unknown>(id: number, timeoutMs = 10_000): Promise<Exchange<R>> {
    const result = (await this.resultOf(id, timeoutMs)) as ResultOkMessage<R> | ResultErrorMessage;
    const events = this.messages.filter((m): m is EventMessage => m.type === 'event' && m.id === id).map((m) => m.event);
    return { events, result };
  }

  resultOf(id: number, timeoutMs = 10_000): Promise<ServerMessage> {
    const existing = this.messages.find((m) => m.type === 'result' && m.id === id);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no result for id ${id}`)), timeoutMs);
      this.waiters.push({
        test: (m) => m.type === 'result' && m.id === id,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  /** Skips ids, e.g. to test the increasing-id rule. */
  setNextId(id: number): void {
    this.nextId = id;
  }

  close(): void {
    this.ws.close();
  }
}

/** The clients one test opened: closed after it, each checked to have received only schema-valid messages. */
export class TestClients {
  readonly #open: TestClient[] = [];

  async connect(url: string, token?: string, options: WebSocket.ClientOptions = {}): Promise<TestClient> {
    const c = await TestClient.connect(url, token, options);
    this.#open.push(c);
    return c;
  }

  closeAll(): void {
    for (const c of this.#open.splice(0)) {
      expect(c.schemaErrors).toEqual([]);
      c.close();
    }
  }
}

export function ok<R>(ex: Exchange<R>): R {
  if (!ex.result.success) throw new Error(`expected success, got ${JSON.stringify(ex.result.error)}`);
  return ex.result.result;
}

/** The text an ask streamed in its delta events. */
export function deltaText(ex: Exchange): string {
  return ex.events.map((e) => (e.kind === 'delta' ? e.text : '')).join('');
}

export function errorCode(ex: Exchange): string | undefined {
  return ex.result.success ? undefined : ex.result.error.code;
}
