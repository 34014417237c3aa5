import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@familiar/config';

const run = promisify(execFile);

/** The keys the issue asks of the `--json` line. */
const NUMERIC_KEYS = [
  'overhead_ratio',
  'fps1cam',
  'fps3cam',
  'latency_ms_p50',
  'match_ms_per_detection10k',
  'hnsw_recall_at1_100k',
  'hnsw_ms_per_query100k',
  'enrol_ms5_photos',
  'ws_rtt_ms_p99',
  'rss_mb_idle',
  'rss_mb_full_rate',
] as const;

let tmp: string;
let stdout: string;
let stderr: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'familiar-bench-test-'));
  // The smoke size: every part of the benchmark on the smallest inputs (the real CLI, real models, real sockets).
  const res = await run(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'packages/cli/src/cli.ts'), 'bench', '--json', '--out', path.join(tmp, 'report.json')], {
    cwd: REPO_ROOT,
    env: { ...process.env, FAMILIAR_BENCH_SIZE: 'smoke' },
    maxBuffer: 16 * 1024 * 1024,
    timeout: 110_000,
  });
  stdout = res.stdout;
  stderr = res.stderr;
}, 120_000);

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('familiar bench --json', () => {
  it('prints one JSON summary as the last stdout line, with every key a finite number or null, and the machine', () => {
    const last = stdout.trimEnd().split('\n').at(-1)!;
    const summary = JSON.parse(last) as Record<string, unknown>;
    for (const key of NUMERIC_KEYS) {
      expect(summary, key).toHaveProperty(key);
      const v = summary[key];
      expect(v === null || (typeof v === 'number' && Number.isFinite(v)), `${key} = ${String(v)}`).toBe(true);
    }
    const machine = summary.machine as { cpu: unknown; cores: unknown };
    expect(typeof machine.cpu).toBe('string');
    expect(machine.cpu).not.toBe('');
    expect(Number.isInteger(machine.cores) && (machine.cores as number) >= 1).toBe(true);
    // What the smoke size does run is measured, not left null.
    for (const key of ['overhead_ratio', 'fps1cam', 'latency_ms_p50', 'enrol_ms5_photos', 'ws_rtt_ms_p99', 'rss_mb_idle', 'rss_mb_full_rate'] as const) expect(summary[key], key).not.toBeNull();
  });

  it('writes the full report with the same summary, and the human-readable table (machine line first) on stderr', async () => {
    const report = JSON.parse(await readFile(path.join(tmp, 'report.json'), 'utf8')) as {
      summary: Record<string, unknown>;
      budgets: { name: string; met: boolean | null }[];
      live: { one_camera: { frames: number; offered: number; dropped: number; ws: { clients: number; failed: number } } };
      pipeline: { all_new: { models: Record<string, unknown> }; stages: Record<string, unknown> };
      matching: { rows: { views: number; hnsw_recall_at1: number | null }[] };
    };
    expect(report.summary).toEqual(JSON.parse(stdout.trimEnd().split('\n').at(-1)!));
    expect(report.budgets.map((b) => b.name)).toHaveLength(6);
    const cam = report.live.one_camera;
    expect(cam.frames).toBeGreaterThan(0);
    // The replay offers more frames than the engine takes: the mailbox drops and counts them.
    expect(cam.offered).toBeGreaterThan(cam.frames);
    expect(cam.dropped).toBeGreaterThan(0);
    expect(cam.ws.clients).toBe(20);
    expect(Object.keys(report.pipeline.all_new.models)).toEqual(expect.arrayContaining(['detector', 'face_embedder', 'object_embedder']));
    expect(Object.keys(report.pipeline.stages)).toEqual(expect.arrayContaining(['decode', 'detector', 'faces', 'object_embedding', 'matching', 'tracking', 'overlay']));
    expect(report.matching.rows.map((r) => r.views)).toEqual([100, 1000]);
    const table = stderr.split('\n');
    const first = table.findIndex((l) => l.startsWith('machine: '));
    expect(first).toBeGreaterThanOrEqual(0);
    expect(table.slice(first).join('\n')).toMatch(/budget\s+target\s+measured\s+met/);
  });
});
