import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { BlockList, isIPv4, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { z } from 'zod';
import {
  CLOSE_CODES,
  FamiliarError,
  PROTOCOL_VERSION,
  HA_API_VERSION,
  HA_WEBSOCKET_PATH,
  silentLogger,
  toFamiliarError,
  type ErrorCode,
  type Logger,
  type SceneEvent,
  type ReminderEvent,
  type ServerMessage,
} from '@familiar/contracts';
import { AccessTokenConfig, LvlmConfig, ServerConfig, formatZodError } from '@familiar/config';
import { DEFAULT_IMAGE_LIMITS, assertLabelFont, type ImageLimits } from '@familiar/image';
import { loadMessages } from '@familiar/language';
import { Asker } from './ask.ts';
import { ConversationStore } from './conversations.ts';
import { AuthFailureLimiter, TokenBucket, TokenVerifier, sha256, type Principal } from './auth.ts';
import type { DialogueBackend } from './backend.ts';
import { AskSlots, admitCommand, commandTable, type CommandServices, type CommandSession } from './commands.ts';
import { createLvlmClient, type ChatModel } from './lvlm.ts';
import { toWireReminder } from './memory-wire.ts';
import { ReminderInbox, type ReminderInboxStore } from './reminders.ts';
import { MAX_AUTH_MESSAGE_BYTES, MAX_JSON_DEPTH, nestsDeeperThan, widerThan } from './json-guard.ts';
import { redactCredentials, clientSafeMessage } from './redact.ts';
import { AddressSlots } from './slots.ts';
import { AuthSchema } from './schema.ts';
import { toWireSceneEvent } from './wire.ts';

export interface DialogueServerOptions {
  backend: DialogueBackend;
  /** The `server` config section (defaults filled in for missing fields). */
  server?: z.input<typeof ServerConfig>;
  /** The `lvlm` config section (defaults filled in for missing fields). */
  lvlm?: z.input<typeof LvlmConfig>;
  /** Overrides the client built from `lvlm` (null = grounded responder only). */
  chatModel?: ChatModel | null;
  /** Byte/pixel limits for uploaded images (the `limits` config section). */
  imageLimits?: ImageLimits;
  /** Handles plain HTTP requests on the same port (the web console); default: 404 / 426. */
  httpHandler?: (req: IncomingMessage, res: ServerResponse) => void;
  /** Where the server reports (it never writes to the console itself). */
  log?: Logger;
  env?: NodeJS.ProcessEnv;
  /** Where fired reminders wait for their member's next answer across restarts; absent: in memory only. */
  reminderInbox?: ReminderInboxStore;
}

export interface DialogueServer {
  host: string;
  port: number;
  /** ws://host:port/path */
  url: string;
  /** Connections currently open (authenticated or not). */
  connectionCount(): number;
  /**
   * Replaces the access tokens without a restart: connections whose token is gone are closed (4001), the
   * others keep their session. Logs one audit line with the token names (never a token).
   */
  reloadTokens(tokens: readonly z.input<typeof AccessTokenConfig>[]): void;
  /**
   * A session for a client that is not a WebSocket connection (the MQTT bridge): its commands pass the same
   * admission (schema, role), rate limit and ask limits as a connection's. Streamed events are not delivered;
   * `run` resolves with the result.
   */
  openSession(principal: Principal): LocalSession;
  /** Closes every connection (1001, asks cancelled) and stops listening. */
  close(): Promise<void>;
}

export interface LocalSession {
  /** Runs one command (an object with `type` and `id`, ids increasing); rejects with a FamiliarError. */
  run(command: Record<string, unknown>): Promise<unknown>;
  /** Cancels the session's asks in flight. */
  close(): void;
}

/** Per-connection state. */
class Connection {
  principal: Principal | null = null;
  /** SHA-256 of the token it authenticated with: re-checked when the tokens are reloaded. */
  tokenDigest: Buffer | null = null;
  /** The first message arrived and is being answered (possibly after a back-off); later ones are ignored. */
  authPending = false;
  lastId = 0;
  alive = true;
  closed = false;
  /** A Home Assistant client (it sent supported_features): events only on subscriptions. */
  haClient = false;
  readonly asks = new Map<number, AbortController>();
  /** subscription id → camera filter (undefined = all cameras). */
  readonly subscriptions = new Map<number, string | undefined>();
  readonly bucket: TokenBucket;
  authTimer: NodeJS.Timeout | undefined;

  private readonly maxBuffered: number;

  constructor(
    readonly ws: WebSocket,
    readonly address: string,
    cfg: ServerConfig,
    private readonly onDrop: (conn: Connection, reason: string) => void,
  ) {
    this.bucket = new TokenBucket(cfg.commandsPerSecond, cfg.commandBurst);
    this.maxBuffered = cfg.maxBufferedBytes;
  }

  send(msg: ServerMessage): void {
    this.sendRaw(JSON.stringify(msg));
  }

  sendRaw(text: string): void {
    if (this.closed) return;
    this.ws.send(text);
    // ws queues what the socket cannot take; past the bound this client is too slow and is dropped rather
    // than let its queue grow without limit (and never slows the pipeline or other clients).
    if (this.ws.bufferedAmount > this.maxBuffered) this.close(CLOSE_CODES.CLIENT_TOO_SLOW, 'CLIENT_TOO_SLOW', true);
  }

  error(id: number | null, code: ErrorCode, message: string, details?: Record<string, unknown>): void {
    this.send({ id, type: 'result', success: false, error: { code, message, ...(details !== undefined && { details }) } });
  }

  /** Closes with a code; `hard` terminates soon even if the close handshake cannot complete. */
  close(code: number, reason: string, hard = false): void {
    if (this.closed) return;
    this.closed = true;
    this.onDrop(this, reason);
    this.ws.close(code, reason);
    setTimeout(() => this.ws.terminate(), hard ? 200 : 2000).unref();
  }
}

/**
 * Starts the WebSocket dialogue service (Home Assistant conventions, see the README's protocol section) on an
 * HTTP server that other handlers can share. Binds 127.0.0.1 unless configured otherwise.
 */
export async function startDialogueServer(options: DialogueServerOptions): Promise<DialogueServer> {
  const parsedServer = ServerConfig.safeParse(options.server ?? {});
  if (!parsedServer.success) throw new FamiliarError('CONFIG_INVALID', formatZodError(parsedServer.error, 'server'));
  const parsedLvlm = LvlmConfig.safeParse(options.lvlm ?? {});
  if (!parsedLvlm.success) throw new FamiliarError('CONFIG_INVALID', formatZodError(parsedLvlm.error, 'lvlm'));
  const cfg = parsedServer.data;
  const lvlmCfg = parsedLvlm.data;
  const log = options.log ?? silentLogger;
  const backend = options.backend;
  const imageLimits = options.imageLimits ?? DEFAULT_IMAGE_LIMITS;
  const chatModel = options.chatModel !== undefined ? options.chatModel : createLvlmClient(lvlmCfg, options.env);
  if (chatModel && lvlmCfg.labels) assertLabelFont(lvlmCfg.labelFont);

  const messages = loadMessages(cfg.language);
  const inboxFile = options.reminderInbox;
  const reminders = new ReminderInbox({ ...(inboxFile && { onChange: (all: ReminderEvent[]) => inboxFile.save(all) }) });
  if (inboxFile) {
    // A concept forgotten while the server was down (the CLI) takes its waiting reminders with it.
    const known = new Set(backend.listConcepts().map((c) => c.id));
    reminders.load((await inboxFile.load()).filter((r) => known.has(r.conceptId)));
  }
  const asker = new Asker({
    backend,
    lvlm: chatModel,
    overlay: { labels: lvlmCfg.labels, fontFile: lvlmCfg.labelFont, maxSide: lvlmCfg.imageMaxSide, jpegQuality: lvlmCfg.jpegQuality },
    captionFirst: lvlmCfg.captionFirst,
    tools: { mode: lvlmCfg.tools, rounds: lvlmCfg.toolRounds, timeoutMs: lvlmCfg.toolTimeoutMs, resultMaxBytes: lvlmCfg.toolResultMaxBytes },
    reminders,
    log,
    messages,
    conversations: new ConversationStore({ maxTurns: cfg.conversationMaxTurns, maxBytes: cfg.conversationMaxBytes, idleMs: cfg.conversationIdleMs, maxConversations: cfg.maxConversations }),
  });
  const table = commandTable({
    maxQuestionChars: cfg.maxQuestionChars,
    maxImagesPerMessage: cfg.maxImagesPerMessage,
    // Only the message bound here: an image over the byte limit gets the more telling IMAGE_TOO_LARGE later.
    maxImageBase64Chars: cfg.maxMessageBytes,
  });
  let verifier = new TokenVerifier(cfg.tokens);
  const authLimiter = new AuthFailureLimiter(cfg.maxAuthFailures, cfg.authFailureWindowMs, cfg.authBackoffMaxMs);
  const connections = new Set<Connection>();
  /** Connections that have not authenticated: their own small caps, so they never take an authenticated slot. */
  const unauthenticated = new AddressSlots<Connection>(cfg.maxUnauthenticated, cfg.maxUnauthenticatedPerAddress);
  let authenticatedCount = 0;
  const blocked = blockListOf(cfg.blockedAddresses);
  const services: CommandServices = {
    cfg,
    table,
    messages,
    backend,
    asker,
    chatModel,
    imageLimits,
    asks: new AskSlots(cfg.maxConcurrentAsksPerClient, cfg.maxConcurrentAsks),
    startedAt: Date.now(),
    clientCount: () => connections.size,
    now: Date.now,
  };

  const dropConnection = (conn: Connection, reason: string) => {
    connections.delete(conn);
    if (conn.principal) authenticatedCount--;
    else unauthenticated.delete(conn.address, conn);
    clearTimeout(conn.authTimer);
    for (const ac of conn.asks.values()) ac.abort();
    conn.subscriptions.clear();
    if (reason !== 'closed') log('info', 'connection dropped', { reason, address: conn.address, client: conn.principal?.name });
  };

  /** Sends an event to every scene subscription whose camera filter admits `cameraId`; serialised once, if at all. */
  const broadcast = (cameraId: string, event: () => unknown) => {
    let json: string | undefined;
    for (const conn of connections) {
      for (const [id, camera] of conn.subscriptions) {
        if (camera !== undefined && camera !== cameraId) continue;
        json ??= JSON.stringify(event());
        conn.sendRaw(`{"id":${id},"type":"event","event":${json}}`);
      }
    }
  };
  // One backend subscription fans out to every subscribed connection.
  const unsubscribeBackend = backend.subscribe((event: SceneEvent) => broadcast(event.cameraId, () => toWireSceneEvent(event)));
  // Fired reminders go to every scene subscription too, and wait for their creator's next answer.
  const unsubscribeReminders = backend.subscribeReminders((r) => {
    reminders.add(r);
    broadcast(r.cameraId, () => toWireReminder(r, Date.now(), messages));
  });

  const handleAuth = (conn: Connection, msg: unknown) => {
    if (conn.authPending) return;
    conn.authPending = true;
    clearTimeout(conn.authTimer);
    // Past the failure limit the answer waits (right or wrong): guessing slows down, the owner still gets in.
    const wait = authLimiter.backoffFor(conn.address);
    if (wait > 0) setTimeout(() => answerAuth(conn, msg), wait).unref();
    else answerAuth(conn, msg);
  };

  const answerAuth = (conn: Connection, msg: unknown) => {
    if (conn.closed) return;
    const refuse = (message: string) => {
      conn.send({ type: 'auth_invalid', message });
      conn.close(CLOSE_CODES.AUTH_INVALID, 'AUTH_INVALID');
    };
    const parsed = AuthSchema.safeParse(msg);
    if (!parsed.success) {
      authLimiter.recordFailure(conn.address);
      return refuse('expected {"type":"auth","access_token":"…"} as the first message');
    }
    const digest = sha256(parsed.data.access_token);
    const principal = verifier.verifyDigest(digest);
    if (!principal) {
      authLimiter.recordFailure(conn.address);
      log('warn', 'authentication failed', { address: conn.address });
      return refuse('invalid access token');
    }
    if (authenticatedCount >= cfg.maxClients) return refuse(`the server has its ${cfg.maxClients} clients; try again later`);
    authLimiter.recordSuccess(conn.address);
    unauthenticated.delete(conn.address, conn);
    authenticatedCount++;
    conn.principal = principal;
    conn.tokenDigest = digest;
    // Only now may messages be as large as the configured limit (a frame's length is checked from its header).
    setMaxPayload(conn.ws, cfg.maxMessageBytes);
    conn.send({ type: 'auth_ok', role: principal.role, protocol: PROTOCOL_VERSION, ha_version: HA_API_VERSION, ...(principal.member !== undefined && { member: principal.member }) });
  };

  const handleCommand = (conn: Connection, msg: unknown) => {
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return conn.error(null, 'MESSAGE_INVALID', 'a command must be a JSON object');
    const raw = msg as Record<string, unknown>;
    const id = raw.id;
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) return conn.error(null, 'MESSAGE_INVALID', 'every command needs an integer "id" of at least 1');
    if (id <= conn.lastId) return conn.error(id, 'MESSAGE_INVALID', `ids must increase; the last one was ${conn.lastId}`);
    conn.lastId = id;
    if (!conn.bucket.take()) return conn.error(id, 'RATE_LIMITED', `more than ${cfg.commandsPerSecond} commands per second`);
    if (Array.isArray(raw.photos) && raw.photos.length > cfg.maxImagesPerMessage) {
      return conn.error(id, 'MESSAGE_TOO_LARGE', `${raw.photos.length} images in one message; the limit is ${cfg.maxImagesPerMessage}`);
    }
    const principal = conn.principal!;
    const admitted = admitCommand(table, raw, principal);
    if ('code' in admitted) return conn.error(id, admitted.code, admitted.message);
    const { cmd, entry } = admitted;
    Promise.resolve()
      .then(() => entry.run(cmd, { server: services, session: conn, principal }))
      .then(
      (result) => {
        if (result !== undefined) conn.send({ id, type: 'result', success: true, result });
      },
      (err: unknown) => {
        const e = toFamiliarError(err);
        if (e.code === 'INTERNAL') log('error', 'command failed', { type: cmd.type, error: redactCredentials(e.message), stack: redactCredentials((err as Error)?.stack ?? '') });
        // An internal error's message and details may carry anything (paths, stacks): the client gets neither.
        if (e.code === 'INTERNAL') conn.error(id, e.code, 'internal error');
        else conn.error(id, e.code, clientSafeMessage(e.message), e.toJSON().details);
      },
    );
  };

  const openSession = (principal: Principal): LocalSession => {
    const bucket = new TokenBucket(cfg.commandsPerSecond, cfg.commandBurst);
    const session: CommandSession = { asks: new Map(), subscriptions: new Map(), send: () => {} };
    return {
      async run(command) {
        if (!bucket.take()) throw new FamiliarError('RATE_LIMITED', `more than ${cfg.commandsPerSecond} commands per second`);
        const admitted = admitCommand(table, command, principal);
        if ('code' in admitted) throw new FamiliarError(admitted.code, admitted.message);
        try {
          return await admitted.entry.run(admitted.cmd, { server: services, session, principal });
        } catch (err) {
          const e = toFamiliarError(err);
          if (e.code === 'INTERNAL') log('error', 'command failed', { type: admitted.cmd.type, client: principal.name, error: e.message, stack: (err as Error)?.stack });
          throw e;
        }
      },
      close() {
        for (const ac of session.asks.values()) ac.abort();
      },
    };
  };

  // maxPayload is the pre-auth limit: ws checks each frame's declared length against it from the frame header,
  // before buffering the payload; authentication raises it for that connection (setMaxPayload).
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_AUTH_MESSAGE_BYTES,
    perMessageDeflate: false,
    clientTracking: false,
    // The callback form, so a refused origin gets 403 (the boolean form answers 401, which means "log in").
    verifyClient: ({ origin, req }: { origin: string | undefined; req: IncomingMessage }, done: (ok: boolean, status?: number) => void) =>
      originAllowed(origin, req, cfg) ? done(true) : done(false, 403),
  });

  const onConnection = (ws: WebSocket, req: IncomingMessage) => {
    const conn = new Connection(ws, remoteAddress(req.socket), cfg, dropConnection);
    if (!unauthenticated.add(conn.address, conn, (victim) => victim.close(CLOSE_CODES.AUTH_TIMEOUT, 'AUTH_TIMEOUT', true))) {
      // Raced past the upgrade check: no slot after all.
      ws.close(1013, 'too many unauthenticated connections');
      return;
    }
    connections.add(conn);
    conn.authTimer = setTimeout(() => {
      conn.send({ type: 'auth_invalid', message: `not authenticated within ${cfg.authTimeoutMs} ms` });
      conn.close(CLOSE_CODES.AUTH_TIMEOUT, 'AUTH_TIMEOUT');
    }, cfg.authTimeoutMs);
    ws.on('pong', () => {
      conn.alive = true;
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (conn.closed) return;
      if (isBinary) return conn.principal ? conn.error(null, 'MESSAGE_INVALID', 'binary messages are not accepted') : handleAuth(conn, null);
      const raw = data as Buffer;
      // Refused unparsed: deep nesting and more values than any command needs (before JSON.parse allocates them).
      if (nestsDeeperThan(raw)) return conn.principal ? conn.error(null, 'MESSAGE_INVALID', `the message nests deeper than ${MAX_JSON_DEPTH} levels`) : handleAuth(conn, null);
      if (widerThan(raw, cfg.maxJsonElements)) return conn.principal ? conn.error(null, 'MESSAGE_TOO_LARGE', `the message holds more than ${cfg.maxJsonElements} JSON values`) : handleAuth(conn, null);
      let msg: unknown;
      try {
        msg = JSON.parse(raw.toString());
      } catch {
        return conn.principal ? conn.error(null, 'MESSAGE_INVALID', 'the message is not valid JSON') : handleAuth(conn, null);
      }
      if (conn.principal) handleCommand(conn, msg);
      else handleAuth(conn, msg);
    });
    ws.on('error', (err: Error & { code?: string }) => {
      // ws closes the socket itself after a protocol error (1009 for an oversized message).
      log('info', 'websocket error', { code: err.code, error: err.message, address: conn.address });
    });
    ws.on('close', () => {
      if (!conn.closed) {
        conn.closed = true;
        dropConnection(conn, 'closed');
      }
    });
    conn.send({ type: 'auth_required', protocol: PROTOCOL_VERSION });
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    if (addressBlocked(blocked, remoteAddress(req.socket))) return void res.writeHead(403, { 'content-type': 'text/plain', connection: 'close' }).end('forbidden\n');
    if (options.httpHandler) return options.httpHandler(req, res);
    const path = (req.url ?? '/').split('?')[0];
    res.writeHead(path === cfg.path ? 426 : 404, { 'content-type': 'text/plain' }).end(path === cfg.path ? 'WebSocket upgrade required\n' : 'not found\n');
  };
  const http: Server = cfg.tls ? createTlsServer(readTls(cfg.tls), onRequest) : createServer(onRequest);
  // Plain HTTP sockets (the console; every upgrade starts as one) have their own cap; the oldest of the
  // busiest address makes room, so idle sockets cannot keep the WebSocket out.
  const httpSockets = new AddressSlots<Socket>(cfg.maxHttpConnections, cfg.maxHttpConnections);
  http.on(cfg.tls ? 'secureConnection' : 'connection', (socket: Socket) => {
    const addr = remoteAddress(socket);
    const evict = (victim: Socket) => {
      httpSockets.delete(remoteAddress(victim), victim);
      victim.destroy();
    };
    if (!httpSockets.add(addr, socket, evict)) return void socket.destroy();
    socket.once('close', () => httpSockets.delete(addr, socket));
  });
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const reject = (status: string) => {
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    socket.on('error', () => socket.destroy());
    const addr = remoteAddress(req.socket);
    httpSockets.delete(addr, req.socket);
    if (addressBlocked(blocked, addr)) return reject('403 Forbidden');
    const path = (req.url ?? '/').split('?')[0];
    if (path !== cfg.path && path !== HA_WEBSOCKET_PATH) return reject('404 Not Found');
    if (authenticatedCount >= cfg.maxClients) return reject('503 Service Unavailable');
    if (!unauthenticated.hasRoomFor(addr)) return reject('503 Service Unavailable');
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, req));
  });

  const heartbeat = setInterval(() => {
    for (const conn of connections) {
      if (!conn.alive) {
        conn.close(CLOSE_CODES.HEARTBEAT_TIMEOUT, 'HEARTBEAT_TIMEOUT', true);
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
    }
  }, cfg.heartbeatMs);

  await new Promise<void>((resolve, reject) => {
    http.once('error', (err) => reject(new FamiliarError('INPUT_INVALID', `cannot listen on ${cfg.host}:${cfg.port}: ${err.message}`, { cause: err })));
    http.listen(cfg.port, cfg.host, () => resolve());
  });
  const address = http.address() as AddressInfo;
  log('info', 'dialogue server listening', { host: address.address, port: address.port, path: cfg.path, tls: cfg.tls !== null });
  if (!cfg.tls && !isLoopback(address.address)) {
    log('warn', 'listening beyond loopback without TLS: access tokens cross the network in clear text; set server.tls or use a reverse proxy');
  }

  return {
    host: address.address,
    port: address.port,
    url: `${cfg.tls ? 'wss' : 'ws'}://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}${cfg.path}`,
    connectionCount: () => connections.size,
    reloadTokens(tokens) {
      const parsed = ServerConfig.shape.tokens.safeParse(tokens);
      if (!parsed.success) throw new FamiliarError('CONFIG_INVALID', formatZodError(parsed.error, 'server.tokens'));
      const before = new Set(verifier.names());
      verifier = new TokenVerifier(parsed.data);
      let closed = 0;
      for (const conn of connections) {
        if (!conn.tokenDigest) continue;
        const now = verifier.verifyDigest(conn.tokenDigest);
        const same = now && now.name === conn.principal!.name && now.role === conn.principal!.role && now.member === conn.principal!.member;
        if (same) continue;
        conn.send({ type: 'auth_invalid', message: 'the access token was revoked' });
        conn.close(CLOSE_CODES.AUTH_INVALID, 'AUTH_REVOKED');
        closed++;
      }
      const after = verifier.names();
      log('info', 'access tokens reloaded', {
        tokens: after.length,
        added: after.filter((n) => !before.has(n)),
        removed: [...before].filter((n) => !after.includes(n)),
        connectionsClosed: closed,
      });
    },
    openSession,
    async close() {
      clearInterval(heartbeat);
      unsubscribeBackend();
      unsubscribeReminders();
      const closing = [...connections].map((conn) => {
        const done = new Promise<void>((resolve) => conn.ws.once('close', () => resolve()));
        conn.close(1001, 'server shutting down', true);
        return done;
      });
      await Promise.all(closing);
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
      await inboxFile?.flush();
    },
  };
}

/** The peer's address, IPv4-mapped IPv6 written as plain IPv4 (so limits and block lists see one address). */
function remoteAddress(socket: { remoteAddress?: string | undefined }): string {
  const a = socket.remoteAddress ?? 'unknown';
  return a.startsWith('::ffff:') && isIPv4(a.slice(7)) ? a.slice(7) : a;
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address === 'localhost';
}

function blockListOf(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const e of entries) {
    const [addr, prefix] = e.split('/');
    const type = isIPv4(addr!) ? 'ipv4' : 'ipv6';
    try {
      if (prefix === undefined) list.addAddress(addr!, type);
      else list.addSubnet(addr!, Number(prefix), type);
    } catch (err) {
      throw new FamiliarError('CONFIG_INVALID', `server.blockedAddresses: "${e}" is not an address or range (${(err as Error).message})`);
    }
  }
  return list;
}

function addressBlocked(list: BlockList, address: string): boolean {
  try {
    return list.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');
  } catch {
    return false;
  }
}

/**
 * Browsers send the page's Origin with every WebSocket upgrade and let any page open one, so without this
 * check a page from anywhere could use the owner's browser to talk to (or guess tokens against) the hub.
 * Allowed: the server's own origin (same host and port as the request), the configured ones, and no Origin
 * at all (native clients) unless that is switched off.
 */
function originAllowed(origin: string | undefined, req: IncomingMessage, cfg: ServerConfig): boolean {
  if (origin === undefined || origin === '') return cfg.allowMissingOrigin;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.host !== '' && url.host === req.headers.host) return true;
  return cfg.allowedOrigins.some((o) => o.toLowerCase() === url.origin);
}

function readTls(tls: { cert: string; key: string }): { cert: Buffer; key: Buffer } {
  try {
    return { cert: readFileSync(tls.cert), key: readFileSync(tls.key) };
  } catch (err) {
    throw new FamiliarError('CONFIG_INVALID', `server.tls: cannot read the certificate or key (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** The receiver field ws keeps a connection's maxPayload in (ws 8; checked once so a ws upgrade cannot silently drop the limit). */
interface WithReceiver {
  _receiver?: { _maxPayload?: number };
}

/** Raises one connection's message-size limit after authentication (the server's maxPayload is the pre-auth one). */
function setMaxPayload(ws: WebSocket, bytes: number): void {
  const receiver = (ws as unknown as WithReceiver)._receiver;
  if (!receiver || typeof receiver._maxPayload !== 'number') throw new FamiliarError('INTERNAL', 'this ws version keeps no per-connection maxPayload');
  receiver._maxPayload = bytes;
}
