import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FamiliarError } from '@familiar/contracts';
import { loadConfig, loadModelsManifest, type ModelsManifest } from '@familiar/config';
import { openModel } from '@familiar/vision';

const config = loadConfig({ env: {} });
const manifest: ModelsManifest = loadModelsManifest(config.paths.modelsManifest);
const options = { providers: ['cpu'] as const, intraOpThreads: 1, verifyHashes: true };
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'familiar-models-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function failure(p: Promise<unknown>): Promise<FamiliarError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof FamiliarError) return e;
    throw e;
  }
  throw new Error('expected a FamiliarError');
}

describe('model loading', () => {
  it('opens every model of the manifest from the shared models directory, verified', async () => {
    for (const [role, entry] of Object.entries(manifest.models)) {
      const s = await openModel(role as never, entry!, config.paths.modelsDir, { ...options, providers: ['cpu'] });
      expect(s.provider).toBe('cpu');
      await s.release();
    }
  });

  it('falls back along the provider list to the CPU when a GPU provider cannot load', async () => {
    const s = await openModel('detector', manifest.models.detector, config.paths.modelsDir, { ...options, providers: ['tensorrt', 'cuda', 'cpu'] });
    expect(s.provider).toBe('cpu');
    await s.release();
  });

  it('names the missing file and what to do', async () => {
    const e = await failure(openModel('detector', manifest.models.detector, dir, { ...options, providers: ['cpu'] }));
    expect(e.code).toBe('MODEL_MISSING');
    expect(e.message).toContain(manifest.models.detector.file);
    expect(e.message).toMatch(/models directory/);
  });

  it('refuses a damaged file by its sha256', async () => {
    const src = path.join(config.paths.modelsDir, manifest.models.faceDetector.file);
    const bytes = await readFile(src);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 10) ^ 0xff, bytes.length - 10);
    await writeFile(path.join(dir, manifest.models.faceDetector.file), bytes);
    const e = await failure(openModel('faceDetector', manifest.models.faceDetector, dir, { ...options, providers: ['cpu'] }));
    expect(e.code).toBe('MODEL_HASH_MISMATCH');
    expect(e.message).toContain(manifest.models.faceDetector.sha256);
  });

  it('refuses a different model under the right name by its tensors', async () => {
    // The face embedder's file in place of the detector, with hash checks off: only the I/O check can catch it.
    await copyFile(path.join(config.paths.modelsDir, manifest.models.faceEmbedder.file), path.join(dir, manifest.models.detector.file));
    const e = await failure(openModel('detector', manifest.models.detector, dir, { ...options, providers: ['cpu'], verifyHashes: false }));
    expect(e.code).toBe('MODEL_IO_MISMATCH');
    expect(e.message).toContain(manifest.models.detector.file);
  });
});

describe('models fetch', () => {
  it('downloads missing models over HTTP, verifies them and refuses tampered files', async () => {
    const { createServer } = await import('node:http');
    const { fetchModels } = await import('@familiar/vision');
    let tamper = false;
    const server = createServer(async (req, res) => {
      const file = decodeURIComponent((req.url ?? '').replace(/^\/models\//, ''));
      try {
        const bytes = await readFile(path.join(config.paths.modelsDir, path.basename(file)));
        if (tamper) bytes.writeUInt8(bytes.readUInt8(100) ^ 1, 100);
        res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(bytes);
      } catch {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}/models/`;
    const target = await mkdtemp(path.join(os.tmpdir(), 'familiar-fetch-'));
    try {
      const small: ModelsManifest = { models: { ...manifest.models, bodyEmbedder: undefined, salient: undefined } };
      const first = await fetchModels(small, target, { baseUrl: base });
      expect(first.fetched.sort()).toEqual(Object.values(small.models).filter(Boolean).map((e) => e!.file).sort());
      const again = await fetchModels(small, target, { baseUrl: base });
      expect(again.fetched).toEqual([]);
      const s = await openModel('detector', small.models.detector, target, { ...options, providers: ['cpu'] });
      await s.release();

      tamper = true;
      const only: ModelsManifest = { models: { ...small.models, bodyEmbedder: manifest.models.bodyEmbedder } };
      const e = await failure(fetchModels(only, target, { baseUrl: base }));
      expect(e.code).toBe('MODEL_HASH_MISMATCH');
      const { readdir } = await import('node:fs/promises');
      expect((await readdir(target)).some((f) => f.includes(manifest.models.bodyEmbedder!.file))).toBe(false);
    } finally {
      server.close();
      await rm(target, { recursive: true, force: true });
    }
  });
});
