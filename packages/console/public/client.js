// @ts-check
/**
 * The dialogue protocol from the browser (README.md, "WebSocket protocol"): auth handshake, commands with
 * strictly increasing ids, results, streamed events, subscriptions.
 *
 * @typedef {import('../../contracts/src/protocol.ts').ServerMessage} ServerMessage
 * @typedef {import('../../contracts/src/protocol.ts').ServerEvent} ServerEvent
 * @typedef {import('../../contracts/src/protocol.ts').ClientRole} ClientRole
 * @typedef {import('../../contracts/src/protocol.ts').CommandType} CommandType
 * @typedef {import('../../contracts/src/protocol.ts').CommandResults} CommandResults
 */
/**
 * @template {CommandType} T
 * @typedef {import('../../contracts/src/protocol.ts').CommandInput<T>} CommandInput
 */

/** A failed command or connection, with the protocol's error code (or a client-side one). */
export class ProtocolError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
  }
}

/**
 * Whether a failure is one the views need not report: a lost connection (the connection badge shows it) or a
 * rate limit (it passes by itself).
 * @param {unknown} err
 */
export const quietly = (err) => err instanceof ProtocolError && (err.code === 'DISCONNECTED' || err.code === 'RATE_LIMITED');

/**
 * @typedef {object} Pending
 * @property {(result: unknown) => void} resolve
 * @property {(err: ProtocolError) => void} reject
 * @property {((event: ServerEvent) => void) | undefined} onEvent
 * @property {boolean} keep  subscriptions keep receiving events after their result
 */

/**
 * Whether a token sent to `url` would cross a network in clear text: plain ws:// to a host other than this
 * machine (loopback names and addresses are fine without TLS).
 * @param {string} url
 */
export function sendsTokenInClear(url) {
  const u = new URL(url);
  if (u.protocol !== 'ws:') return false;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return !(host === 'localhost' || host === '::1' || /^127\./.test(host));
}

/** The WebSocket URL of the page's own origin at the path index.html names. */
export function serviceUrl() {
  const meta = /** @type {HTMLMetaElement | null} */ (document.querySelector('meta[name="familiar-ws-path"]'));
  const url = new URL(meta?.content || '/ws', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.href;
}

export class FamiliarClient {
  /** @type {WebSocket | null} */
  #ws = null;
  #nextId = 1;
  /** @type {Map<number, Pending>} */
  #pending = new Map();
  /** @type {ClientRole | null} */
  role = null;
  /** @type {string | null} the household member the token belongs to (auth_ok), if any */
  member = null;
  /** Called once when an authenticated connection ends (not after close()). */
  /** @type {((ev: CloseEvent) => void) | null} */
  onclose = null;

  /** @param {string} url */
  constructor(url) {
    this.url = url;
  }

  /**
   * Opens the connection and authenticates.
   * @param {string} token
   * @returns {Promise<ClientRole>} the role from auth_ok
   */
  connect(token) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.#ws = ws;
      this.#nextId = 1;
      let authenticated = false;
      /** @type {string | null} */
      let refusal = null;
      ws.onmessage = (ev) => {
        /** @type {ServerMessage} */
        let msg;
        try {
          msg = JSON.parse(String(ev.data));
        } catch {
          return;
        }
        if (authenticated) return this.#dispatch(msg);
        if (msg.type === 'auth_required') ws.send(JSON.stringify({ type: 'auth', access_token: token }));
        else if (msg.type === 'auth_ok') {
          authenticated = true;
          this.role = msg.role;
          this.member = msg.member ?? null;
          resolve(msg.role);
        } else if (msg.type === 'auth_invalid') refusal = msg.message;
      };
      ws.onclose = (ev) => {
        for (const p of this.#pending.values()) p.reject(new ProtocolError('DISCONNECTED', 'the connection to Familiar was lost'));
        this.#pending.clear();
        if (!authenticated) {
          reject(refusal !== null ? new ProtocolError('AUTH_INVALID', refusal) : new ProtocolError('UNREACHABLE', 'cannot reach Familiar'));
        } else if (this.#ws === ws) {
          this.#ws = null;
          this.onclose?.(ev);
        }
      };
    });
  }

  get connected() {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  /** Bytes queued but not yet sent: how far an upload has got. */
  get bufferedAmount() {
    return this.#ws?.bufferedAmount ?? 0;
  }

  /**
   * Sends a command; returns its id at once and its result as a promise (rejected with the server's error),
   * typed by the command's type (CommandResults in the contracts).
   * @template {CommandType} T
   * @param {CommandInput<T>} command
   * @param {{ onEvent?: (event: ServerEvent) => void, keep?: boolean }} [options]
   * @returns {{ id: number, result: Promise<CommandResults[T]> }}
   */
  start(command, options = {}) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return { id: 0, result: Promise.reject(new ProtocolError('DISCONNECTED', 'not connected to Familiar')) };
    const id = this.#nextId++;
    /** @type {Promise<CommandResults[T]>} */
    const result = new Promise((resolve, reject) =>
      this.#pending.set(id, { resolve: (r) => resolve(/** @type {CommandResults[T]} */ (r)), reject, onEvent: options.onEvent, keep: options.keep ?? false }),
    );
    ws.send(JSON.stringify({ ...command, id }));
    return { id, result };
  }

  /**
   * @template {CommandType} T
   * @param {CommandInput<T>} command
   * @param {{ onEvent?: (event: ServerEvent) => void }} [options]
   * @returns {Promise<CommandResults[T]>}
   */
  request(command, options) {
    return this.start(command, options).result;
  }

  /**
   * Subscribes to scene events (all cameras).
   * @param {(event: ServerEvent) => void} onEvent
   */
  subscribeScene(onEvent) {
    return this.start({ type: 'scene/subscribe' }, { onEvent, keep: true }).result;
  }

  /** Ends the connection without calling onclose. */
  close() {
    const ws = this.#ws;
    this.#ws = null;
    ws?.close(1000, 'signed out');
  }

  /** @param {ServerMessage} msg */
  #dispatch(msg) {
    if (!('id' in msg) || msg.id === null) {
      if (msg.type === 'result' && !msg.success) console.warn('Familiar refused a message:', msg.error.message);
      return;
    }
    const pending = this.#pending.get(msg.id);
    if (!pending) return;
    if (msg.type === 'event') pending.onEvent?.(msg.event);
    else if (msg.type === 'pong') {
      this.#pending.delete(msg.id);
      pending.resolve(undefined);
    } else if (msg.type === 'result') {
      if (!pending.keep || !msg.success) this.#pending.delete(msg.id);
      if (msg.success) pending.resolve(msg.result);
      else pending.reject(new ProtocolError(msg.error.code, msg.error.message));
    }
  }
}
