import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { FamiliarError } from '@familiar/contracts';
import type { ModelEntry, ModelRole, Provider } from '@familiar/config';

export type Feeds = Record<string, ort.Tensor>;

/** A loaded model: its ONNX Runtime session, which provider it landed on, and cumulative run time. */
export interface ModelSession {
  role: ModelRole;
  file: string;
  provider: Provider;
  inputName: string;
  /** Runs the model; adds the wall time to `stats`. */
  run(feeds: Feeds): Promise<Record<string, ort.Tensor>>;
  stats: { runs: number; ms: number };
  release(): Promise<void>;
}

export interface SessionOptions {
  providers: readonly Provider[];
  intraOpThreads: number;
  verifyHashes: boolean;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function float32Tensor(data: Float32Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

/**
 * onnxruntime-node runs a model synchronously on the calling thread (its promise only defers the call), so two runs
 * started together execute one after the other anyway. Queuing them explicitly keeps each run's measured time its
 * own (`stats.ms` is pure model time, and their sum never counts a wait for another model).
 */
let runQueue: Promise<unknown> = Promise.resolve();

function providerOption(p: Provider): ort.InferenceSession.ExecutionProviderConfig {
  return p;
}

function checkIo(session: ort.InferenceSession, role: ModelRole, entry: ModelEntry, file: string): void {
  const fail = (what: string) =>
    new FamiliarError(
      'MODEL_IO_MISMATCH',
      `${file} (role ${role}): ${what}. The file does not fit the manifest entry; replace it with the model the manifest describes or update config/models.yaml.`,
    );
  if (!session.inputNames.includes(entry.input.name)) throw fail(`no input "${entry.input.name}" (has ${session.inputNames.join(', ')})`);
  for (const out of entry.outputs) if (!session.outputNames.includes(out)) throw fail(`no output "${out}" (has ${session.outputNames.join(', ')})`);
  const meta = session.inputMetadata.find((m) => m.name === entry.input.name);
  if (meta && meta.isTensor) {
    if (meta.type !== 'float32') throw fail(`input type is ${meta.type}, expected float32`);
    const shape = meta.shape;
    if (shape.length !== 4) throw fail(`input has rank ${shape.length}, expected 4 (NCHW)`);
    const expect = (dim: number | string | undefined, want: number | 'dynamic', name: string) => {
      if (want === 'dynamic') return;
      if (typeof dim === 'number' && dim !== want) throw fail(`input ${name} is ${dim}, expected ${want}`);
    };
    if (typeof shape[1] === 'number' && shape[1] !== 3) throw fail(`input has ${shape[1]} channels, expected 3`);
    expect(shape[2], entry.input.height, 'height');
    expect(shape[3], entry.input.width, 'width');
  }
}

/**
 * Verifies a model file against its manifest entry and opens a session on the first provider that loads.
 * ONNX Runtime does not fall back by itself (a missing CUDA library is a hard error), so each provider is tried
 * in turn.
 */
export async function openModel(role: ModelRole, entry: ModelEntry, modelsDir: string, options: SessionOptions): Promise<ModelSession> {
  const file = path.join(modelsDir, entry.file);
  if (!existsSync(file)) {
    throw new FamiliarError(
      'MODEL_MISSING',
      `model file ${file} (role ${role}) is missing. Put ${entry.file} in the models directory (config models.dir or env FAMILIAR_MODELS_DIR), or run \`pnpm familiar models fetch\` on a connected machine.`,
    );
  }
  if (options.verifyHashes) {
    const actual = await sha256File(file);
    if (actual !== entry.sha256) {
      throw new FamiliarError(
        'MODEL_HASH_MISMATCH',
        `model file ${file} (role ${role}) has sha256 ${actual}, the manifest expects ${entry.sha256}. The file is damaged or a different model: restore the original or update config/models.yaml.`,
      );
    }
  }
  const errors: string[] = [];
  for (const provider of options.providers) {
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(file, {
        executionProviders: [providerOption(provider)],
        intraOpNumThreads: options.intraOpThreads,
        graphOptimizationLevel: 'all',
        // Idle intra-op threads do not spin for work (ORT's default is to spin): on a small CPU shared with decoding,
        // the event loop and other sessions, spinning threads steal the cores the work needs (measured 1.5–3× slower runs).
        extra: { session: { intra_op: { allow_spinning: '0' } } },
      });
    } catch (cause) {
      errors.push(`${provider}: ${(cause as Error).message}`);
      continue;
    }
    checkIo(session, role, entry, file);
    const stats = { runs: 0, ms: 0 };
    return {
      role,
      file,
      provider,
      inputName: entry.input.name,
      stats,
      run(feeds) {
        const turn = runQueue.then(async () => {
          const t0 = performance.now();
          try {
            return (await session.run(feeds)) as Record<string, ort.Tensor>;
          } catch (cause) {
            throw new FamiliarError('INFERENCE_FAILED', `${entry.file}: ${(cause as Error).message}`, { cause });
          } finally {
            stats.runs++;
            stats.ms += performance.now() - t0;
          }
        });
        runQueue = turn.catch(() => undefined);
        return turn;
      },
      release: () => session.release(),
    };
  }
  const allGpu = errors.length > 0 && !options.providers.includes('cpu');
  throw new FamiliarError(allGpu ? 'PROVIDER_UNAVAILABLE' : 'MODEL_LOAD_FAILED', `cannot open ${file} (role ${role}): ${errors.join('; ')}`);
}

