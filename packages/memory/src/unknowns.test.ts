import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dot, FamiliarError, normalise } from '@familiar/contracts';
import { UnknownVisitors, type UnknownOptions } from './unknowns.ts';
import { caught, clusteredVectors, errorCode, makeTempDir, perturb, randomUnit, removeDir, seededRandom } from './test-helpers.ts';

const DAY = 24 * 60 * 60 * 1000;
const T0 = Date.UTC(2026, 2, 2, 9); // a Monday
const DIM = 32;
let dir: string;
let clock = T0;
let unknowns: UnknownVisitors | undefined;

beforeEach(async () => {
  dir = path.join(await makeTempDir(), 'unknowns');
  clock = T0;
});
afterEach(async () => {
  await unknowns?.close();
  unknowns = undefined;
  await removeDir(path.dirname(dir));
});

async function open(options: UnknownOptions = {}): Promise<UnknownVisitors> {
  unknowns = await UnknownVisitors.open(dir, { now: () => clock, ...options });
  return unknowns;
}

/** What kill -9 leaves: dropped without close(), then opened again (every observe was awaited, so it is on disk). */
async function reopen(options: UnknownOptions = {}): Promise<UnknownVisitors> {
  unknowns = undefined;
  return open(options);
}

/** The unit vector at `degrees` from `a` towards `b` (orthonormal). */
function between(a: Float32Array, b: Float32Array, degrees: number): Float32Array {
  const t = (degrees * Math.PI) / 180;
  return normalise(a.map((x, i) => Math.cos(t) * x + Math.sin(t) * b[i]!));
}

describe('UnknownVisitors', () => {
  it('groups faces of distinct people into distinct provisional identities and keeps them across a restart', async () => {
    const u = await open();
    const { vectors } = clusteredVectors(5, 6, DIM, 0.35, 7);
    const groupOf = new Map<number, Set<string>>();
    for (const [i, vector] of vectors.entries()) {
      clock += 1000;
      const a = await u.observe({ vector, cameraId: 'door' });
      const person = Math.floor(i / 6);
      if (!groupOf.has(person)) groupOf.set(person, new Set());
      groupOf.get(person)!.add(a.groupId);
    }
    expect([...groupOf.values()].map((g) => g.size)).toEqual([1, 1, 1, 1, 1]);
    expect(new Set([...groupOf.values()].flatMap((g) => [...g])).size).toBe(5);
    expect(u.list().map((g) => g.id).sort()).toEqual(['unknown-1', 'unknown-2', 'unknown-3', 'unknown-4', 'unknown-5']);

    const again = await reopen();
    expect(again.report).toMatchObject({ groups: 5, quarantined: [] });
    expect(again.list()).toEqual(u.list());
    // The reloaded groups still attract their people.
    const rand = seededRandom(99);
    expect(again.match(perturb(vectors[0]!, 0.2, rand))?.groupId).toBe([...groupOf.get(0)!][0]);
  });

  it('does not let a chain of look-alikes walk one identity over to another person (the centroid anchors it)', async () => {
    const rand = seededRandom(3);
    const a = randomUnit(DIM, rand);
    let b = randomUnit(DIM, rand);
    const ab = dot(a, b);
    b = normalise(b.map((x, i) => x - ab * a[i]!)); // orthogonal: a and b are different people
    const run = async (options: UnknownOptions): Promise<{ aGroup: string; bGroup: string }> => {
      const u = await UnknownVisitors.open(path.join(dir, String(options.meanSimilarity)), { now: () => clock, ...options });
      let aGroup = '';
      for (let i = 0; i < 10; i++) aGroup = (await u.observe({ vector: perturb(a, 0.1, rand) })).groupId;
      for (let deg = 10; deg <= 80; deg += 10) await u.observe({ vector: between(a, b, deg) });
      const bGroup = (await u.observe({ vector: b })).groupId;
      await u.close();
      return { aGroup, bGroup };
    };
    // Max-over-views alone (mean check off) chains a into b...
    const chained = await run({ meanSimilarity: -1 });
    expect(chained.bGroup).toBe(chained.aGroup);
    // ...the default rule does not.
    const anchored = await run({});
    expect(anchored.bGroup).not.toBe(anchored.aGroup);
  });

  it('keeps at most K views, the most diverse ones', async () => {
    const u = await open({ viewsPerGroup: 4 });
    const rand = seededRandom(5);
    const centre = randomUnit(DIM, rand);
    for (let i = 0; i < 20; i++) await u.observe({ vector: perturb(centre, i % 5 === 0 ? 0.6 : 0.05, rand) });
    const views = u.views('unknown-1');
    expect(views).toHaveLength(4);
    expect(u.list()).toHaveLength(1);
    // The near-duplicates were dropped in favour of the spread-out views.
    let maxPair = -1;
    for (let i = 0; i < views.length; i++) for (let j = i + 1; j < views.length; j++) maxPair = Math.max(maxPair, dot(views[i]!.vector, views[j]!.vector));
    expect(maxPair).toBeLessThan(0.99);
  });

  it('counts visits (sightings within the visit gap count once) and reports the last 7 days', async () => {
    const u = await open({ visitGapMs: 5 * 60_000 });
    const rand = seededRandom(11);
    const face = randomUnit(DIM, rand);
    const seenAt = [0, 60_000, 2 * 60_000, DAY, DAY + 10 * 60_000, 3 * DAY, 10 * DAY, 10 * DAY + 1000];
    for (const t of seenAt) {
      clock = T0 + t;
      await u.observe({ vector: perturb(face, 0.1, rand), cameraId: 'door' });
    }
    const g = u.get('unknown-1')!;
    expect(g).toMatchObject({ visits: 5, firstSeen: T0, lastSeen: T0 + 10 * DAY + 1000, lastCameraId: 'door' });
    // Now is day 10: the last 7 days hold only the day-10 visit.
    expect(g).toMatchObject({ visitsLast7Days: 1, daysLast7Days: 1 });
    // Looking back from day 4 (the day-10 visit is not in the past yet).
    clock = T0 + 4 * DAY;
    expect(u.get('unknown-1')).toMatchObject({ visitsLast7Days: 4, daysLast7Days: 3 });
  });

  it('enforces the group cap (least recently seen first) and retention, deleting their files', async () => {
    const u = await open({ maxGroups: 3, retentionDays: 30 });
    const { vectors } = clusteredVectors(4, 1, DIM, 0, 21);
    for (const vector of vectors) {
      clock += DAY;
      await u.observe({ vector });
    }
    expect(u.list().map((g) => g.id)).toEqual(['unknown-4', 'unknown-3', 'unknown-2']);
    expect((await readdir(dir)).sort()).toEqual(['state.json', 'unknown-2.json', 'unknown-3.json', 'unknown-4.json']);
    clock += 29 * DAY + 1; // unknown-2 and unknown-3 were last seen more than 30 days ago
    expect(await u.prune()).toBe(2);
    expect((await readdir(dir)).sort()).toEqual(['state.json', 'unknown-4.json']);
  });

  it('name() hands the views to enrol and deletes the group only when enrolment succeeds; dismiss; numbers are never reused', async () => {
    const u = await open();
    const { vectors } = clusteredVectors(3, 3, DIM, 0.2, 5);
    for (const vector of vectors) await u.observe({ vector });
    const failed = await caught(u.name('unknown-1', () => Promise.reject(new FamiliarError('CONCEPT_EXISTS', 'taken'))));
    expect(failed.code).toBe('CONCEPT_EXISTS');
    expect(u.get('unknown-1')).toBeDefined();
    const enrolled = await u.name('unknown-1', async (views) => {
      expect(views.length).toBeGreaterThan(0);
      for (const v of views) {
        expect(v.space).toBe('face');
        expect(Math.abs(dot(v.vector, v.vector) - 1)).toBeLessThan(1e-4);
        expect(v.origin).toMatch(/^unknown-1 seen \d{4}-/);
      }
      return 'concept-42';
    });
    expect(enrolled).toBe('concept-42');
    expect(u.get('unknown-1')).toBeUndefined();
    await u.dismiss('unknown-3');
    expect(await errorCode(u.dismiss('unknown-3'))).toBe('NOT_FOUND');
    expect(() => u.views('unknown-9')).toThrow(FamiliarError);
    const again = await reopen();
    expect(again.list().map((g) => g.id)).toEqual(['unknown-2']);
    expect((await again.observe({ vector: randomUnit(DIM, seededRandom(77)) })).groupId).toBe('unknown-4');
  });

  it('rejects bad vectors with typed errors, quarantines a corrupt file, and opens read-only without writing', async () => {
    const u = await open({ dim: DIM });
    expect(await errorCode(u.observe({ vector: new Float32Array(DIM).fill(1) }))).toBe('INPUT_INVALID');
    expect(await errorCode(u.observe({ vector: randomUnit(DIM + 1, seededRandom(1)) }))).toBe('INDEX_DIM_MISMATCH');
    expect(await errorCode(u.observe({ vector: [1, 0] as never }))).toBe('INPUT_INVALID');
    await u.observe({ vector: randomUnit(DIM, seededRandom(2)) });
    await u.observe({ vector: randomUnit(DIM, seededRandom(3)) });
    await u.close();
    unknowns = undefined;
    await writeFile(path.join(dir, 'unknown-2.json'), '{"format":"familiar.unknown","version":1,"sha256":"bad","payload":{}}\n');
    const ro = await UnknownVisitors.open(dir, { readOnly: true, now: () => clock });
    expect(ro.list().map((g) => g.id)).toEqual(['unknown-1']);
    expect(await errorCode(ro.observe({ vector: randomUnit(DIM, seededRandom(4)) }))).toBe('STORE_IO');
    expect((await readdir(dir)).sort()).toEqual(['state.json', 'unknown-1.json', 'unknown-2.json']);
    const again = await open();
    expect(again.report.quarantined).toHaveLength(1);
    expect(again.list().map((g) => g.id)).toEqual(['unknown-1']);
    expect((await again.observe({ vector: randomUnit(DIM, seededRandom(5)) })).groupId).toBe('unknown-3');
  });
});
