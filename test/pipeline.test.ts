import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SceneEvent } from '@familiar/contracts';
import { loadConfig, type ResolvedConfig } from '@familiar/config';
import { FamiliarCore, Runtime } from '@familiar/runtime';
import { dataFile } from './support/static-backend.ts';

const run = promisify(execFile);
const hasFfmpeg = (() => {
  try {
    execFileSync('ffmpeg', ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

let tmp: string;
let store: string;
let conceptId: string;

/** Frames: the dog for `dog` frames, then the can (the dog has left) for `can` frames. */
async function sequence(dir: string, pattern: string[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [i, f] of pattern.entries()) await symlink(dataFile(f), path.join(dir, `f${String(i).padStart(3, '0')}.jpg`));
}

function config(cameras: unknown[], overrides: Record<string, unknown> = {}): ResolvedConfig {
  return loadConfig({
    profile: 'ci',
    env: { FAMILIAR_STORE_DIR: store },
    overrides: { cameras, tracking: { maxMissedFrames: 2, maxMissedMs: 400 }, ...overrides },
  });
}

async function collect(rt: Runtime, until: (events: SceneEvent[]) => boolean, timeoutMs: number): Promise<SceneEvent[]> {
  const events: SceneEvent[] = [];
  const off = rt.backend.subscribe((e) => events.push(e));
  const deadline = Date.now() + timeoutMs;
  try {
    while (!until(events)) {
      if (Date.now() > deadline) throw new Error(`timed out; events so far: ${JSON.stringify(events.map((e) => [e.type, e.name]))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    off();
  }
  return events;
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'familiar-pipeline-'));
  store = path.join(tmp, 'store');
  const core = await FamiliarCore.open(loadConfig({ profile: 'ci', env: {} }), store);
  const res = await core.enrol({ name: 'Biscuit', kind: 'pet', photos: [{ file: dataFile('dreambooth/dog2/00.jpg') }, { file: dataFile('dreambooth/dog2/01.jpg') }] });
  conceptId = res.concept.id;
  await core.close();
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('live pipeline on a replay of real photos', () => {
  it('reports Biscuit appearing once and leaving, keeps the name through a frame of another dog, and records the visit', async () => {
    const dog = (n: string) => `dreambooth/dog2/${n}.jpg`;
    const frames = path.join(tmp, 'visit');
    // Biscuit, then one frame of a different dog (a mis-recognition opportunity), Biscuit again, then only the can.
    await sequence(frames, [dog('02'), dog('03'), dog('04'), 'dreambooth/dog3/02.jpg', dog('05'), dog('02'), ...['02', '03', '04', '05', '02', '03'].map((n) => `dreambooth/can/${n}.jpg`)]);
    const rt = await Runtime.start({ config: config([{ id: 'kitchen', room: 'kitchen', fps: 3, source: { kind: 'replay', uri: frames, loop: false } }]), serve: false });
    try {
      const events = await collect(rt, (ev) => ev.some((e) => e.type === 'left' && e.conceptId === conceptId), 60_000);
      const mine = events.filter((e) => e.conceptId === conceptId);
      expect(mine.filter((e) => e.type === 'appeared')).toHaveLength(1);
      expect(mine.filter((e) => e.type === 'left')).toHaveLength(1);
      expect(events.filter((e) => e.type === 'appeared' && e.conceptId !== conceptId && e.conceptId !== null)).toEqual([]);
      const appeared = mine.find((e) => e.type === 'appeared')!;
      expect(appeared).toMatchObject({ cameraId: 'kitchen', room: 'kitchen', name: 'Biscuit', kind: 'pet' });
      const [visit] = await rt.backend.sightings({ conceptId, limit: 5 });
      expect(visit).toMatchObject({ conceptId, name: 'Biscuit', cameraId: 'kitchen', room: 'kitchen', ongoing: false });
      expect(visit!.lastSeen).toBeGreaterThan(visit!.firstSeen);
      expect(rt.backend.lastSeen(conceptId)).toMatchObject({ room: 'kitchen' });
    } finally {
      await rt.stop();
    }
  });

  it('drops and counts frames a slow pipeline cannot take, with nothing queued beyond one frame per camera', async () => {
    const frames = path.join(tmp, 'fast');
    await sequence(frames, ['02', '03', '04', '05'].map((n) => `dreambooth/dog2/${n}.jpg`));
    const cams = ['a', 'b', 'c'].map((id) => ({ id, room: `room ${id}`, fps: 30, source: { kind: 'replay', uri: frames } }));
    const rt = await Runtime.start({ config: config(cams), serve: false });
    try {
      let maxQueue = 0;
      const until = Date.now() + 4000;
      while (Date.now() < until) {
        maxQueue = Math.max(maxQueue, rt.engine.pending);
        await new Promise((r) => setTimeout(r, 25));
      }
      const status = rt.cameraStatus();
      expect(status).toHaveLength(3);
      for (const s of status) {
        expect(s.counters.processed).toBeGreaterThan(0);
        expect(s.counters.dropped).toBeGreaterThan(0);
        expect(s.counters.captured).toBeGreaterThanOrEqual(s.counters.processed + s.counters.dropped);
      }
      expect(maxQueue).toBeLessThanOrEqual(3);
    } finally {
      await rt.stop();
    }
  });

  it.skipIf(!hasFfmpeg)('restarts a killed ffmpeg source and the events resume', async () => {
    const video = path.join(tmp, 'walk.mkv');
    const frames = path.join(tmp, 'video-frames');
    await sequence(frames, ['02', '03', '04', '05'].map((n) => `dreambooth/dog2/${n}.jpg`));
    await run('ffmpeg', ['-v', 'error', '-y', '-framerate', '2', '-pattern_type', 'glob', '-i', path.join(frames, '*.jpg'), '-vf', 'scale=640:-2', '-c:v', 'mjpeg', '-q:v', '4', video]);
    const rt = await Runtime.start({
      config: config([{ id: 'porch', room: 'porch', fps: 3, source: { kind: 'ffmpeg', uri: video }, supervision: { restartInitialMs: 200, restartMaxMs: 1000 } }]),
      serve: false,
    });
    try {
      await collect(rt, (ev) => ev.some((e) => e.type === 'appeared' && e.conceptId === conceptId), 60_000);
      const pids = execFileSync('pgrep', ['-f', video]).toString().trim().split('\n').map(Number);
      expect(pids.length).toBeGreaterThan(0);
      for (const pid of pids) process.kill(pid, 'SIGKILL');
      // The tracks end with the stream; after the restart Biscuit appears again.
      const events = await collect(rt, (ev) => ev.some((e) => e.type === 'appeared' && e.conceptId === conceptId), 60_000);
      expect(events.some((e) => e.type === 'appeared' && e.conceptId === conceptId)).toBe(true);
      const after = execFileSync('pgrep', ['-f', video]).toString().trim().split('\n').map(Number);
      expect(after.some((p) => !pids.includes(p))).toBe(true);
    } finally {
      await rt.stop();
    }
  });
});
