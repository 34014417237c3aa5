import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FamiliarError } from '@familiar/contracts';
import { extractPreferences } from '@familiar/language';
import { PreferenceStore, type PreferenceOptions } from './preferences.ts';
import { errorCode, makeTempDir, removeDir } from './test-helpers.ts';

const T0 = Date.UTC(2026, 2, 1, 9);
let dir: string;
let file: string;
let clock = T0;
let store: PreferenceStore | undefined;

beforeEach(async () => {
  dir = await makeTempDir();
  file = path.join(dir, 'preferences.json');
  clock = T0;
});
afterEach(async () => {
  await store?.close();
  store = undefined;
  await removeDir(dir);
});

async function open(options: PreferenceOptions = {}): Promise<PreferenceStore> {
  store = await PreferenceStore.open(file, { now: () => clock, ...options });
  return store;
}

const texts = (list: ReadonlyArray<{ text: string }>): string[] => list.map((a) => a.text);

describe('PreferenceStore', () => {
  it('merges extracted attributes, moves one stated with the opposite polarity, and survives a restart', async () => {
    const s = await open();
    expect(s.get('anna')).toEqual({ conceptId: 'anna', likes: [], dislikes: [], updatedAt: 0 });
    await s.merge('anna', extractPreferences('I like the lights dim in the evening, hate clutter on the table'));
    clock += 1000;
    const p = await s.merge('anna', { likes: ['The lights DIM in the evening', 'jazz'], dislikes: ['jazz'] });
    // "jazz" was liked, then disliked in the same statement: the later list wins.
    expect(texts(p.likes)).toEqual(['the lights dim in the evening']);
    expect(texts(p.dislikes)).toEqual(['clutter on the table', 'jazz']);
    expect(p.likes[0]).toEqual({ text: 'the lights dim in the evening', source: 'extracted', at: T0 + 1000 });
    await s.merge('anna', { likes: ['clutter on the table'] });
    store = undefined; // dropped without close (kill -9)
    const again = await open();
    expect(texts(again.get('anna').likes)).toEqual(['the lights dim in the evening', 'clutter on the table']);
    expect(texts(again.get('anna').dislikes)).toEqual(['jazz']);
  });

  it('set (a member edit) replaces a list, keeps unchanged entries, marks new ones edited', async () => {
    const s = await open();
    await s.merge('tom', { likes: ['tea', 'football'], dislikes: ['rain'] });
    clock += 5000;
    const p = await s.set('tom', { likes: ['tea', 'chess', 'rain'] });
    expect(p.likes).toEqual([
      { text: 'tea', source: 'extracted', at: T0 },
      { text: 'chess', source: 'edited', at: T0 + 5000 },
      { text: 'rain', source: 'edited', at: T0 + 5000 },
    ]);
    // "rain" cannot be both: the edited likes win over the old dislike.
    expect(p.dislikes).toEqual([]);
    expect((await s.set('tom', { likes: [], dislikes: [] })).likes).toEqual([]);
    expect(s.list()).toEqual([]);
  });

  it('caps each list, dropping the oldest extracted entries before edited ones', async () => {
    const s = await open({ maxPerList: 3 });
    await s.set('anna', { likes: ['kept by a member'] });
    for (let i = 0; i < 5; i++) {
      clock += 1000;
      await s.merge('anna', { likes: [`thing ${i}`] });
    }
    expect(texts(s.get('anna').likes)).toEqual(['kept by a member', 'thing 3', 'thing 4']);
  });

  it('rejects bad input with typed errors and changes nothing', async () => {
    const s = await open({ checkConcept: (id) => {
      if (id !== 'anna') throw new FamiliarError('CONCEPT_NOT_FOUND', id);
    } });
    expect(await errorCode(s.merge('ghost', { likes: ['x'] }))).toBe('CONCEPT_NOT_FOUND');
    expect(await errorCode(s.merge('anna', { likes: ['x'.repeat(301)] }))).toBe('INPUT_INVALID');
    expect(await errorCode(s.merge('anna', { likes: 'tea' as never }))).toBe('INPUT_INVALID');
    expect(await errorCode(s.set('anna', { dislikes: [''] }))).toBe('INPUT_INVALID');
    expect(await errorCode(s.merge('anna', { likes: ['x'] }, Number.NaN))).toBe('INPUT_INVALID');
    expect(s.list()).toEqual([]);
  });

  it('removeConcept erases a person and redacts their name from everyone else, on disk', async () => {
    const s = await open();
    await s.merge('grandma', { likes: ['knitting'] });
    await s.merge('anna', { likes: ["Grandma's apple pie", 'tea'], dislikes: ['visiting Grandma late'] });
    expect(await s.removeConcept('grandma', ['Grandma'])).toBe(true);
    expect(s.get('grandma').likes).toEqual([]);
    expect(texts(s.get('anna').likes)).toEqual(["someone's apple pie", 'tea']);
    expect(await readFile(file, 'utf8')).not.toMatch(/grandma/i);
    expect(await s.removeConcept('nobody')).toBe(false);
  });
});
