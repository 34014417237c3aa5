import { parentPort, workerData } from 'node:worker_threads';
import { toFamiliarError } from '@familiar/contracts';
import type { ResolvedConfig } from '@familiar/config';
import { Engine } from './engine.ts';
import { QUICK_METHODS, type EngineRequest, type EngineResponse } from './engine-client.ts';

const port = parentPort!;
const engine = await Engine.open(workerData as ResolvedConfig).catch((err: unknown) => {
  port.postMessage({ type: 'fatal', error: toFamiliarError(err).toJSON() } satisfies EngineResponse);
  process.exit(1);
});

// Requests run one at a time (the models share the CPU anyway, and the store wants one writer), memory-only
// requests first: a command waits for at most the one frame in progress, never for a queue of them.
const quick: EngineRequest[] = [];
const heavy: EngineRequest[] = [];
let running = false;

async function run(req: EngineRequest): Promise<void> {
  try {
    const fn = engine[req.method] as (...args: unknown[]) => unknown;
    const value = await fn.apply(engine, req.args);
    port.postMessage({ type: 'result', id: req.id, ok: true, value } satisfies EngineResponse);
    if (req.method === 'close') process.exit(0);
  } catch (err) {
    port.postMessage({ type: 'result', id: req.id, ok: false, error: toFamiliarError(err).toJSON() } satisfies EngineResponse);
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
