import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { FamiliarError } from '@familiar/contracts';
import type { ModelEntry, ModelsManifest } from '@familiar/config';
import { sha256File } from './session.ts';

export interface FetchOptions {
  /** Base URL the files are fetched from when an entry has no `url` of its own (file name appended). */
  baseUrl?: string;
  /** Largest file accepted, bytes. */
  maxBytes?: number;
  /** Per-file time limit, ms. */
  timeoutMs?: number;
  onProgress?: (file: string, state: 'present' | 'fetched') => void;
}

export interface FetchReport {
  present: string[];
  fetched: string[];
}

const DEFAULT_MAX_BYTES = 2 * 1024 ** 3;

/**
 * Downloads every manifest model that is missing (or damaged) in `modelsDir`, for connected machines. Each file is
 * streamed to a temporary name, its sha256 checked against the manifest, and only then renamed into place: a
 * failed or tampered download never leaves a file that could be loaded.
 */
export async function fetchModels(manifest: ModelsManifest, modelsDir: string, options: FetchOptions = {}): Promise<FetchReport> {
  await mkdir(modelsDir, { recursive: true });
  const report: FetchReport = { present: [], fetched: [] };
  for (const entry of Object.values(manifest.models) as (ModelEntry | undefined)[]) {
    if (!entry) continue;
    const target = path.join(modelsDir, entry.file);
    if (existsSync(target) && (await sha256File(target)) === entry.sha256) {
      report.present.push(entry.file);
      options.onProgress?.(entry.file, 'present');
      continue;
    }
    const url = entry.url ?? (options.baseUrl ? new URL(encodeURIComponent(entry.file), options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`).href : null);
    if (!url) throw new FamiliarError('MODEL_MISSING', `${entry.file} is missing and its manifest entry has no url; pass a base URL to fetch it from`);
    await download(url, target, entry.sha256, options);
    report.fetched.push(entry.file);
    options.onProgress?.(entry.file, 'fetched');
  }
  return report;
}

async function download(url: string, target: string, sha256: string, options: FetchOptions): Promise<void> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const temp = `${target}.download-${randomBytes(4).toString('hex')}`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(options.timeoutMs ?? 600_000), redirect: 'follow' });
  } catch (cause) {
    throw new FamiliarError('MODEL_MISSING', `cannot download ${url}: ${(cause as Error).message}`, { cause });
  }
  if (!res.ok || !res.body) throw new FamiliarError('MODEL_MISSING', `cannot download ${url}: HTTP ${res.status}`);
  const hash = createHash('sha256');
  const out = createWriteStream(temp, { mode: 0o644 });
  let bytes = 0;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.byteLength;
      if (bytes > maxBytes) throw new FamiliarError('MODEL_MISSING', `${url} is larger than ${maxBytes} bytes`);
      hash.update(chunk);
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    const actual = hash.digest('hex');
    if (actual !== sha256) throw new FamiliarError('MODEL_HASH_MISMATCH', `${url} has sha256 ${actual}, the manifest expects ${sha256}; the file was not installed`);
    await rename(temp, target);
  } catch (err) {
    out.destroy();
    await rm(temp, { force: true });
    throw err;
  }
}
