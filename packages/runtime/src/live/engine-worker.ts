import { parentPort, workerData } from 'node:worker_threads';
import { toFamiliarError, type ConceptSummary, type Logger } from '@familiar/contracts';
import type { ResolvedConfig } from '@familiar/config';
import { Engine, isEngineMethod } from './engine.ts';
import { QUICK_METHODS, type ConceptChanges, type EngineRequest, type EngineResponse } from './engine-client.ts';

const port = parentPort!;
// Log lines cross to the main thread, which owns the process's log.
const log: Logger = (level, msg, fields) => port.postMessage({ type: 'log', level, msg, ...(fields && { fields }) } satisfies EngineResponse);
const engine = await Engine.open(workerData as ResolvedConfig, log).catch((err: unknown) => {
  port.postMessage({ type: 'fatal', error: toFamiliarError(err).toJSON() } satisfies EngineResponse);
  process.exit(1);
});

/** The concept list as the main thread last saw it, to send only what a call changed. */
let sent = new Map(engine.list().map((c) => [c.id, JSON.stringify(c)]));
let revision = engine.conceptRevision;

function conceptChanges(): ConceptChanges | undefined {
  if (engine.conceptRevision === revision) return undefined;
  revision = engine.conceptRevision;
  const now = engine.list();
  const changed: ConceptSummary[] = [];
  const next = new Map<string, string>();
  for (const c of now) {
    const json = JSON.stringify(c);
    next.set(c.id, json);
    if (sent.get(c.id) !== json) changed.push(c);
  }
  sent = next;
  return { order: now.map((c) => c.id), changed };
}

// Requests run one at a time (the models share the CPU anyway, and the store wants one writer), memory-only
// requests first: a command waits for at most the one frame in progress, never for a queue of them.
const quick: EngineRequest[] = [];
const heavy: EngineRequest[] = [];
let running = false;

async function run(req: EngineRequest): Promise<void> {
  try {
    if (!isEngineMethod(engine, req.method)) throw new TypeError(`the engine has no method ${String(req.method)}`);
    const fn = engine[req.method] as (...args: unknown[]) => unknown;
    const value = await fn.apply(engine, req.args);
    const concepts = conceptChanges();
    port.postMessage({ type: 'result', id: req.id, ok: true, value, ...(concepts && { concepts }) } satisfies EngineResponse);
    if (req.method === 'close') process.exit(0);
  } catch (err) {
    // A call that failed half-way (a recalibration after a failed write, say) may still have changed concepts.
    const concepts = conceptChanges();
    port.postMessage({ type: 'result', id: req.id, ok: false, error: toFamiliarError(err).toJSON(), ...(concepts && { concepts }) } satisfies EngineResponse);
  }
}

function next(): void {
  if (running) return;
  const req = quick.shift() ?? heavy.shift();
  if (!req) return;
  running = true;
  void run(req).finally(() => {
    running = false;
    next();
  });
}

port.on('message', (req: EngineRequest) => {
  (QUICK_METHODS.has(req.method) ? quick : heavy).push(req);
  next();
});
port.postMessage({ type: 'ready', concepts: engine.list() } satisfies EngineResponse);
