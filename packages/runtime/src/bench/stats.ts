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
export function quantile(sorted: readonly number[], p: number): number {
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

/** Runs `fn` `times` times and returns each run's wall time in ms. */
export async function timeRuns(times: number, fn: (i: number) => unknown): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < times; i++) {
    const t = performance.now();
    await fn(i);
    out.push(performance.now() - t);
  }
  return out;
}
