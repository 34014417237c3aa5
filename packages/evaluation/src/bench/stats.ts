import type { EngineStats } from '@familiar/runtime';

/** Order statistics of a sample of timings (or any numbers). */
export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

/** The p-quantile (0..1) of sorted values, linearly interpolated. */
function quantile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const at = (sorted.length - 1) * p;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

export function summarise(samples: readonly number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  return { n: s.length, p50: quantile(s, 0.5), p95: quantile(s, 0.95), p99: quantile(s, 0.99), mean, min: s[0] ?? Number.NaN, max: s.at(-1) ?? Number.NaN };
}

export function median(samples: readonly number[]): number {
  return quantile([...samples].sort((a, b) => a - b), 0.5);
}

/** Rounds for reports: 3 significant digits below 10, 1 decimal below 1000, integers above. */
export function round(x: number | null): number | null {
  if (x === null || !Number.isFinite(x)) return null;
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x);
  if (a >= 10) return Math.round(x * 10) / 10;
  return Number(x.toPrecision(3));
}

/** Model run time (all sessions) between two engine stats snapshots, ms. */
export function sumModelMs(after: EngineStats, before: EngineStats): number {
  let ms = 0;
  for (const [role, s] of Object.entries(after.models)) ms += s.ms - (before.models[role]?.ms ?? 0);
  return ms;
}

/** Share of region embeddings reused between two engine stats snapshots (0 when none were looked up). */
export function reuseRate(after: EngineStats, before: EngineStats): number {
  const hits = after.reuse.hits - before.reuse.hits;
  const looked = hits + after.reuse.misses - before.reuse.misses;
  return looked ? hits / looked : 0;
}
