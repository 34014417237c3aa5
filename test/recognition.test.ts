import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FamiliarError } from '@familiar/contracts';
import { loadConfig, REPO_ROOT } from '@familiar/config';
import { FamiliarCore } from '@familiar/runtime';
import sharp from 'sharp';

const DATA = path.resolve(REPO_ROOT, '../shared/data');
const photo = (rel: string) => path.join(DATA, rel);

let storeDir: string;
let core: FamiliarCore;

beforeAll(async () => {
  storeDir = await mkdtemp(path.join(os.tmpdir(), 'familiar-rec-'));
  core = await FamiliarCore.open(loadConfig({ env: {} }), storeDir);
});

afterAll(async () => {
  await core?.close();
  await rm(storeDir, { recursive: true, force: true });
});

async function errorOf(p: Promise<unknown>): Promise<FamiliarError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof FamiliarError) return e;
    throw e;
  }
  throw new Error('expected a FamiliarError');
}

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(d: string): Promise<void> {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out[path.relative(dir, p)] = (await readFile(p)).toString('base64');
    }
  }
  await walk(dir);
  return out;
}

describe('recognition core on the real models and photos', () => {
  it('enrols a pet, an object and a person, recognises each in new photos with one box, and nothing in a stranger', async () => {
    const dog = await core.enrol({ name: 'Rex', kind: 'pet', context: 'our corgi', photos: [{ file: photo('dreambooth/dog/00.jpg') }, { file: photo('dreambooth/dog/01.jpg') }] });
    expect(dog.concept.viewCount).toBeGreaterThanOrEqual(2);
    expect(dog.concept.thresholds.object).toBeGreaterThan(0.5);
    await core.enrol({ name: 'Clock', kind: 'object', photos: [{ file: photo('dreambooth/clock/00.jpg') }, { file: photo('dreambooth/clock/01.jpg') }] });
    const madonna = await core.enrol({
      name: 'Madonna',
      kind: 'person',
      photos: ['1', '2', '3', '4', '5'].map((n) => ({ file: photo(`faces_5celeb/train/Madonna/${n}.jpg`) })),
    });
    expect(madonna.concept.thresholds.face).toBeGreaterThan(0);

    const rex = await core.recognise({ file: photo('dreambooth/dog/02.jpg') });
    expect(rex.matches.map((m) => m.name)).toEqual(['Rex']);
    const m = rex.matches[0]!;
    expect(m.similarity).toBeGreaterThanOrEqual(m.threshold);
    expect(m.confidence).toBeGreaterThan(0);
    expect(m.box.xmax).toBeGreaterThan(m.box.xmin);
    expect(m.box.xmax).toBeLessThanOrEqual(rex.width);
    expect(m.box.ymax).toBeLessThanOrEqual(rex.height);

    expect((await core.recognise({ file: photo('dreambooth/clock/02.jpg') })).matches.map((x) => x.name)).toEqual(['Clock']);
    const face = await core.recognise({ file: photo('faces_5celeb/val/madonna/1.jpg') });
    expect(face.matches.map((x) => x.name)).toEqual(['Madonna']);
    expect(face.matches[0]!.space).toBe('face');

    expect((await core.recognise({ file: photo('dreambooth/backpack/02.jpg') })).matches).toEqual([]);
    expect((await core.recognise({ file: photo('faces_5celeb/val/ben_afflek/1.jpg') })).matches.filter((x) => x.kind === 'person')).toEqual([]);
  });

  it('recognises tight, already aligned face crops', async () => {
    const crops = (n: number[]) => n.map((i) => ({ file: photo(`faces_glint_crops/Halle Berry/${2048 + i}.png`) }));
    await core.enrol({ name: 'Halle', kind: 'person', photos: crops([0, 1, 2]) });
    const rec = await core.recognise(crops([5])[0]!);
    expect(rec.matches.map((x) => x.name)).toEqual(['Halle']);
    const other = await core.recognise({ file: photo('faces_glint_crops/Keanu Reeves/5462.png') });
    expect(other.matches).toEqual([]);
  });

  it('survives a restart: the store reloads with the same concepts and answers', async () => {
    const before = core.list().map((c) => c.name).sort();
    await core.close();
    core = await FamiliarCore.open(loadConfig({ env: {} }), storeDir);
    expect(core.list().map((c) => c.name).sort()).toEqual(before);
    expect((await core.recognise({ file: photo('dreambooth/dog/03.jpg') })).matches.map((x) => x.name)).toEqual(['Rex']);
  });

  it('gives the same answers with the HNSW index as with exact search', async () => {
    const queries = ['dreambooth/dog/02.jpg', 'dreambooth/clock/03.jpg', 'faces_5celeb/val/madonna/2.jpg', 'dreambooth/backpack/03.jpg'];
    const exact = [];
    for (const q of queries) exact.push((await core.recognise({ file: photo(q) })).matches.map((x) => [x.name, x.similarity]));
    await core.close();
    core = await FamiliarCore.open(loadConfig({ env: {}, overrides: { store: { hnswAbove: 1 } } }), storeDir);
    expect(core.store.indexKind('object')).toBe('hnsw');
    for (const [i, q] of queries.entries()) {
      expect((await core.recognise({ file: photo(q) })).matches.map((x) => [x.name, x.similarity])).toEqual(exact[i]);
    }
    await core.close();
    core = await FamiliarCore.open(loadConfig({ env: {} }), storeDir);
    expect(core.store.indexKind('object')).toBe('exact');
  });

  it('rejects corrupt, truncated, non-image and oversized input with typed errors and leaves the store untouched', async () => {
    const before = await snapshot(storeDir);
    const good = await readFile(photo('dreambooth/dog/02.jpg'));
    const bomb = await sharp({ create: { width: 12000, height: 9000, channels: 3, background: '#fff' } }).png({ compressionLevel: 9 }).toBuffer();
    const cases: { bytes: Uint8Array; code: string }[] = [
      { bytes: good.subarray(0, 2000), code: 'IMAGE_INVALID' },
      { bytes: new TextEncoder().encode('{"not":"an image"}'), code: 'IMAGE_INVALID' },
      { bytes: new Uint8Array(0), code: 'IMAGE_INVALID' },
      { bytes: new Uint8Array(bomb), code: 'IMAGE_TOO_LARGE' },
    ];
    for (const c of cases) {
      expect((await errorOf(core.recognise({ bytes: c.bytes, origin: 'bad' }))).code).toBe(c.code);
      // An enrolment whose only photo cannot be read says why (not "nothing found in it").
      const e = await errorOf(core.enrol({ name: 'Broken', kind: 'object', photos: [{ bytes: c.bytes, origin: 'bad' }] }));
      expect(e.code).toBe(c.code);
    }
    expect((await errorOf(core.recognise({ file: photo('does/not/exist.jpg') }))).code).toBe('INPUT_INVALID');
    expect((await errorOf(core.enrol({ name: 'Rex', kind: 'pet', photos: [{ file: photo('dreambooth/dog/02.jpg') }] }))).code).toBe('CONCEPT_EXISTS');
    expect((await errorOf(core.enrol({ name: '\u0007bell', kind: 'pet', photos: [{ file: photo('dreambooth/dog/02.jpg') }] }))).code).toBe('INPUT_INVALID');
    expect((await errorOf(core.enrol({ name: 'Nobody', kind: 'person', photos: [{ file: photo('dreambooth/can/00.jpg') }] }))).code).toBe('ENROL_NO_VIEWS');
    expect(await snapshot(storeDir)).toEqual(before);
  });

  it('reports the unusable photos of an enrolment and keeps the good ones', async () => {
    const res = await core.enrol({
      name: 'Can',
      kind: 'object',
      photos: [{ file: photo('dreambooth/can/00.jpg') }, { bytes: new Uint8Array([0xff, 0xd8, 0xff]), origin: 'truncated.jpg' }],
    });
    expect(res.concept.viewCount).toBeGreaterThan(0);
    expect(res.rejected).toEqual([expect.objectContaining({ origin: 'truncated.jpg', code: 'IMAGE_INVALID' })]);
  });

  it('learns from corrections: "that is not Rex" stops the mistake on that image, "this is Rex" adds a view', async () => {
    const wrong = { file: photo('dreambooth/dog/04.jpg') };
    expect((await core.recognise(wrong)).matches.map((m) => m.name)).toContain('Rex');
    const before = core.resolve('Rex').views.length;
    const res = await core.correct({ concept: 'Rex', verdict: 'not', photo: wrong });
    expect(res.views).toBeGreaterThan(0);
    expect(core.resolve('Rex').views.filter((v) => v.negative)).toHaveLength(res.views);
    expect(res.concept.viewCount).toBe(before);
    expect((await core.recognise(wrong)).matches.map((m) => m.name)).not.toContain('Rex');
    expect((await core.recognise({ file: photo('dreambooth/dog/02.jpg') })).matches.map((m) => m.name)).toContain('Rex');
    const more = await core.correct({ concept: 'Rex', verdict: 'is', photo: { file: photo('dreambooth/dog/03.jpg') } });
    expect(more.concept.viewCount).toBeGreaterThan(before);
    expect((await errorOf(core.correct({ concept: 'Clock', verdict: 'not', photo: { file: photo('dreambooth/can/02.jpg') } }))).code).toBe('ENROL_NO_VIEWS');
  });

  it('forgets: the concept, its file and its recognition are gone', async () => {
    const rex = core.resolve('rex');
    const file = path.join(storeDir, 'concepts', `${rex.id}.json`);
    expect((await stat(file)).isFile()).toBe(true);
    await core.forget('Rex');
    await expect(stat(file)).rejects.toThrow();
    expect(core.list().some((c) => c.name === 'Rex')).toBe(false);
    expect((await core.recognise({ file: photo('dreambooth/dog/02.jpg') })).matches.some((x) => x.name === 'Rex')).toBe(false);
    expect((await errorOf(core.forget('Rex'))).code).toBe('CONCEPT_NOT_FOUND');
  });
});
