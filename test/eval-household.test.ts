import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli as familiar } from './support/familiar-process.ts';
import { DATA_DIR } from './support/static-backend.ts';

// A small household on real photos: two datasets enrolled into one store plus negative images. The negatives folder is
// called `distractors` like the shipped cohort's source, so each negative is judged with its own cohort group left out
// (the eval's leave-one-group-out) and the cohort cannot simply remember it.
let tmp: string;
let home: string;
let people: string;
let distractors: string;

const HEADER = 'file,concept,category,object_class,split,concepts_present';

async function dataset(dir: string, rows: { link: string; target: string; row: string }[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const r of rows) {
    await mkdir(path.dirname(path.join(dir, r.link)), { recursive: true });
    await symlink(path.join(DATA_DIR, r.target), path.join(dir, r.link));
  }
  await writeFile(path.join(dir, 'index.csv'), [HEADER, ...rows.map((r) => r.row)].join('\n') + '\n');
}

const lastJson = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!);

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'familiar-eval-home-'));
  home = path.join(tmp, 'home');
  people = path.join(tmp, 'people');
  distractors = path.join(tmp, 'distractors');
  const dog = (n: string, split: string) => ({ link: `dog/${n}`, target: `dreambooth/dog2/${n}`, row: `dog/${n},dog,pet,dog,${split},dog` });
  const clock = (n: string, split: string) => ({ link: `clock/${n}`, target: `dreambooth/clock/${n}`, row: `clock/${n},clock,object,clock,${split},clock` });
  await dataset(home, [dog('00.jpg', 'reference'), dog('01.jpg', 'reference'), dog('02.jpg', 'query'), dog('03.jpg', 'query'), clock('00.jpg', 'reference'), clock('01.jpg', 'reference'), clock('02.jpg', 'query')]);
  const madonna = (n: string, split: string, dir: string) => ({ link: `madonna/${split}-${n}`, target: `faces_5celeb/${dir}/${n}`, row: `madonna/${split}-${n},madonna,person,face,${split},madonna` });
  await dataset(people, [...['1.jpg', '2.jpg', '3.jpg', '4.jpg'].map((n) => madonna(n, 'reference', 'train/Madonna')), madonna('1.jpg', 'query', 'val/madonna')]);
  // Negatives that the old rule named: a stranger as Madonna, a dog of another breed as a pet, a clock dial as a face.
  const neg = (rel: string, category: string) => ({ link: rel, target: `distractors/${rel}`, row: `${rel},,${category},,query,` });
  await dataset(distractors, [
    neg('faces/lfw/Daryl_Hannah_0001.jpg', 'faces'),
    neg('pets/imagenet/n02086240_Shih-Tzu.JPEG', 'pets'),
    neg('objects/imagenet/n02708093_analog_clock.JPEG', 'objects'),
    neg('scenes/nyu/312_image.png', 'scenes'),
  ]);
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('familiar eval on a household (several datasets in one store, negative images)', () => {
  it('enrols every dataset into one store, prefixes the ids, reports negatives by category and every query', async () => {
    const res = await familiar(['eval', '--dataset', home, '--dataset', people, '--dataset', distractors, '--json']);
    expect(res.code).toBe(0);
    const report = lastJson(res.stdout);
    expect(report).toMatchObject({ dataset: 'home+people+distractors', concepts: 3, queries: 8, mode: 'photo' });
    expect(report.per_concept.map((c: { concept: string }) => c.concept)).toEqual(['home/clock', 'home/dog', 'people/madonna']);
    expect(report.negatives).toEqual({
      images: 4,
      false_accept_images: 0,
      rate: 0,
      by_category: ['faces', 'pets', 'objects', 'scenes'].map((category) => ({ category, images: 1, false_accept_images: 0 })),
    });
    const byFile = new Map(report.per_query.map((q: { file: string }) => [q.file, q]));
    expect(byFile.get('distractors/pets/imagenet/n02086240_Shih-Tzu.JPEG')).toEqual({ file: 'distractors/pets/imagenet/n02086240_Shih-Tzu.JPEG', truth: [], detected: [] });
    const madonna = byFile.get('people/madonna/query-1.jpg') as { truth: string[]; detected: { concept: string; space: string; similarity: number; threshold: number }[] };
    expect(madonna.truth).toEqual(['people/madonna']);
    expect(madonna.detected).toHaveLength(1);
    expect(madonna.detected[0]).toMatchObject({ concept: 'people/madonna', space: 'face' });
    expect(madonna.detected[0]!.similarity).toBeGreaterThanOrEqual(madonna.detected[0]!.threshold);
    expect(report.metrics.precision).toBe(100);
    expect(res.stdout).not.toMatch(/"negatives":null/);
  });

  it('--live plays each query through the live engine and tracker and reports the latency to a first name', async () => {
    const res = await familiar(['eval', '--dataset', home, '--dataset', distractors, '--live', '--json']);
    expect(res.code).toBe(0);
    const report = lastJson(res.stdout);
    expect(report.mode).toBe('live');
    expect(report.live.frames_per_query).toBe(20);
    expect(report.live.fps).toBe(10);
    expect(report.live.frames_to_first_name.median).toBeGreaterThanOrEqual(1);
    expect(report.live.frames_to_first_name.median).toBeLessThanOrEqual(20);
    const named = (file: string) => report.per_query.find((q: { file: string }) => q.file === file).detected.map((d: { concept: string }) => d.concept);
    expect(named('home/dog/02.jpg')).toEqual(['home/dog']);
    expect(named('home/clock/02.jpg')).toEqual(['home/clock']);
    expect(report.negatives.false_accept_images).toBe(0);
  });

  it('--corrections corrects half of the queries and measures the other half, which was never corrected', async () => {
    const res = await familiar(['eval', '--dataset', home, '--dataset', people, '--corrections', '--json']);
    expect(res.code).toBe(0);
    const k = lastJson(res.stdout).corrections;
    expect(k.held_out.queries).toBe(2);
    expect(k.fixed).toBe(k.applied);
    expect(k.held_out.false_positives_after).toBeLessThanOrEqual(k.held_out.false_positives_before);
    expect(Object.keys(k.held_out.metrics_after).sort()).toEqual(['negative', 'positive', 'precision', 'weighted']);
  });
});
