// Shared by the memory package's tests (not exported from the package).
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FamiliarError, normalise, seededRandom, type ErrorCode } from '@familiar/contracts';


export { seededRandom };

function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

export function randomUnit(dim: number, rand: () => number): Float32Array {
  const v = new Float32Array(dim);
  for (let i = 0; i < dim; i++) v[i] = gaussian(rand);
  return normalise(v);
}

/** `centre` plus isotropic noise, renormalised; `noise` is the noise norm relative to the centre's. */
export function perturb(centre: Float32Array, noise: number, rand: () => number): Float32Array {
  const n = randomUnit(centre.length, rand);
  const v = new Float32Array(centre.length);
  for (let i = 0; i < v.length; i++) v[i] = centre[i]! + noise * n[i]!;
  return normalise(v);
}

/** Clustered unit vectors, like embeddings of a few photos each of many identities. */
export function clusteredVectors(clusters: number, perCluster: number, dim: number, noise: number, seed: number): { vectors: Float32Array[]; centres: Float32Array[] } {
  const rand = seededRandom(seed);
  const centres = Array.from({ length: clusters }, () => randomUnit(dim, rand));
  const vectors: Float32Array[] = [];
  for (const c of centres) for (let i = 0; i < perCluster; i++) vectors.push(perturb(c, noise, rand));
  return { vectors, centres };
}

/** A fresh directory under the OS temp dir. */
export async function makeTempDir(prefix = 'familiar-memory-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Resolves with the FamiliarError a promise (or function) fails with; fails the test when it succeeds or throws something else. */
export async function caught(fn: Promise<unknown> | (() => unknown)): Promise<FamiliarError> {
  try {
    await (typeof fn === 'function' ? fn() : fn);
  } catch (err) {
    if (err instanceof FamiliarError) return err;
    throw new Error(`expected a FamiliarError, got ${String(err)}`);
  }
  throw new Error('expected a FamiliarError, but it succeeded');
}

export async function errorCode(fn: Promise<unknown> | (() => unknown)): Promise<ErrorCode> {
  return (await caught(fn)).code;
}

/**
 * Mounts a tiny tmpfs at `dir` so tests can hit a real ENOSPC; `extraOptions` (e.g. `mode=0700`) are appended to
 * the mount options. Returns an unmount function, or undefined where mounting is not permitted (not root, no
 * CAP_SYS_ADMIN), so those tests skip.
 */
export function mountTinyTmpfs(dir: string, sizeKiB: number, extraOptions?: string): (() => void) | undefined {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return undefined;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k${extraOptions ? `,${extraOptions}` : ''}`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  return () => execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
}
