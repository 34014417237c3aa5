import { parentPort, workerData } from 'node:worker_threads';
import { toFamiliarError } from '@familiar/contracts';
import type { ResolvedConfig } from '@familiar/config';
import { Engine } from './engine.ts';
import type { EngineRequest, EngineResponse } from './engine-client.ts';

const port = parentPort!;
const engine = await Engine.open(workerData as ResolvedConfig).catch((err: unknown) => {
  port.postMessage({ type: 'fatal', error: toFamiliarError(err).toJSON() } satisfies EngineResponse);
  process.exit(1);
});

// Requests run one at a time in arrival order: the models share the CPU anyway, and the store wants one writer.
let queue: Promise<void> = Promise.resolve();
port.on('message', (req: EngineRequest) => {
  queue = queue.then(async () => {
    try {
      const fn = engine[req.method] as (...args: unknown[]) => unknown;
      const value = await fn.apply(engine, req.args);
      port.postMessage({ type: 'result', id: req.id, ok: true, value } satisfies EngineResponse);
      if (req.method === 'close') process.exit(0);
    } catch (err) {
      port.postMessage({ type: 'result', id: req.id, ok: false, error: toFamiliarError(err).toJSON() } satisfies EngineResponse);
    }
  });
});
port.postMessage({ type: 'ready', concepts: engine.list() } satisfies EngineResponse);
