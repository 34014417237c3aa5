import { FamiliarError, toFamiliarError, type Box, type ConceptKind, type ConceptSummary, type Logger, type ReminderEvent, type SceneEvent } from '@familiar/contracts';
import { MqttConfig, formatZodError, type MqttCommandName } from '@familiar/config';
import { renderOverlay } from '@familiar/image';
import { cameraEntities, cameraTopics, conceptEntities, conceptTopics, eventEntity, eventTopic, type EntityConfig, type EventType } from './discovery.ts';
import { Publisher, redact, type Incoming, type PublisherStats } from './publisher.ts';


/** What the bridge needs of Familiar; the live runtime's dialogue backend provides all of it. */
export interface BridgeHost {
  listConcepts(): ConceptSummary[];
  /** Scene events of every camera; returns the unsubscribe. */
  subscribe(listener: (e: SceneEvent) => void): () => void;
  subscribeReminders(listener: (r: ReminderEvent) => void): () => void;
  lastSeen(conceptId: string): { cameraId: string; room: string; at: number } | null;
  /** The latest frame of a camera with who is in it; null before the first frame. */
  snapshot?(cameraId: string): Promise<{ capturedAt: number; jpeg: Uint8Array; entities: { box: Box; name: string | null; kind: ConceptKind | null }[] } | null>;
}

/**
 * Runs a protocol command (an `ask`, a `triggers/add`) exactly as the WebSocket service would for a client of
 * the bridge's role, and resolves with its result or rejects with a FamiliarError.
 */
export type CommandRunner = (command: Record<string, unknown>) => Promise<unknown>;

export interface MqttBridgeOptions {
  /** The `mqtt` config section (url set). */
  config: unknown;
  host: BridgeHost;
  cameras: readonly { id: string; room: string }[];
  /** Calls the listener whenever concepts are enrolled, renamed or forgotten; returns the unsubscribe. */
  onConceptsChanged(listener: () => void): () => void;
  runCommand?: CommandRunner;
  swVersion?: string;
  env?: NodeJS.ProcessEnv;
  log?: Logger;
}

export interface MqttBridgeStatus extends PublisherStats {
  url: string;
  entities: number;
  commandsAnswered: number;
}

/** One open track as the bridge follows it, for presence and person counts. */
interface TrackState {
  cameraId: string;
  room: string;
  conceptId: string | null;
  kind: ConceptKind | null;
}

/** Where a concept was last seen, as published. */
interface Sighting {
  at: number;
  cameraId: string;
  room: string;
  confidence: number | null;
}

/** What a command topic's payload becomes: the protocol command and its type. */
const COMMAND_TYPES: Record<MqttCommandName, string> = { ask: 'ask', reminder: 'triggers/add' };
/** Longest accepted MQTT request, bytes (a question or a reminder, not an image). */
const MAX_REQUEST_BYTES = 64 * 1024;

/**
 * Familiar as Home Assistant sees it over MQTT: discovery configs for one device (cameras as its sub-devices),
 * presence / room / last-seen state per concept, per-camera snapshots and people counts, one event entity, and
 * ask / reminder commands answered on a response topic. Everything it publishes goes through the bounded
 * {@link Publisher}, so nothing here waits for the broker.
 */
export class MqttBridge {
  readonly #cfg: MqttConfig;
  readonly #opts: MqttBridgeOptions;
  readonly #publisher: Publisher;
  readonly #ctx;
  readonly #unsubscribe: (() => void)[] = [];
  /** conceptId → the entities published for it (to update on rename and clear on forget). */
  readonly #conceptEntities = new Map<string, { concept: ConceptSummary; entities: EntityConfig[] }>();
  readonly #tracks = new Map<string, TrackState>();
  readonly #sightings = new Map<string, Sighting>();
  /** conceptId → when its last-seen state was last published (rate limit while it stays in view). */
  readonly #lastSeenPublishedAt = new Map<string, number>();
  readonly #lastSeenTimers = new Map<string, NodeJS.Timeout>();
  readonly #snapshotAt = new Map<string, number>();
  readonly #discoveryStatusTopic: string;
  readonly #commandTopics = new Map<string, MqttCommandName>();
  #snapshotTimer: NodeJS.Timeout | undefined;
  #snapshotBusy = false;
  #commandsAnswered = 0;
  #commandSeq = 0;
  #stopped = false;

  constructor(options: MqttBridgeOptions) {
    const parsed = MqttConfig.safeParse(options.config);
    if (!parsed.success) throw new FamiliarError('CONFIG_INVALID', formatZodError(parsed.error, 'mqtt'));
    this.#cfg = parsed.data;
    this.#opts = options;
    this.#discoveryStatusTopic = `${this.#cfg.discoveryPrefix}/status`;
    if (options.runCommand) for (const name of this.#cfg.commands) this.#commandTopics.set(`${this.#cfg.topicPrefix}/command/${name}`, name);
    this.#publisher = new Publisher({
      config: this.#cfg,
      ...(options.env && { env: options.env }),
      subscriptions: [this.#discoveryStatusTopic, ...this.#commandTopics.keys()],
      onConnect: () => this.#publishAll(),
      onMessage: (msg) => this.#onMessage(msg),
      ...(options.log && { log: options.log }),
    });
    this.#ctx = { cfg: this.#cfg, availabilityTopic: this.#publisher.availabilityTopic, swVersion: options.swVersion ?? '0.0.0' };
    for (const c of options.host.listConcepts()) {
      this.#conceptEntities.set(c.id, { concept: c, entities: conceptEntities(this.#ctx, c) });
      const seen = options.host.lastSeen(c.id);
      if (seen) this.#sightings.set(c.id, { at: seen.at, cameraId: seen.cameraId, room: seen.room, confidence: null });
    }
    this.#unsubscribe.push(
      options.host.subscribe((e) => this.#onScene(e)),
      options.host.subscribeReminders((r) => this.#onReminder(r)),
      options.onConceptsChanged(() => this.#syncConcepts()),
    );
    if (this.#cfg.publish.snapshots && options.host.snapshot && options.cameras.length > 0) {
      this.#snapshotTimer = setInterval(() => void this.#publishSnapshots(), this.#cfg.snapshotIntervalMs);
      this.#snapshotTimer.unref();
    }
  }

  status(): MqttBridgeStatus {
    let entities = eventEntity(this.#ctx).length;
    for (const cam of this.#opts.cameras) entities += cameraEntities(this.#ctx, cam).length;
    for (const { entities: list } of this.#conceptEntities.values()) entities += list.length;
    return { url: redact(this.#cfg.url!), ...this.#publisher.stats(), entities, commandsAnswered: this.#commandsAnswered };
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#snapshotTimer);
    for (const t of this.#lastSeenTimers.values()) clearTimeout(t);
    for (const u of this.#unsubscribe) u();
    await this.#publisher.stop();
  }

  // ------------------------------------------------------------------ discovery and state

  /** Every config and every current state: on (re)connection and when Home Assistant comes online. */
  #publishAll(): void {
    for (const e of eventEntity(this.#ctx)) this.#publishConfig(e);
    for (const cam of this.#opts.cameras) {
      for (const e of cameraEntities(this.#ctx, cam)) this.#publishConfig(e);
      this.#publishPersonCount(cam.id);
    }
    for (const { concept, entities } of this.#conceptEntities.values()) {
      for (const e of entities) this.#publishConfig(e);
      this.#publishPresence(concept.id);
      this.#publishLastSeen(concept.id);
    }
  }

  #publishConfig(e: EntityConfig): void {
    this.#publisher.publish({ topic: e.configTopic, payload: JSON.stringify(e.config), retain: true, essential: true });
  }

  /** Enrolled concepts get entities, renamed ones updated configs, forgotten ones empty configs and state. */
  #syncConcepts(): void {
    const now = new Map(this.#opts.host.listConcepts().map((c) => [c.id, c]));
    for (const [id, { concept, entities }] of this.#conceptEntities) {
      if (now.has(id)) continue;
      this.#conceptEntities.delete(id);
      this.#sightings.delete(id);
      this.#lastSeenPublishedAt.delete(id);
      clearTimeout(this.#lastSeenTimers.get(id));
      this.#lastSeenTimers.delete(id);
      this.#publisher.discard(conceptTopics(this.#cfg, id).base);
      // Empty retained payloads delete the entity in Home Assistant and the retained state at the broker.
      for (const e of entities) {
        this.#publisher.publish({ topic: e.configTopic, payload: '', retain: true, essential: true });
        for (const topic of e.stateTopics) this.#publisher.publish({ topic, payload: '', retain: true, essential: true });
      }
      this.#opts.log?.('info', 'mqtt entities removed', { concept: concept.id });
    }
    for (const [id, concept] of now) {
      const known = this.#conceptEntities.get(id);
      if (known && known.concept.name === concept.name && known.concept.kind === concept.kind) continue;
      const entities = conceptEntities(this.#ctx, concept);
      this.#conceptEntities.set(id, { concept, entities });
      for (const e of entities) this.#publishConfig(e);
      if (!known) {
        this.#publishPresence(id);
        this.#publishLastSeen(id);
      }
    }
  }

  #onScene(e: SceneEvent): void {
    const key = e.trackId ?? `${e.cameraId}:${e.conceptId ?? 'unknown'}`;
    const before = this.#tracks.get(key);
    if (e.type === 'left') this.#tracks.delete(key);
    else this.#tracks.set(key, { cameraId: e.cameraId, room: e.room, conceptId: e.conceptId, kind: e.kind });
    if (e.conceptId && this.#conceptEntities.has(e.conceptId)) {
      this.#sightings.set(e.conceptId, { at: e.at, cameraId: e.cameraId, room: e.room, confidence: e.confidence });
      this.#scheduleLastSeen(e.conceptId, e.type !== 'moved');
    }
    const affected = new Set([before?.conceptId, e.conceptId].filter((id): id is string => typeof id === 'string'));
    for (const id of affected) if (this.#conceptEntities.has(id)) this.#publishPresence(id);
    if (before?.kind === 'person' || e.kind === 'person') this.#publishPersonCount(e.cameraId);

    const newlyRecognised = e.conceptId !== null && (e.type === 'appeared' || (e.type === 'moved' && before?.conceptId !== e.conceptId));
    if (newlyRecognised) this.#event('recognised', { concept_id: e.conceptId, name: e.name, kind: e.kind, camera: e.cameraId, room: e.room, confidence: e.confidence });
    else if (e.type === 'appeared' && e.conceptId === null && e.kind === 'person') this.#event('unknown_person', { camera: e.cameraId, room: e.room, confidence: e.confidence });
    else if (e.type === 'left' && e.conceptId !== null) this.#event('left', { concept_id: e.conceptId, name: e.name, kind: e.kind, camera: e.cameraId, room: e.room });
  }

  #onReminder(r: ReminderEvent): void {
    this.#event('reminder', { trigger_id: r.triggerId, concept_id: r.conceptId, name: r.name, message: r.message, camera: r.cameraId, room: r.room, created_by: r.createdBy });
  }

  /** Events are momentary: not retained, dropped first when the broker cannot keep up. */
  #event(type: EventType, attributes: Record<string, unknown>): void {
    if (!this.#cfg.publish.events) return;
    this.#publisher.publish({ topic: eventTopic(this.#cfg), payload: JSON.stringify({ event_type: type, ...attributes }), retain: false });
  }

  /** Where a concept is now: on (and its room) while any camera has it in view. */
  #publishPresence(conceptId: string): void {
    if (!this.#cfg.publish.presence) return;
    const concept = this.#conceptEntities.get(conceptId)?.concept;
    if (!concept || (concept.kind !== 'person' && concept.kind !== 'pet')) return;
    let room: string | null = null;
    for (const t of this.#tracks.values()) if (t.conceptId === conceptId) room = t.room;
    const t = conceptTopics(this.#cfg, conceptId);
    this.#publisher.publish({ topic: t.presence, payload: room === null ? 'OFF' : 'ON', retain: true, coalesce: true });
    // "None" is how an MQTT sensor is told its value is unknown: nobody knows the room of someone not in view.
    this.#publisher.publish({ topic: t.room, payload: room ?? 'None', retain: true, coalesce: true });
  }

  /** Appearing and leaving publish at once; movement at most once per lastSeenIntervalMs (the latest wins). */
  #scheduleLastSeen(conceptId: string, now: boolean): void {
    if (!this.#cfg.publish.lastSeen) return;
    const wait = now ? 0 : (this.#lastSeenPublishedAt.get(conceptId) ?? 0) + this.#cfg.lastSeenIntervalMs - Date.now();
    if (wait <= 0) {
      clearTimeout(this.#lastSeenTimers.get(conceptId));
      this.#lastSeenTimers.delete(conceptId);
      this.#publishLastSeen(conceptId);
      return;
    }
    if (this.#lastSeenTimers.has(conceptId)) return;
    const timer = setTimeout(() => {
      this.#lastSeenTimers.delete(conceptId);
      this.#publishLastSeen(conceptId);
    }, wait);
    timer.unref();
    this.#lastSeenTimers.set(conceptId, timer);
  }

  #publishLastSeen(conceptId: string): void {
    if (!this.#cfg.publish.lastSeen || !this.#conceptEntities.has(conceptId)) return;
    const s = this.#sightings.get(conceptId);
    const t = conceptTopics(this.#cfg, conceptId);
    this.#lastSeenPublishedAt.set(conceptId, Date.now());
    this.#publisher.publish({ topic: t.lastSeen, payload: s ? new Date(s.at).toISOString() : 'None', retain: true, coalesce: true });
    const attributes = s ? { camera: s.cameraId, room: s.room, confidence: s.confidence } : { camera: null, room: null, confidence: null };
    this.#publisher.publish({ topic: t.lastSeenAttributes, payload: JSON.stringify(attributes), retain: true, coalesce: true });
  }

  #publishPersonCount(cameraId: string): void {
    if (!this.#cfg.publish.personCount || !this.#opts.cameras.some((c) => c.id === cameraId)) return;
    let n = 0;
    for (const t of this.#tracks.values()) if (t.cameraId === cameraId && t.kind === 'person') n++;
    this.#publisher.publish({ topic: cameraTopics(this.#cfg, cameraId).personCount, payload: String(n), retain: true, coalesce: true });
  }

  /**
   * The latest frame of each camera with its boxes and names drawn, when it is newer than the last one sent.
   * Not retained: an old picture of the household should not outlive the moment (or a forgotten concept).
   */
  async #publishSnapshots(): Promise<void> {
    const snapshot = this.#opts.host.snapshot;
    // One round at a time, and none while the broker is away (the frame would be stale when it arrives).
    if (this.#snapshotBusy || !snapshot || !this.#publisher.connected) return;
    this.#snapshotBusy = true;
    try {
      for (const cam of this.#opts.cameras) {
        const snap = await snapshot.call(this.#opts.host, cam.id).catch(() => null);
        if (!snap || snap.capturedAt === this.#snapshotAt.get(cam.id)) continue;
        this.#snapshotAt.set(cam.id, snap.capturedAt);
        const items = snap.entities.map((e) => ({ box: e.box, label: e.name ?? (e.kind === 'person' ? 'unknown person' : 'unknown') }));
        try {
          const { jpeg } = await renderOverlay(snap.jpeg, items, { maxSide: this.#cfg.snapshotMaxSide, jpegQuality: 80 });
          this.#publisher.publish({ topic: cameraTopics(this.#cfg, cam.id).snapshot, payload: jpeg, retain: false, coalesce: true });
        } catch (err) {
          this.#opts.log?.('warn', 'mqtt snapshot failed', { camera: cam.id, message: (err as Error).message });
        }
      }
    } finally {
      this.#snapshotBusy = false;
    }
  }

  // ------------------------------------------------------------------ incoming

  #onMessage(msg: Incoming): void {
    if (msg.topic === this.#discoveryStatusTopic) {
      // Home Assistant's birth message: it (re)started and wants every config again.
      if (msg.payload.toString() === 'online') this.#publishAll();
      return;
    }
    const name = this.#commandTopics.get(msg.topic);
    if (name) void this.#command(name, msg);
  }

  /**
   * A request on `<prefix>/command/<name>`: JSON fields of the protocol command (or plain text: the question or
   * the reminder sentence). The reply goes to the MQTT 5 response topic with its correlation data, else to the
   * payload's `response_topic` (with `correlation_id`), else to `<prefix>/response/<name>`.
   */
  async #command(name: MqttCommandName, msg: Incoming): Promise<void> {
    const fallback = `${this.#cfg.topicPrefix}/response/${name}`;
    let replyTo = msg.responseTopic ?? fallback;
    let correlationId: string | number | undefined;
    const reply = (body: Record<string, unknown>) => {
      this.#commandsAnswered++;
      const payload = JSON.stringify({ ...body, ...(correlationId !== undefined && { correlation_id: correlationId }) });
      this.#publisher.publish({ topic: replyTo, payload, retain: false, ...(msg.correlationData && { correlationData: msg.correlationData }) });
    };
    try {
      const { response_topic, correlation_id, ...fields } = this.#requestFields(name, msg.payload);
      if (response_topic !== undefined && typeof response_topic !== 'string') throw new FamiliarError('MESSAGE_INVALID', 'response_topic must be a string');
      if (correlation_id !== undefined && typeof correlation_id !== 'string' && typeof correlation_id !== 'number') {
        throw new FamiliarError('MESSAGE_INVALID', 'correlation_id must be a string or a number');
      }
      correlationId = correlation_id;
      // The MQTT 5 property wins over the payload field.
      if (msg.responseTopic === undefined && response_topic !== undefined) replyTo = response_topic;
      if (!this.#replyTopicAllowed(replyTo)) {
        throw new FamiliarError('INPUT_INVALID', `response topic "${replyTo}" is not allowed: no wildcards, nothing under ${this.#cfg.discoveryPrefix}/ or ${this.#cfg.topicPrefix}/ except ${this.#cfg.topicPrefix}/response/`);
      }
      const result = await this.#opts.runCommand!({ ...fields, type: COMMAND_TYPES[name], id: ++this.#commandSeq });
      reply({ success: true, result });
    } catch (err) {
      const e = toFamiliarError(err);
      if (!this.#replyTopicAllowed(replyTo)) replyTo = fallback;
      reply({ success: false, error: { code: e.code, message: e.code === 'INTERNAL' ? 'internal error' : e.message } });
    }
  }

  #requestFields(name: MqttCommandName, payload: Buffer): Record<string, unknown> {
    if (payload.length > MAX_REQUEST_BYTES) throw new FamiliarError('MESSAGE_TOO_LARGE', `a request may have at most ${MAX_REQUEST_BYTES} bytes`);
    const text = payload.toString('utf8').trim();
    if (!text.startsWith('{')) {
      if (text.length === 0) throw new FamiliarError('MESSAGE_INVALID', 'empty request');
      return name === 'ask' ? { question: text } : { text };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new FamiliarError('MESSAGE_INVALID', 'the request is not valid JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new FamiliarError('MESSAGE_INVALID', 'a request must be a JSON object');
    const fields = { ...(parsed as Record<string, unknown>) };
    if ('type' in fields || 'id' in fields) throw new FamiliarError('MESSAGE_INVALID', 'the topic names the command: no "type" or "id" fields');
    return fields;
  }

  /** Replies may not land on discovery topics or Familiar's own state: only outside them, or under <prefix>/response/. */
  #replyTopicAllowed(topic: string): boolean {
    if (topic.length === 0 || /[#+\u0000]/.test(topic)) return false;
    if (topic.startsWith(`${this.#cfg.topicPrefix}/response/`)) return true;
    return !topic.startsWith(`${this.#cfg.topicPrefix}/`) && !topic.startsWith(`${this.#cfg.discoveryPrefix}/`) && topic !== this.#cfg.topicPrefix;
  }
}
