import { appendFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FamiliarError, type Box } from '@familiar/contracts';
import { SightingsLog, type SightingsOptions, type SightingStart } from './sightings.ts';
import { caught, errorCode, makeTempDir, mountTinyTmpfs, removeDir } from './test-helpers.ts';

const DAY = 24 * 60 * 60 * 1000;
const T0 = Date.UTC(2026, 0, 1);
let dir: string;
let file: string;
let log: SightingsLog | undefined;
let clock = T0;

beforeEach(async () => {
  dir = await makeTempDir();
  file = path.join(dir, 'sightings.jsonl');
  clock = T0;
});
afterEach(async () => {
  await log?.close().catch(() => undefined);
  log = undefined;
  await removeDir(dir);
});

const box = (x: number): Box => ({ xmin: x, ymin: 10, xmax: x + 50, ymax: 120 });

function start(conceptId: string | null, at: number, cameraId = 'hall'): SightingStart {
  return { conceptId, trackId: `t-${at}`, cameraId, room: cameraId === 'hall' ? 'hallway' : 'kitchen', at, box: box(0), confidence: 0.8 };
}

async function open(options: SightingsOptions = {}): Promise<SightingsLog> {
  log = await SightingsLog.open(file, { now: () => clock, flushMs: 20, ...options });
  return log;
}

/** Drop the log without closing it (what a kill -9 does), then open the file again. */
async function reopenAfterCrash(options: SightingsOptions = {}): Promise<SightingsLog> {
  log = undefined;
  return open(options);
}

async function fileLines(): Promise<string[]> {
  return (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '');
}

/** The file's lines once it has `n` of them (polling, so a loaded machine does not fail the test). */
async function waitForLines(n: number): Promise<string[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const lines = await fileLines();
    if (lines.length >= n || Date.now() > deadline) return lines;
    await sleep(10);
  }
}

describe('SightingsLog', () => {
  it('records visits, answers last-seen and recent queries, and reloads them after a restart', async () => {
    const s = await open();
    const billy = s.begin(start('billy', T0));
    s.update(billy.id, { at: T0 + 1000, box: box(30), confidence: 0.9 });
    s.end(billy.id, { at: T0 + 2000 });
    const anna = s.begin(start('anna', T0 + 500, 'kitchen'));
    s.update(anna.id, { at: T0 + 5000 });
    const stranger = s.begin(start(null, T0 + 3000));
    s.end(stranger.id);

    expect(s.get(billy.id)).toMatchObject({ conceptId: 'billy', firstSeen: T0, lastSeen: T0 + 2000, box: box(30), confidence: 0.9, open: false, cameraId: 'hall', room: 'hallway' });
    expect(s.lastSeen('anna')).toMatchObject({ id: anna.id, lastSeen: T0 + 5000, open: true });
    expect(s.lastSeen(null)?.id).toBe(stranger.id);
    expect(s.lastSeen('nobody')).toBeUndefined();
    expect(s.recent({ limit: 10 }).map((r) => r.id)).toEqual([anna.id, stranger.id, billy.id]);
    expect(s.recent({ limit: 2 }).map((r) => r.id)).toEqual([anna.id, stranger.id]);
    expect(s.recent({ limit: 10, cameraId: 'hall' }).map((r) => r.id)).toEqual([stranger.id, billy.id]);
    expect(s.recent({ limit: 10, since: T0 + 2500 }).map((r) => r.id)).toEqual([anna.id, stranger.id]);
    expect(s.recent({ limit: 10, conceptId: null }).map((r) => r.id)).toEqual([stranger.id]);
    // Re-identification moves the visit to the new concept.
    s.update(anna.id, { at: T0 + 6000, conceptId: 'anna-k' });
    expect(s.lastSeen('anna')).toBeUndefined();
    expect(s.lastSeen('anna-k')?.id).toBe(anna.id);
    await s.close();

    const s2 = await open();
    expect(s2.size).toBe(3);
    expect(s2.get(billy.id)).toEqual({ ...s.get(billy.id) });
    // A visit still open at shutdown ends at its last persisted sighting.
    expect(s2.get(anna.id)).toMatchObject({ conceptId: 'anna-k', lastSeen: T0 + 6000, open: false });
    expect(s2.report.closedOnOpen).toBe(1);
  });

  it('puts new and ended visits on disk within the flush interval, without close', async ({ annotate }) => {
    const s = await open({ flushMs: 30 });
    const v = s.begin(start('billy', T0));
    expect(await fileLines()).toHaveLength(1); // only the header so far
    const began = Date.now();
    const lines = await waitForLines(2);
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[1]!).s).toMatchObject({ id: v.id, conceptId: 'billy', open: true });
    await annotate(`begin reached the disk after ${Date.now() - began} ms (flushMs 30)`);
    s.end(v.id, { at: T0 + 100 });
    expect(JSON.parse((await waitForLines(3))[2]!).s).toMatchObject({ id: v.id, open: false });
  });

  it('coalesces position updates of an ongoing visit (at most one line per updatePersistMs)', async () => {
    const s = await open({ updatePersistMs: 1000 });
    const v = s.begin(start('billy', T0));
    await s.flush();
    for (let i = 1; i <= 200; i++) {
      clock = T0 + i * 4;
      s.update(v.id, { at: clock, box: box(i) });
    }
    await sleep(100);
    // 800 ms of updates at 250 fps: not yet due (1000 ms), nothing written.
    expect(await fileLines()).toHaveLength(2);
    clock = T0 + 1500;
    s.update(v.id, { at: clock, box: box(999) });
    const lines = await waitForLines(3);
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[2]!).s).toMatchObject({ lastSeen: T0 + 1500, box: box(999) });
  });

  it('drops a torn last line after a crash, keeps every earlier line and repairs the file', async () => {
    const s = await open();
    const ids = [0, 1, 2].map((i) => s.begin(start(`c${i}`, T0 + i)).id);
    await s.flush();
    // A write cut short by the crash: half a line, no newline.
    const full = (await fileLines())[1]!;
    await appendFile(file, full.slice(0, 40));

    const s2 = await reopenAfterCrash();
    expect(s2.report.droppedLines).toBe(1);
    expect(ids.every((id) => s2.get(id) !== undefined)).toBe(true);
    const next = s2.begin(start('c3', T0 + 3));
    await s2.close();
    const s3 = await open();
    expect(s3.report.droppedLines).toBe(0);
    expect(s3.size).toBe(4);
    expect(s3.get(next.id)?.conceptId).toBe('c3');
  });

  it('skips a corrupted line in the middle (checksum) and keeps the rest', async () => {
    const s = await open();
    const a = s.begin(start('anna', T0));
    const b = s.begin(start('ben', T0 + 1));
    await s.close();
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace('"conceptId":"anna"', '"conceptId":"anne"'));
    const s2 = await open();
    expect(s2.report.droppedLines).toBe(1);
    expect(s2.get(a.id)).toBeUndefined();
    expect(s2.get(b.id)?.conceptId).toBe('ben');
    expect(s2.lastSeen('anne')).toBeUndefined();
  });

  it('quarantines a log with a foreign header, refuses a newer version, and starts over on an empty or torn header', async () => {
    await writeFile(file, '{"format":"something-else","version":1}\n{"h":"x","s":{}}\n');
    const s = await open();
    expect(path.basename(s.report.quarantined!)).toMatch(/^sightings\.jsonl\.corrupt-\d+$/);
    expect(s.size).toBe(0);
    await s.close();
    log = undefined;

    await writeFile(file, '{"format":"familiar.sightings","version":7}\n');
    expect((await caught(SightingsLog.open(file))).details?.reason).toBe('version');

    await writeFile(file, '{"format":"familiar.sigh');
    const s2 = await open();
    expect(s2.report.quarantined).toBeUndefined();
    s2.begin(start('x', T0));
    await s2.close();
    expect((await open()).size).toBe(1);
  });

  it('removeConcept erases the concept from memory and rewrites the file without it', async () => {
    const s = await open();
    s.begin(start('billy', T0));
    s.end(s.begin(start('billy', T0 + 10)).id);
    const anna = s.begin(start('anna', T0 + 20));
    await s.flush();
    expect(await readFile(file, 'utf8')).toContain('billy');
    expect(await s.removeConcept('billy')).toBe(2);
    expect(await readFile(file, 'utf8')).not.toContain('billy');
    expect(s.lastSeen('billy')).toBeUndefined();
    expect(s.recent({ limit: 10 }).map((r) => r.id)).toEqual([anna.id]);
    expect(await s.removeConcept('nobody')).toBe(0);
    expect(await readdir(dir)).toEqual(['sightings.jsonl']);
  });

  it('enforces retention at open and on prune, erasing old visits from the file', async () => {
    const s = await open({ retentionDays: 10 });
    s.end(s.begin(start('old', T0)).id);
    s.end(s.begin(start('new', T0 + 8 * DAY)).id);
    await s.close();
    clock = T0 + 11 * DAY;
    const s2 = await open({ retentionDays: 10 });
    expect(s2.report.expired).toBe(1);
    expect(s2.lastSeen('old')).toBeUndefined();
    expect(await readFile(file, 'utf8')).not.toContain('"old"');
    clock = T0 + 19 * DAY;
    expect(await s2.prune()).toBe(1);
    expect(s2.size).toBe(0);
    expect(await fileLines()).toHaveLength(1);
  });

  it('caps the number of records, dropping the oldest, and keeps the file bounded by compaction', async () => {
    const s = await open({ maxRecords: 100, updatePersistMs: 100 });
    for (let i = 0; i < 150; i++) s.end(s.begin(start(`c${i}`, T0 + i)).id);
    expect(s.size).toBe(100);
    expect(s.lastSeen('c49')).toBeUndefined();
    expect(s.lastSeen('c50')).toBeDefined();
    // Long visits updated for a long time must not grow the file without bound.
    const ongoing = Array.from({ length: 100 }, (_, i) => s.begin(start(`long${i}`, T0 + 1000)).id);
    expect(s.size).toBe(100);
    for (let round = 0; round < 20; round++) {
      clock += 200;
      for (const id of ongoing) s.update(id, { at: clock });
      await s.flush();
    }
    expect((await fileLines()).length).toBeLessThanOrEqual(2 * 100 + 1000 + 1);
    await s.close();
    const s2 = await open({ maxRecords: 100 });
    expect(s2.size).toBe(100);
    expect(ongoing.every((id) => s2.get(id)?.lastSeen === clock)).toBe(true);
  });

  it('rejects bad input with typed errors', async () => {
    const s = await open();
    const v = s.begin(start('a', T0));
    expect(await errorCode(() => s.begin({ ...start('a', T0), box: { xmin: 0, ymin: 0, xmax: Number.NaN, ymax: 1 } }))).toBe('INPUT_INVALID');
    expect(await errorCode(() => s.begin({ ...start('a', T0), confidence: 1.5 }))).toBe('INPUT_INVALID');
    expect(await errorCode(() => s.begin({ ...start('a', T0), cameraId: '' }))).toBe('INPUT_INVALID');
    expect(await errorCode(() => s.begin({ ...start('a', T0), at: -1 }))).toBe('INPUT_INVALID');
    expect(await errorCode(() => s.update('nope', { at: T0 }))).toBe('NOT_FOUND');
    expect(await errorCode(() => s.recent({ limit: 0 }))).toBe('INPUT_INVALID');
    s.end(v.id);
    expect(await errorCode(() => s.update(v.id, { at: T0 + 1 }))).toBe('INPUT_INVALID');
    await s.close();
    expect(await errorCode(() => s.begin(start('a', T0)))).toBe('STORE_IO');
  });

  it('on a full disk, flush fails with STORE_IO, the file stays valid, and pending visits are written once space is back', async (ctx) => {
    const mnt = path.join(dir, 'mnt');
    await mkdir(mnt);
    const unmount = mountTinyTmpfs(mnt, 128);
    if (unmount === undefined) return ctx.skip('cannot mount a tmpfs here (needs root)');
    try {
      file = path.join(mnt, 'sightings.jsonl');
      const s = await open({ flushMs: 1000 });
      const first = s.begin(start('first', T0));
      await s.flush();
      const filler = path.join(mnt, 'filler');
      // Fill the disk completely (the partial filler stays).
      await writeFile(filler, Buffer.alloc(256 * 1024)).catch(() => undefined);
      const pending = Array.from({ length: 50 }, (_, i) => s.begin(start(`p${i}`, T0 + i)).id);
      const err = await caught(s.flush());
      expect(err.code).toBe('STORE_IO');
      expect(err.details?.errno).toBe('ENOSPC');
      // What is on disk is still a clean log: whole lines only, the partial append was cut off.
      const text = await readFile(file, 'utf8');
      expect(text.endsWith('\n')).toBe(true);
      for (const line of text.split('\n').filter((l) => l !== '')) expect(() => JSON.parse(line)).not.toThrow();
      expect(text).toContain(first.id);
      await rm(filler);
      await s.flush();
      await s.close();
      const s2 = await open();
      expect(pending.every((id) => s2.get(id) !== undefined)).toBe(true);
      await s2.close();
      log = undefined;
    } finally {
      unmount();
    }
  });
});

describe('SightingsLog (issue 5 additions)', () => {
  it('during() finds visits overlapping a moment; checkConcept guards new identities; read-only changes nothing', async () => {
    const enrolled = new Set(['anna', 'billy']);
    const s = await open({
      checkConcept: (id) => {
        if (!enrolled.has(id)) throw new FamiliarError('CONCEPT_NOT_FOUND', id);
      },
    });
    const a = s.begin(start('anna', T0));
    s.end(a.id, { at: T0 + 10_000 });
    const b = s.begin(start('billy', T0 + 20_000, 'kitchen'));
    s.end(b.id, { at: T0 + 30_000 });
    const u = s.begin(start(null, T0 + 5000));
    s.update(u.id, { at: T0 + 26_000 }); // still in view
    expect(s.during({ from: T0 + 8000, to: T0 + 25_000 }).map((x) => x.id)).toEqual([a.id, u.id, b.id]);
    expect(s.during({ from: T0 + 8000, to: T0 + 25_000, cameraId: 'kitchen' }).map((x) => x.id)).toEqual([b.id]);
    expect(s.during({ from: T0 + 11_000, to: T0 + 19_000, conceptId: 'anna' })).toEqual([]);
    expect(await errorCode(() => s.during({ from: 2, to: 1 }))).toBe('INPUT_INVALID');
    expect(await errorCode(() => s.begin(start('ghost', T0)))).toBe('CONCEPT_NOT_FOUND');
    expect(await errorCode(() => s.update(u.id, { at: T0 + 27_000, conceptId: 'ghost' }))).toBe('CONCEPT_NOT_FOUND');
    await s.close();
    log = undefined;
    const before = await readFile(file, 'utf8');
    const ro = await SightingsLog.open(file, { readOnly: true, now: () => clock });
    expect(ro.lastSeen('billy')?.id).toBe(b.id);
    expect(await errorCode(() => ro.begin(start('anna', T0)))).toBe('STORE_IO');
    await ro.close();
    expect(await readFile(file, 'utf8')).toBe(before);
  });
});
