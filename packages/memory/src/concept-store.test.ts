import { mkdir, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dot, type EmbeddingSpace } from '@familiar/contracts';
import { ConceptStore, type ConceptStoreOptions } from './concept-store.ts';
import type { NewConceptView } from '@familiar/contracts';
import { caught, clusteredVectors, errorCode, makeTempDir, mountTinyTmpfs, perturb, randomUnit, removeDir, seededRandom } from './test-helpers.ts';

let dir: string;
let store: ConceptStore | undefined;
const rand = seededRandom(2024);

beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await store?.close().catch(() => undefined);
  store = undefined;
  await removeDir(dir);
});

function view(space: EmbeddingSpace, vector: Float32Array, origin = 'photo.jpg'): NewConceptView {
  return { space, vector, origin };
}

function faces(n: number, dim = 16): NewConceptView[] {
  return Array.from({ length: n }, (_, i) => view('face', randomUnit(dim, rand), `face-${i}.jpg`));
}

// Without the directory lock: a store dropped without close() (the in-process stand-in for kill -9) would
// still hold it. The lock has its own tests, against a really dead process (lock.test.ts).
async function open(options: ConceptStoreOptions = {}): Promise<ConceptStore> {
  store = await ConceptStore.open(dir, { lock: false, ...options });
  return store;
}

/** What a "kill -9" leaves: the store is dropped without close(), then reopened. */
async function reopen(options: ConceptStoreOptions = {}): Promise<ConceptStore> {
  store = undefined;
  return open(options);
}

describe('ConceptStore', () => {
  it('enrols, looks up, lists and survives a restart with bit-exact vectors', async () => {
    const s = await open({ now: () => 1_000 });
    const billy = await s.add({ name: 'Billy', kind: 'pet', context: 'our beagle', views: [...faces(2), view('object', randomUnit(24, rand))], thresholds: { face: 0.4, object: 0.6 } });
    const anna = await s.add({ name: '  Anna ', kind: 'person', views: faces(3) });
    expect(billy.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(anna.name).toBe('Anna');
    expect(billy).toMatchObject({ kind: 'pet', context: 'our beagle', createdAt: 1_000, updatedAt: 1_000, thresholds: { face: 0.4, object: 0.6 } });
    expect(s.size).toBe(2);
    expect(s.findByName('BILLY')?.id).toBe(billy.id);
    expect(s.findByName('billy', 'person')).toBeUndefined();
    expect(s.findByName('anna', 'person')?.id).toBe(anna.id);
    expect(s.viewCount('face')).toBe(5);
    expect(s.viewCount('object')).toBe(1);
    expect(s.summaries().find((c) => c.id === billy.id)).toMatchObject({ name: 'Billy', viewCount: 3 });

    // One file per concept, vectors as base64 of little-endian float32.
    const file = path.join(dir, 'concepts', `${billy.id}.json`);
    const doc = JSON.parse(await readFile(file, 'utf8'));
    expect(doc).toMatchObject({ format: 'familiar.concept', version: 1, payload: { id: billy.id, name: 'Billy' } });
    expect(typeof doc.payload.views[0].vector).toBe('string');
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    const s2 = await reopen();
    expect(s2.report).toMatchObject({ concepts: 2, quarantined: [], tempFilesRemoved: [], skippedViews: [] });
    const back = s2.get(billy.id);
    expect(back).toMatchObject({ name: 'Billy', kind: 'pet', context: 'our beagle', thresholds: { face: 0.4, object: 0.6 } });
    back.views.forEach((v, i) => expect(Array.from(v.vector)).toEqual(Array.from(billy.views[i]!.vector)));
    expect(s2.list().map((c) => c.name).sort()).toEqual(['Anna', 'Billy']);
  });

  it('copies what it is given and what it hands out', async () => {
    const s = await open();
    const vector = randomUnit(16, rand);
    const c = await s.add({ name: 'Cup', kind: 'object', views: [view('face', vector)] });
    vector.fill(0);
    c.views.pop();
    c.thresholds.face = 0.99;
    const again = s.get(c.id);
    expect(again.views).toHaveLength(1);
    expect(again.thresholds).toEqual({});
    expect(again.views[0]!.vector[0]).not.toBe(0);
  });

  it('searches every view of a space, best first, flagging negative views', async () => {
    const s = await open();
    const { vectors, centres } = clusteredVectors(3, 2, 32, 0.3, 5);
    const anna = await s.add({ name: 'Anna', kind: 'person', views: vectors.slice(0, 2).map((v) => view('face', v)) });
    const ben = await s.add({ name: 'Ben', kind: 'person', views: vectors.slice(2, 4).map((v) => view('face', v)) });
    const notAnna = { ...view('face', vectors[4]!), negative: true };
    await s.update(anna.id, { addViews: [notAnna] });
    const [forAnna, forBen, forOther] = s.search('face', [centres[0]!, centres[1]!, centres[2]!], 3);
    expect(forAnna!.slice(0, 2).map((h) => h.conceptId)).toEqual([anna.id, anna.id]);
    expect(forAnna![0]!.similarity).toBeCloseTo(Math.max(dot(vectors[0]!, centres[0]!), dot(vectors[1]!, centres[0]!)), 5);
    expect(forBen![0]!).toMatchObject({ conceptId: ben.id, negative: false });
    expect(forOther![0]!).toMatchObject({ conceptId: anna.id, negative: true });
    expect(s.search('body', [randomUnit(32, rand)], 3)).toEqual([[]]);
    expect(await errorCode(() => s.search('face', [randomUnit(8, rand)], 3))).toBe('INDEX_DIM_MISMATCH');
    expect(await errorCode(() => s.search('voice' as EmbeddingSpace, [], 3))).toBe('INPUT_INVALID');
  });

  it('keeps names unique per kind, case-insensitively, even under concurrent enrolment', async () => {
    const s = await open();
    const results = await Promise.allSettled(['Max', 'max', 'MAX', ' Max'].map((name) => s.add({ name, kind: 'pet', views: faces(1) })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason.code).toBe('CONCEPT_EXISTS');
    await s.add({ name: 'Max', kind: 'person', views: faces(1) });
    const maxPerson = s.findByName('max', 'person')!;
    expect(s.findByName('Max')!.id).toBe(maxPerson.id);
    expect(await errorCode(s.add({ id: maxPerson.id, name: 'Other', kind: 'object' }))).toBe('CONCEPT_EXISTS');
    expect(await readdir(path.join(dir, 'concepts'))).toHaveLength(2);
  });

  it('updates names, context, thresholds and views, and the changes persist', async () => {
    const s = await open();
    const anna = await s.add({ name: 'Anna', kind: 'person', views: faces(3) });
    await s.add({ name: 'Ben', kind: 'person', views: faces(1) });
    expect(await errorCode(s.update(anna.id, { name: 'ben' }))).toBe('CONCEPT_EXISTS');
    const extra = faces(2);
    const u = await s.update(anna.id, { name: 'Anna K', context: 'my sister', thresholds: { face: 0.5 }, addViews: extra, removeViewIds: [anna.views[0]!.id] });
    expect(u.views.map((v) => v.origin)).toEqual(['face-1.jpg', 'face-2.jpg', 'face-0.jpg', 'face-1.jpg']);
    expect(u.updatedAt).toBeGreaterThanOrEqual(anna.updatedAt);
    expect(s.viewCount('face')).toBe(5);
    expect(s.search('face', [anna.views[0]!.vector], 1)[0]![0]!.viewId).not.toBe(anna.views[0]!.id);
    expect(s.search('face', [extra[1]!.vector], 1)[0]![0]).toMatchObject({ conceptId: anna.id, viewId: u.views[3]!.id });

    const replaced = await s.update(anna.id, { views: [view('object', randomUnit(8, rand))] });
    expect(s.viewCount('face')).toBe(1);
    expect(s.viewCount('object')).toBe(1);

    expect(await errorCode(s.update('no-such-id', { name: 'x' }))).toBe('CONCEPT_NOT_FOUND');
    expect(await errorCode(s.update(anna.id, { removeViewIds: ['nope'] }))).toBe('INPUT_INVALID');
    expect(await errorCode(s.update(anna.id, { views: [], addViews: [] }))).toBe('INPUT_INVALID');
    expect(await errorCode(s.update(anna.id, { kind: 'pet' } as never))).toBe('INPUT_INVALID');
    expect(await errorCode(s.update(anna.id, { thresholds: { face: 2 } }))).toBe('INPUT_INVALID');

    const s2 = await reopen();
    expect(s2.get(anna.id)).toMatchObject({ name: 'Anna K', context: 'my sister', thresholds: { face: 0.5 } });
    expect(s2.get(anna.id).views.map((v) => v.id)).toEqual(replaced.views.map((v) => v.id));
    expect(s2.findByName('anna k')?.id).toBe(anna.id);
  });

  it('forgets a concept: every file of it goes, searches and restarts no longer see it', async () => {
    const s = await open();
    const billy = await s.add({ name: 'Billy', kind: 'pet', views: faces(2) });
    const anna = await s.add({ name: 'Anna', kind: 'person', views: faces(2) });
    // A quarantined copy is a trace too.
    const copy = path.join(dir, 'concepts', `${billy.id}.json.corrupt-123`);
    await writeFile(copy, 'old damaged copy');
    await s.remove(billy.id);
    expect(await readdir(path.join(dir, 'concepts'))).toEqual([`${anna.id}.json`]);
    expect(s.has(billy.id)).toBe(false);
    expect(await errorCode(() => s.get(billy.id))).toBe('CONCEPT_NOT_FOUND');
    expect(s.findByName('billy')).toBeUndefined();
    expect(s.search('face', [billy.views[0]!.vector], 4)[0]!.every((h) => h.conceptId === anna.id)).toBe(true);
    expect(await errorCode(s.remove(billy.id))).toBe('CONCEPT_NOT_FOUND');
    // The name is free again.
    await s.add({ name: 'billy', kind: 'pet', views: faces(1) });
    const s2 = await reopen();
    expect(s2.summaries().map((c) => c.name).sort()).toEqual(['Anna', 'billy']);
  });

  it('rejects bad input with typed errors and writes nothing', async () => {
    const s = await open({ dims: { face: 16 } });
    const notUnit = new Float32Array(16).fill(1);
    const cases: Array<[string, Promise<unknown>]> = [
      ['INPUT_INVALID', s.add({ name: '', kind: 'person' })],
      ['INPUT_INVALID', s.add({ name: 'x'.repeat(65), kind: 'person' })],
      ['INPUT_INVALID', s.add({ name: 'A', kind: 'robot' as never })],
      ['INPUT_INVALID', s.add({ name: 'A', kind: 'person', views: [view('face', notUnit)] })],
      ['INPUT_INVALID', s.add({ name: 'A', kind: 'person', views: [view('face', new Float32Array(16).fill(Number.NaN))] })],
      ['INPUT_INVALID', s.add({ name: 'A', kind: 'person', id: '../escape' })],
      ['INPUT_INVALID', s.add({ name: 'A', kind: 'person', views: [{ ...view('face', randomUnit(16, rand)), id: 'v' }, { ...view('face', randomUnit(16, rand)), id: 'v' }] })],
      ['INDEX_DIM_MISMATCH', s.add({ name: 'A', kind: 'person', views: faces(1, 12) })],
    ];
    for (const [code, p] of cases) expect(await errorCode(p)).toBe(code);
    expect(s.size).toBe(0);
    expect(await readdir(path.join(dir, 'concepts'))).toEqual([]);
  });

  it('fixes a space dimension by its first view and frees it when the space empties', async () => {
    const s = await open();
    const a = await s.add({ name: 'A', kind: 'person', views: faces(2, 16) });
    expect(await errorCode(s.add({ name: 'B', kind: 'person', views: faces(1, 20) }))).toBe('INDEX_DIM_MISMATCH');
    expect(await errorCode(s.add({ name: 'B', kind: 'person', views: [...faces(1, 16), ...faces(1, 20)] }))).toBe('INDEX_DIM_MISMATCH');
    // Replacing the only concept's views may change the dimension (a model swap with a re-enrolment).
    await s.update(a.id, { views: faces(1, 20) });
    await s.add({ name: 'B', kind: 'person', views: faces(1, 20) });
    expect(s.viewCount('face')).toBe(2);
  });

  it('reports views of another dimension at open instead of mixing them into a search', async () => {
    let s = await open();
    const a = await s.add({ name: 'A', kind: 'person', views: faces(2, 16) });
    await s.close();
    s = await open({ dims: { face: 20 } });
    expect(s.report.skippedViews).toHaveLength(2);
    expect(s.report.skippedViews[0]).toMatchObject({ conceptId: a.id, dim: 16, expected: 20 });
    expect(s.viewCount('face')).toBe(0);
    expect(s.get(a.id).views).toHaveLength(2);
    // New views of the right size can be added next to them.
    await s.update(a.id, { addViews: faces(1, 20) });
    expect(s.viewCount('face')).toBe(1);
  });

  describe('crash safety', () => {
    it('cleans leftover temp files and quarantines torn or flipped concept files, and the store still opens', async () => {
      const s = await open();
      const [a, b, c] = [await s.add({ name: 'A', kind: 'person', views: faces(1) }), await s.add({ name: 'B', kind: 'person', views: faces(1) }), await s.add({ name: 'C', kind: 'person', views: faces(1) })];
      const conceptsDir = path.join(dir, 'concepts');
      // A crash mid-write leaves a temp file; a torn write (no atomic rename) would leave a short file.
      await writeFile(path.join(conceptsDir, `${a.id}.json.tmp-0123456789ab`), '{"format":"familiar.con');
      const bFile = path.join(conceptsDir, `${b.id}.json`);
      await truncate(bFile, (await stat(bFile)).size - 40);
      const cFile = path.join(conceptsDir, `${c.id}.json`);
      await writeFile(cFile, (await readFile(cFile, 'utf8')).replace('"name":"C"', '"name":"D"'));

      const logs: string[] = [];
      const s2 = await reopen({ log: (level, message) => logs.push(`${level}: ${message}`) });
      expect(s2.report.tempFilesRemoved).toEqual([`${a.id}.json.tmp-0123456789ab`]);
      expect(s2.report.quarantined.map((f) => path.basename(f).replace(/\d+$/, '')).sort()).toEqual([`${b.id}.json.corrupt-`, `${c.id}.json.corrupt-`].sort());
      expect(s2.list().map((x) => x.id)).toEqual([a.id]);
      expect(logs.filter((l) => l.startsWith('warn: quarantined'))).toHaveLength(2);
      expect((await readdir(conceptsDir)).filter((n) => n.includes('.corrupt-'))).toHaveLength(2);
      // A quarantined name can be enrolled again.
      await s2.add({ name: 'B', kind: 'person', views: faces(1) });
    });

    it("fails the open with STORE_CORRUPT when asked to, and always for a newer format version", async () => {
      const s = await open();
      const a = await s.add({ name: 'A', kind: 'person', views: faces(1) });
      const file = path.join(dir, 'concepts', `${a.id}.json`);
      const good = await readFile(file, 'utf8');
      await writeFile(file, good.slice(0, 50));
      expect((await caught(reopen({ onCorrupt: 'fail' }))).code).toBe('STORE_CORRUPT');
      await writeFile(file, good.replace('"version":1', '"version":9'));
      const err = await caught(reopen());
      expect(err.details?.reason).toBe('version');
      expect(await readFile(file, 'utf8')).toContain('"version":9');
    });

    it('a write that fails (STORE_IO) changes nothing in memory or on disk', async () => {
      const s = await open();
      const id = '00000000-0000-4000-8000-000000000001';
      // Make the final rename impossible: the target name is taken by a directory.
      await mkdir(path.join(dir, 'concepts', `${id}.json`));
      const err = await caught(s.add({ id, name: 'A', kind: 'person', views: faces(1) }));
      expect(err.code).toBe('STORE_IO');
      expect(s.has(id)).toBe(false);
      expect(s.findByName('A')).toBeUndefined();
      expect(s.viewCount('face')).toBe(0);
      expect(await readdir(path.join(dir, 'concepts'))).toEqual([`${id}.json`]);
      // The queue keeps working after a failure.
      await s.add({ name: 'A', kind: 'person', views: faces(1) });
    });

    it('on a full disk, acknowledged concepts survive and the failed one is not half-there', async (ctx) => {
      const unmount = mountTinyTmpfs(dir, 96);
      if (unmount === undefined) return ctx.skip('cannot mount a tmpfs here (needs root)');
      try {
        const s = await open();
        const acked: string[] = [];
        let failure;
        for (let i = 0; i < 200 && failure === undefined; i++) {
          try {
            acked.push((await s.add({ name: `P${i}`, kind: 'person', views: faces(8, 64) })).id);
          } catch (err) {
            failure = err;
          }
        }
        expect((failure as { code: string; details: { errno: string } }).code).toBe('STORE_IO');
        expect((failure as { details: { errno: string } }).details.errno).toBe('ENOSPC');
        expect(s.size).toBe(acked.length);
        await s.close();
        const s2 = await reopen();
        expect(s2.report.quarantined).toEqual([]);
        expect(s2.list().map((c) => c.id).sort()).toEqual([...acked].sort());
        await s2.close();
        store = undefined;
      } finally {
        unmount();
      }
    });
  });

  describe('HNSW above hnswAbove', () => {
    const dim = 32;
    const { vectors, centres } = clusteredVectors(40, 3, dim, 0.8, 77);

    async function enrolAll(s: ConceptStore): Promise<string[]> {
      const ids: string[] = [];
      for (let i = 0; i < centres.length; i++) ids.push((await s.add({ name: `P${i}`, kind: 'person', views: vectors.slice(i * 3, i * 3 + 3).map((v) => view('face', v)) })).id);
      return ids;
    }

    function answers(s: ConceptStore): string[] {
      const r = seededRandom(3);
      return s.search('face', centres.map((c) => perturb(c, 0.8, r)), 1).map((hits) => hits[0]!.conceptId);
    }

    it('switches to HNSW and back with the same answers, caches the index and rebuilds it when stale or corrupt', async () => {
      const exactStore = await ConceptStore.open(path.join(dir, 'exact'));
      await enrolAll(exactStore);
      const expected = answers(exactStore);
      await exactStore.close();

      const opts = { hnswAbove: 100 };
      const s = await open(opts);
      const ids = await enrolAll(s);
      expect(s.indexKind('face')).toBe('hnsw');
      expect(answers(s)).toEqual(expected.map((_, i) => ids[i]));
      await s.close();
      const indexDir = path.join(dir, 'index');
      expect((await readdir(indexDir)).sort()).toEqual(['face.hnsw', 'face.hnsw.meta']);

      let s2 = await reopen(opts);
      expect(s2.report.indexes).toEqual({ face: 'hnsw-loaded' });
      expect(answers(s2)).toEqual(expected.map((_, i) => ids[i]));

      // A crash after a change: the saved cache is stale and must not be used.
      await s2.update(ids[0]!, { views: [view('face', randomUnit(dim, rand))] });
      s2 = await reopen(opts);
      expect(s2.report.indexes).toEqual({ face: 'hnsw-built' });
      expect(s2.search('face', [centres[0]!], 1)[0]![0]!.conceptId).not.toBe(ids[0]);
      await s2.close();

      // A damaged cache is rebuilt, with the same answers.
      const bytes = await readFile(path.join(indexDir, 'face.hnsw'));
      bytes[200] = bytes[200]! ^ 0xff;
      await writeFile(path.join(indexDir, 'face.hnsw'), bytes);
      s2 = await reopen(opts);
      expect(s2.report.indexes).toEqual({ face: 'hnsw-built' });
      expect(answers(s2).slice(1)).toEqual(expected.slice(1).map((_, i) => ids[i + 1]));

      // Forgetting enough concepts brings the space back to exact search.
      for (const id of ids.slice(0, 15)) await s2.remove(id);
      expect(s2.viewCount('face')).toBe(75);
      expect(s2.indexKind('face')).toBe('exact');
      expect(answers(s2).slice(15)).toEqual(expected.slice(15).map((_, i) => ids[i + 15]));
      await s2.close();
      expect(await readdir(indexDir)).toEqual([]);
    });

    it('forgetting deletes the cached index at once, since it holds the forgotten vectors', async () => {
      const s = await open({ hnswAbove: 10 });
      const ids = await enrolAll(s);
      await s.saveIndexes();
      const indexDir = path.join(dir, 'index');
      expect(await readdir(indexDir)).toHaveLength(2);
      await s.remove(ids[0]!);
      expect(await readdir(indexDir)).toEqual([]);
      expect(s.indexKind('face')).toBe('hnsw');
      // Not written back while the in-memory graph still holds the removed vectors.
      await s.close();
      expect(await readdir(indexDir)).toEqual([]);
      const s2 = await reopen({ hnswAbove: 10 });
      expect(s2.report.indexes).toEqual({ face: 'hnsw-built' });
      expect(s2.size).toBe(39);
    });
  });

  it('rejects writes after close but still answers reads', async () => {
    const s = await open();
    await s.add({ name: 'A', kind: 'person', views: faces(1) });
    await s.close();
    await s.close();
    expect(await errorCode(s.add({ name: 'B', kind: 'person' }))).toBe('STORE_IO');
    expect(s.size).toBe(1);
  });
});
