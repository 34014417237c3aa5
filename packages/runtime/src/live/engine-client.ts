import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import { FamiliarError, type ConceptSummary, type Logger, type LogLevel, type WireError } from '@familiar/contracts';
import type { ResolvedConfig } from '@familiar/config';
import type { EngineApi } from './engine.ts';

/** The engine methods callable across the thread boundary: every method of {@link EngineApi}, no hand-kept list. */
export type EngineMethod = keyof EngineApi;

/**
 * Methods that only read or write the household memory (no model runs): they take the worker's quick lane,
 * ahead of frames, enrolments and image recognition, so "remember this" never waits behind a camera backlog.
 */
export const QUICK_METHODS: ReadonlySet<EngineMethod> = new Set<EngineMethod>([
  'list',
  'stats',
  'lastSeenAll',
  'sightings',
  'addNote',
  'notes',
  'lastMention',
  'addTrigger',
  'triggers',
  'cancelTrigger',
  'preferences',
  'setPreferences',
  'mergePreferences',
  'unknowns',
  'dismissUnknown',
  'thumbnail',
]);

type Args<M extends EngineMethod> = Parameters<EngineApi[M]>;
type Value<M extends EngineMethod> = Awaited<ReturnType<EngineApi[M]>>;

/** {@link EngineApi} as seen from the main thread: every method, answered asynchronously by the worker. */
export type RemoteEngine = { readonly [M in EngineMethod]: (...args: Args<M>) => Promise<Value<M>> };

export interface EngineRequest {
  id: number;
  method: EngineMethod;
  args: unknown[];
}

/**
 * What a call changed in the concept list, sent with its reply so the main thread keeps the list without
 * fetching it again: the ids in store order, and the summaries that are new or differ.
 */
export interface ConceptChanges {
  order: string[];
  changed: ConceptSummary[];
}

export type EngineResponse =
  | { type: 'ready'; concepts: ConceptSummary[] }
  | { type: 'fatal'; error: WireError }
  | { type: 'log'; level: LogLevel; msg: string; fields?: Record<string, unknown> }
  | { type: 'result'; id: number; ok: true; value: unknown; concepts?: ConceptChanges }
  | { type: 'result'; id: number; ok: false; error: WireError; concepts?: ConceptChanges };

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: FamiliarError) => void;
}

const WORKER_URL = new URL('./engine-worker.mjs', import.meta.url);
/**
 * Requests waiting per lane: model work (frames, enrolments, image recognition: large arguments, slow), and
 * memory commands (small, quick; room for every connection's command burst), so a frame backlog never refuses
 * a memory command.
 */
const MAX_PENDING = 256;
const MAX_PENDING_QUICK = 2048;

/**
 * The engine in a worker thread, so model runs and matching never block the event loop that serves clients.
 * If the worker dies it is restarted (with back-off, retried until it starts); calls in flight fail with INTERNAL,
 * calls while it is down with ENGINE_UNAVAILABLE. The enrolled concepts are kept here, current after every reply.
 */
export class EngineClient extends EventEmitter<{ restarted: [ConceptSummary[]]; crashed: [FamiliarError]; concepts: [ConceptSummary[]] }> {
  readonly #config: ResolvedConfig;
  readonly #log: Logger;
  #worker!: Worker;
  #nextId = 1;
  #pending = new Map<number, Pending & { quick: boolean }>();
  #pendingQuick = 0;
  #closing = false;
  #restarts = 0;
  /** The worker has exited and no new one is starting: calls fail fast instead of waiting on a dead thread. */
  #down = false;
  #concepts = new Map<string, ConceptSummary>();
  #conceptList: ConceptSummary[] = [];

  /** Every engine method, forwarded to the worker: `engine.api.sightings(query)`. */
  readonly api: RemoteEngine = new Proxy({} as RemoteEngine, {
    get: (_, method) => (typeof method === 'string' ? (...args: unknown[]) => this.call(method as EngineMethod, ...(args as never)) : undefined),
  });

  private constructor(config: ResolvedConfig, log: Logger) {
    super();
    this.#config = config;
    this.#log = log;
  }

  /** Starts the worker and waits until its models are loaded. `log` receives the worker's log lines (store repairs). */
  static async start(config: ResolvedConfig, log: Logger = () => undefined): Promise<EngineClient> {
    const client = new EngineClient(config, log);
    await client.#spawn();
    return client;
  }

  /** The enrolled concepts, in store order; replaced (never mutated) when a call changes them. */
  get concepts(): ConceptSummary[] {
    return this.#conceptList;
  }

  /** Replaces the list and tells `concepts` listeners (the MQTT bridge republishes its entities). */
  #setConcepts(list: readonly ConceptSummary[]): void {
    this.#concepts = new Map(list.map((c) => [c.id, c]));
    this.#conceptList = [...list];
    this.emit('concepts', this.#conceptList);
  }

  #applyChanges(changes: ConceptChanges): void {
    const changed = new Map(changes.changed.map((c) => [c.id, c]));
    this.#setConcepts(changes.order.map((id) => (changed.get(id) ?? this.#concepts.get(id))!));
  }

  #spawn(): Promise<ConceptSummary[]> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(WORKER_URL, { workerData: this.#config });
      this.#worker = worker;
      this.#down = false;
      let ready = false;
      worker.on('message', (msg: EngineResponse) => {
        if (msg.type === 'ready') {
          ready = true;
          this.#setConcepts(msg.concepts);
          resolve(msg.concepts);
        } else if (msg.type === 'fatal') {
          // The worker exits right after this: take no more calls.
          this.#down = true;
          reject(FamiliarError.fromJSON(msg.error));
        } else if (msg.type === 'log') {
          this.#log(msg.level, msg.msg, msg.fields);
        } else {
          // Before the reply settles, so a caller sees the list its call produced.
          if (msg.concepts) this.#applyChanges(msg.concepts);
          const p = this.#pending.get(msg.id);
          if (!p) return;
          this.#pending.delete(msg.id);
          if (p.quick) this.#pendingQuick--;
          if (msg.ok) p.resolve(msg.value);
          else p.reject(FamiliarError.fromJSON(msg.error));
        }
      });
      worker.on('error', (err) => {
        if (!ready) reject(new FamiliarError('INTERNAL', `engine worker failed to start: ${err.message}`, { cause: err }));
      });
      worker.on('exit', (code) => {
        this.#down = true;
        const failure = new FamiliarError('INTERNAL', `engine worker exited with code ${code}`);
        for (const p of this.#pending.values()) p.reject(failure);
        this.#pending.clear();
        this.#pendingQuick = 0;
        if (!ready) {
          reject(failure);
          return;
        }
        if (this.#closing) return;
        this.emit('crashed', failure);
        this.#restartLater();
      });
    });
  }

  /** Restarts the worker after a back-off, and keeps trying (a model file being restored, say) until one starts. */
  #restartLater(): void {
    const delay = Math.min(30_000, 500 * 2 ** Math.min(this.#restarts++, 6));
    setTimeout(() => {
      if (this.#closing) return;
      this.#spawn().then(
        (concepts) => this.emit('restarted', concepts),
        (err: FamiliarError) => {
          this.emit('crashed', err);
          this.#restartLater();
        },
      );
    }, delay).unref();
  }

  call<M extends EngineMethod>(method: M, ...args: Args<M>): Promise<Value<M>> {
    if (this.#closing) return Promise.reject(new FamiliarError('CANCELLED', 'the engine is shutting down'));
    if (this.#down) return Promise.reject(new FamiliarError('ENGINE_UNAVAILABLE', 'the recognition engine is restarting after a failure'));
    const quick = QUICK_METHODS.has(method);
    const waiting = quick ? this.#pendingQuick : this.#pending.size - this.#pendingQuick;
    if (waiting >= (quick ? MAX_PENDING_QUICK : MAX_PENDING)) return Promise.reject(new FamiliarError('RATE_LIMITED', 'the engine has too many requests waiting'));
    const id = this.#nextId++;
    if (quick) this.#pendingQuick++;
    return new Promise<Value<M>>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, quick });
      this.#worker.postMessage({ id, method, args } satisfies EngineRequest);
    });
  }

  /** Requests waiting for the worker. */
  get pending(): number {
    return this.#pending.size;
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    const done = this.call('close').catch(() => undefined);
    this.#closing = true;
    await Promise.race([done, new Promise((r) => setTimeout(r, 5000).unref())]);
    await this.#worker.terminate();
  }
}
