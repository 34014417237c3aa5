import { readFileSync } from 'node:fs';
import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { FamiliarError, type Logger } from '@familiar/contracts';
import type { MqttConfig } from '@familiar/config';

/** One message to publish. */
export interface Outgoing {
  topic: string;
  payload: string | Uint8Array;
  retain: boolean;
  /**
   * Discovery configs and removals (empty retained payloads): never dropped, so a forgotten concept's entities and
   * state always go. Their number is bounded by the number of entities, not by the pipeline's rate.
   */
  essential?: boolean;
  /** A newer message with the same key replaces this one while it waits (state topics: only the latest matters). */
  coalesce?: boolean;
  /** MQTT 5 correlation data of the request this message answers. */
  correlationData?: Buffer;
}

/** A message that arrived on a subscribed topic. */
export interface Incoming {
  topic: string;
  payload: Buffer;
  /** MQTT 5 request/response properties, when the sender set them. */
  responseTopic?: string;
  correlationData?: Buffer;
}

export type PublisherState = 'connecting' | 'connected' | 'disconnected' | 'stopped';

export interface PublisherStats {
  state: PublisherState;
  /** Messages the broker has taken (acknowledged for QoS 1). */
  published: number;
  /** Messages dropped because the queue was full (a slow or absent broker). */
  dropped: number;
  queued: number;
  inFlight: number;
  /** Successful connections after the first. */
  reconnects: number;
  lastError: string | null;
}

export interface PublisherOptions {
  config: MqttConfig;
  env?: NodeJS.ProcessEnv;
  /** Topics to subscribe to after every (re)connection. */
  subscriptions: readonly string[];
  onConnect(): void;
  onMessage(msg: Incoming): void;
  log?: Logger;
}

/**
 * The one owner of the `mqtt` client. Callers enqueue and return at once: publishing never waits for the broker,
 * so a slow or dead broker cannot slow the pipeline. The queue is bounded (state topics coalesce to one message
 * each; momentary messages past `maxQueued` are dropped and counted), at most `maxInFlight` messages wait for the broker's acknowledgement,
 * and a lost connection is retried with exponential back-off. The last will marks Familiar offline.
 */
export class Publisher {
  readonly availabilityTopic: string;
  readonly #cfg: MqttConfig;
  readonly #client: MqttClient;
  readonly #opts: PublisherOptions;
  readonly #pending = new Map<string, Outgoing>();
  readonly #inFlight = new Set<number>();
  #seq = 0;
  /** Momentary messages in #pending (keys starting with m:). */
  #momentary = 0;
  #state: PublisherState = 'connecting';
  #published = 0;
  #dropped = 0;
  #connections = 0;
  #failures = 0;
  #lastError: string | null = null;
  #retry: NodeJS.Timeout | undefined;

  constructor(options: PublisherOptions) {
    const cfg = options.config;
    if (!cfg.url) throw new FamiliarError('CONFIG_INVALID', 'mqtt.url is not set');
    this.#cfg = cfg;
    this.#opts = options;
    this.availabilityTopic = `${cfg.topicPrefix}/availability`;
    const env = options.env ?? process.env;
    const tls = cfg.tls;
    const readPem = (file: string | null, what: string): Buffer | undefined => {
      if (file === null) return undefined;
      try {
        return readFileSync(file);
      } catch (err) {
        throw new FamiliarError('CONFIG_INVALID', `mqtt.tls.${what}: cannot read ${file}: ${(err as Error).message}`, { cause: err });
      }
    };
    const clientOptions: IClientOptions = {
      protocolVersion: cfg.protocolVersion,
      clientId: cfg.clientId,
      clean: true,
      keepalive: cfg.keepaliveS,
      // Reconnection is ours (exponential back-off), not mqtt.js's fixed period.
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      resubscribe: false,
      queueQoSZero: false,
      will: { topic: this.availabilityTopic, payload: Buffer.from('offline'), qos: 1, retain: true },
      rejectUnauthorized: tls.rejectUnauthorized,
      ...(env[cfg.usernameEnv] !== undefined && { username: env[cfg.usernameEnv] }),
      ...(env[cfg.passwordEnv] !== undefined && { password: env[cfg.passwordEnv] }),
    };
    const ca = readPem(tls.caFile, 'caFile');
    const cert = readPem(tls.certFile, 'certFile');
    const key = readPem(tls.keyFile, 'keyFile');
    if (ca) clientOptions.ca = ca;
    if (cert) clientOptions.cert = cert;
    if (key) clientOptions.key = key;
    this.#client = connect(cfg.url, clientOptions);
    this.#client.on('connect', () => this.#onConnect());
    this.#client.on('close', () => this.#onClose());
    this.#client.on('error', (err) => {
      this.#lastError = err.message;
    });
    this.#client.on('message', (topic: string, payload: Buffer, packet: IPublishPacket) => {
      const props = packet.properties;
      this.#opts.onMessage({
        topic,
        payload,
        ...(props?.responseTopic !== undefined && { responseTopic: props.responseTopic }),
        ...(props?.correlationData !== undefined && { correlationData: props.correlationData }),
      });
    });
  }

  get connected(): boolean {
    return this.#state === 'connected';
  }

  stats(): PublisherStats {
    return {
      state: this.#state,
      published: this.#published,
      dropped: this.#dropped,
      queued: this.#pending.size,
      inFlight: this.#inFlight.size,
      reconnects: Math.max(0, this.#connections - 1),
      lastError: this.#lastError,
    };
  }

  /** Queues a message; returns at once. */
  publish(msg: Outgoing): void {
    if (this.#state === 'stopped') return;
    const momentary = !msg.coalesce && !msg.essential;
    const key = momentary ? `m:${++this.#seq}` : `t:${msg.topic}`;
    // Only momentary messages (events, replies) count against the bound: state is one message per topic, so
    // its share is bounded by the number of entities, and dropping it would leave Home Assistant wrong for good.
    if (momentary) {
      if (this.#momentary >= this.#cfg.maxQueued) {
        this.#dropped++;
        return;
      }
      this.#momentary++;
    }
    // Re-inserted at the end: a replaced state goes out after what was queued before it.
    if (!momentary) this.#pending.delete(key);
    this.#pending.set(key, msg);
    this.#pump();
  }

  /** Forgets queued messages whose topic starts with `prefix` (a forgotten concept's pending state). */
  discard(prefix: string): void {
    for (const [key, msg] of this.#pending) if (msg.topic.startsWith(prefix)) this.#take(key);
  }

  #take(key: string): void {
    if (this.#pending.delete(key) && key.startsWith('m:')) this.#momentary--;
  }

  /** Publishes `offline`, waits briefly for what is in flight, and disconnects. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    const wasConnected = this.connected;
    this.#state = 'stopped';
    clearTimeout(this.#retry);
    this.#pending.clear();
    this.#momentary = 0;
    if (wasConnected) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        this.#client.publish(this.availabilityTopic, 'offline', { qos: 1, retain: true }, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    await new Promise<void>((resolve) => this.#client.end(!wasConnected, {}, () => resolve()));
  }

  #onConnect(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'connected';
    this.#connections++;
    this.#failures = 0;
    this.#lastError = null;
    this.#opts.log?.('info', 'mqtt connected', { url: redact(this.#cfg.url!), reconnects: this.#connections - 1 });
    this.#client.publish(this.availabilityTopic, 'online', { qos: 1, retain: true });
    if (this.#opts.subscriptions.length > 0) {
      this.#client.subscribe([...this.#opts.subscriptions], { qos: 1 }, (err) => {
        if (err) this.#opts.log?.('warn', 'mqtt subscribe failed', { message: err.message });
      });
    }
    // The broker may have lost its retained messages (restarted without persistence): everything again.
    this.#opts.onConnect();
    this.#pump();
  }

  #onClose(): void {
    // Unacknowledged messages are the client's to resend; counting them as in flight would stall the queue.
    this.#inFlight.clear();
    if (this.#state === 'stopped') return;
    if (this.#state === 'connected') this.#opts.log?.('warn', 'mqtt connection lost', { error: this.#lastError });
    this.#state = 'disconnected';
    clearTimeout(this.#retry);
    const base = Math.min(this.#cfg.reconnectMaxMs, this.#cfg.reconnectMinMs * 2 ** Math.min(this.#failures, 20));
    this.#failures++;
    // Jitter keeps a house full of clients from reconnecting to a restarted broker in lock-step.
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.#retry = setTimeout(() => {
      if (this.#state === 'stopped') return;
      this.#state = 'connecting';
      this.#client.reconnect();
    }, delay);
    this.#retry.unref();
  }

  #pump(): void {
    while (this.#state === 'connected' && this.#inFlight.size < this.#cfg.maxInFlight && this.#pending.size > 0) {
      const [key, msg] = this.#pending.entries().next().value as [string, Outgoing];
      this.#take(key);
      const token = ++this.#seq;
      this.#inFlight.add(token);
      const payload = typeof msg.payload === 'string' ? msg.payload : Buffer.from(msg.payload.buffer, msg.payload.byteOffset, msg.payload.byteLength);
      const properties = msg.correlationData && this.#cfg.protocolVersion === 5 ? { properties: { correlationData: msg.correlationData } } : {};
      this.#client.publish(msg.topic, payload, { qos: this.#cfg.qos, retain: msg.retain, ...properties }, (err) => {
        // A token already cleared by a lost connection: its late callback counts for nothing.
        if (!this.#inFlight.delete(token)) return;
        if (err) this.#lastError = err.message;
        else this.#published++;
        this.#pump();
      });
    }
  }
}

/** The URL without credentials, for logs and status. */
export function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//');
}
