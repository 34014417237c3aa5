import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '@familiar/image';
import { runCli as familiar } from './support/familiar-process.ts';
import { DATA_DIR } from './support/static-backend.ts';

let tmp: string;
let store: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'familiar-cli-'));
  store = path.join(tmp, 'store');
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('familiar CLI', () => {
  it('enrols, recognises with an overlay, lists and forgets', async () => {
    const dog = (n: string) => path.join(DATA_DIR, 'dreambooth/dog2', n);
    const enrol = await familiar(['enrol', '--store', store, '--name', 'Biscuit', '--kind', 'pet', '--context', 'loves the garden', dog('00.jpg'), dog('01.jpg')]);
    expect(enrol.stderr).not.toMatch(/error/);
    expect(enrol.code).toBe(0);
    expect(enrol.stdout).toMatch(/enrolled pet "Biscuit"/);

    const overlay = path.join(tmp, 'overlay.jpg');
    const rec = await familiar(['recognise', '--store', store, '--json', '--overlay', overlay, dog('02.jpg')]);
    expect(rec.code).toBe(0);
    const report = JSON.parse(rec.stdout.trim().split('\n').at(-1)!);
    expect(report.matches).toHaveLength(1);
    // snake_case like the WebSocket.
    expect(report.matches[0]).toMatchObject({ name: 'Biscuit', kind: 'pet', concept_id: expect.any(String) });
    expect(report).toHaveProperty('unknown_faces');
    const drawn = await decodeImage(await readFile(overlay));
    expect(drawn.image.width).toBeGreaterThan(0);

    expect((await familiar(['list', '--store', store])).stdout).toMatch(/Biscuit \(pet/);
    const listed = JSON.parse((await familiar(['list', '--store', store, '--json'])).stdout);
    expect(listed).toEqual([expect.objectContaining({ name: 'Biscuit', kind: 'pet', view_count: expect.any(Number), created_at: expect.any(Number), updated_at: expect.any(Number) })]);
    const forget = await familiar(['forget', '--store', store, 'biscuit']);
    expect(forget.code).toBe(0);
    expect((await familiar(['list', '--store', store, '--json'])).stdout.trim()).toBe('[]');
    const none = await familiar(['recognise', '--store', store, dog('02.jpg')]);
    expect(none.stdout).toMatch(/no enrolled concept recognised/);
  });

  it('evaluates any folder in the index.csv format and prints the JSON report as the last line', async () => {
    const ds = path.join(tmp, 'tiny-set');
    await mkdir(ds);
    await symlink(path.join(DATA_DIR, 'dreambooth/can'), path.join(ds, 'can'));
    await symlink(path.join(DATA_DIR, 'dreambooth/clock'), path.join(ds, 'a clock, with comma'));
    const rows = [
      'file,concept,category,object_class,split,concepts_present',
      'can/00.jpg,can,object,can,reference,can',
      'can/01.jpg,can,object,can,reference,can',
      'can/02.jpg,can,object,can,query,can',
      'can/03.jpg,can,object,can,query,can',
      '"a clock, with comma/00.jpg",clock,object,clock,reference,clock',
      '"a clock, with comma/01.jpg",clock,object,clock,reference,clock',
      '"a clock, with comma/02.jpg",clock,object,clock,query,clock',
    ];
    await writeFile(path.join(ds, 'index.csv'), rows.join('\n') + '\n');
    const res = await familiar(['eval', '--dataset', ds, '--json']);
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout.trim().split('\n').at(-1)!);
    expect(report).toMatchObject({ dataset: 'tiny-set', concepts: 2, queries: 3 });
    expect(Object.keys(report.metrics).sort()).toEqual(['negative', 'positive', 'precision', 'weighted']);
    expect(report.metrics.positive).toBeGreaterThan(50);
    expect(report.metrics.negative).toBe(100);
    expect(report.per_concept.map((c: { concept: string }) => c.concept)).toEqual(['can', 'clock']);
    expect(typeof report.seconds).toBe('number');
    expect(res.stderr).toMatch(/7\/7/);
  });

  it('fails with a typed error, a usage text and exit code 2 on bad usage', async () => {
    const res = await familiar(['enrol', '--name', 'X', 'photo.jpg']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/error INPUT_INVALID: enrol needs --kind/);
    const ds = await familiar(['eval', '--dataset', path.join(tmp, 'nope')]);
    expect(ds.code).toBe(1);
    expect(ds.stderr).toMatch(/DATASET_INVALID/);
  });

  it('gives a typed error for each user mistake: a folder or a non-image as a photo, an overlay it cannot write or would mislabel', async () => {
    const dog = path.join(DATA_DIR, 'dreambooth/dog2/02.jpg');
    const folder = await familiar(['recognise', '--store', store, path.join(DATA_DIR, 'dreambooth/dog2')]);
    expect({ code: folder.code, stderr: folder.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(/^error INPUT_INVALID: .*is a directory/) });
    const missingDir = await familiar(['recognise', '--store', store, '--overlay', path.join(tmp, 'no-such-dir', 'x.jpg'), dog]);
    expect({ code: missingDir.code, stderr: missingDir.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(/^error INPUT_INVALID: cannot write the overlay/) });
    const png = path.join(tmp, 'overlay.png');
    const wrongType = await familiar(['recognise', '--store', store, '--overlay', png, dog]);
    expect({ code: wrongType.code, stderr: wrongType.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(/^error INPUT_INVALID: --overlay writes a JPEG/) });
    await expect(readFile(png)).rejects.toMatchObject({ code: 'ENOENT' });
    const text = path.join(tmp, 'notes.txt');
    await writeFile(text, 'not a photo at all\n');
    const notImage = await familiar(['enrol', '--store', store, '--name', 'Texty', '--kind', 'object', text]);
    expect({ code: notImage.code, stderr: notImage.stderr }).toEqual({ code: 1, stderr: expect.stringMatching(/error IMAGE_INVALID: /) });
    expect(notImage.stderr).not.toMatch(/face/);
  });

  it('verifies the models', async () => {
    const res = await familiar(['models', 'verify']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/ok +detector/);
    const missing = await familiar(['models', 'verify'], { FAMILIAR_MODELS_DIR: tmp });
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(/MODEL_MISSING/);
  });
});
