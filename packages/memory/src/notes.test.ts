import { appendFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FamiliarError } from '@familiar/contracts';
import { NotesLog, type NotesOptions } from './notes.ts';
import { SightingsLog } from './sightings.ts';
import { caught, errorCode, makeTempDir, removeDir } from './test-helpers.ts';

const DAY = 24 * 60 * 60 * 1000;
const T0 = Date.UTC(2026, 2, 1, 9);
let dir: string;
let file: string;
let clock = T0;
let notes: NotesLog | undefined;
let sightings: SightingsLog | undefined;

beforeEach(async () => {
  dir = await makeTempDir();
  file = path.join(dir, 'notes.jsonl');
  clock = T0;
});
afterEach(async () => {
  await notes?.close();
  await sightings?.close();
  notes = sightings = undefined;
  await removeDir(dir);
});

async function open(options: NotesOptions = {}): Promise<NotesLog> {
  notes = await NotesLog.open(file, { now: () => clock, ...options });
  return notes;
}

/** What kill -9 leaves: the log dropped without close(), then opened again. */
async function reopen(options: NotesOptions = {}): Promise<NotesLog> {
  notes = undefined;
  return open(options);
}

const box = { xmin: 0, ymin: 0, xmax: 10, ymax: 10 };

describe('NotesLog', () => {
  it('keeps a private note for its speaker only, across a reopen; a speaker over their quota loses only their own oldest', async () => {
    const n = await open({ maxPerSpeaker: 2 });
    const hint = await n.add({ conceptIds: ['billy'], speaker: 'anna-id', text: 'my PIN hint is blue', at: T0, visibility: 'private' });
    const shared = await n.add({ conceptIds: ['billy'], speaker: 'anna-id', text: 'Billy was vaccinated', at: T0 + 1 });
    const anna = { speakers: ['Anna', 'anna-id'] };
    const tom = { speakers: ['Tom'] };
    const r = await reopen({ maxPerSpeaker: 2 });
    expect(r.forConcept('billy', 10, anna).map((x) => x.id)).toEqual([shared.id, hint.id]);
    expect(r.forConcept('billy', 10, tom).map((x) => x.id)).toEqual([shared.id]);
    expect(r.forConcept('billy', 10).map((x) => x.id)).toEqual([shared.id, hint.id]);
    expect(r.lastMention('billy', undefined, { speakers: [] })?.note.id).toBe(shared.id);
    for (let i = 0; i < 3; i++) await r.add({ conceptIds: ['billy'], speaker: 'Tom', text: `walk ${i}`, at: T0 + 10 + i });
    const texts = r.forConcept('billy', 10).map((x) => x.text);
    expect(texts).toEqual(['walk 2', 'walk 1', 'Billy was vaccinated', 'my PIN hint is blue']);
  });

  it('records notes durably, answers per concept newest first, and reloads them after a crash', async () => {
    const n = await open();
    const a = await n.add({ conceptIds: ['grandma'], speaker: 'anna', text: 'Grandma is coming on Sunday', at: T0, cameraId: 'hall', room: 'hallway' });
    await n.add({ conceptIds: ['billy', 'grandma'], speaker: 'phone-app', text: "Billy chewed Grandma's slipper", at: T0 + 1000 });
    await n.add({ conceptIds: ['billy', 'billy'], text: 'Billy needs a walk', at: T0 + 2000, activity: 'cooking' });
    expect(n.forConcept('grandma').map((x) => x.text)).toEqual(["Billy chewed Grandma's slipper", 'Grandma is coming on Sunday']);
    expect(n.forConcept('billy', 1)[0]).toMatchObject({ conceptIds: ['billy'], speaker: null, activity: 'cooking' });
    expect(n.recent(10, 'anna').map((x) => x.id)).toEqual([a.id]);

    const again = await reopen();
    expect(again.report).toMatchObject({ records: 3, droppedLines: 0 });
    expect(again.get(a.id)).toEqual(a);
    expect(again.forConcept('billy').length).toBe(2);
  });

  it('drops a torn last line and a corrupt line but keeps every other note', async () => {
    const n = await open();
    const kept = await n.add({ conceptIds: ['c1'], text: 'first', at: T0 });
    await n.add({ conceptIds: ['c1'], text: 'second', at: T0 + 1 });
    await n.close();
    const lines = (await readFile(file, 'utf8')).split('\n');
    lines[2] = lines[2]!.replace('second', 'sEcond'); // a flipped byte: its checksum fails
    await writeFile(file, lines.join('\n'));
    await appendFile(file, '{"h":"0123","n":{"id":"torn');
    const again = await reopen();
    expect(again.report.droppedLines).toBe(2);
    expect(again.forConcept('c1').map((x) => x.id)).toEqual([kept.id]);
    // The repaired file is clean: a further reopen drops nothing.
    await again.close();
    expect((await reopen()).report.droppedLines).toBe(0);
  });

  it('rejects bad input with typed errors and stores nothing', async () => {
    const n = await open({ maxTextLength: 50, checkConcept: (id) => {
      if (id !== 'known') throw new FamiliarError('CONCEPT_NOT_FOUND', id);
    } });
    expect(await errorCode(n.add({ conceptIds: [], text: 'x' }))).toBe('INPUT_INVALID');
    expect(await errorCode(n.add({ conceptIds: ['known'], text: 'x'.repeat(51) }))).toBe('INPUT_INVALID');
    expect(await errorCode(n.add({ conceptIds: ['known'], text: '   ' }))).toBe('INPUT_INVALID');
    expect(await errorCode(n.add({ conceptIds: ['known'], text: 'ok', at: -1 }))).toBe('INPUT_INVALID');
    expect(await errorCode(n.add({ conceptIds: ['ghost'], text: 'ok' }))).toBe('CONCEPT_NOT_FOUND');
    expect(await errorCode(n.add(null as never))).toBe('INPUT_INVALID');
    expect(() => n.forConcept('known', 0)).toThrow(FamiliarError);
    expect(n.size).toBe(0);
  });

  it('enforces the record cap (oldest first) and retention, in memory and on disk', async () => {
    const n = await open({ maxRecords: 10, retentionDays: 30 });
    for (let i = 0; i < 15; i++) await n.add({ conceptIds: ['c'], text: `note ${i}`, at: T0 + i });
    expect(n.size).toBe(10);
    expect(n.forConcept('c', 100).at(-1)!.text).toBe('note 5');
    clock = T0 + 31 * DAY;
    await n.add({ conceptIds: ['c'], text: 'recent', at: clock });
    expect(await n.prune()).toBe(9); // "recent" already pushed one more old note out
    expect(n.forConcept('c').map((x) => x.text)).toEqual(['recent']);
    const again = await reopen({ maxRecords: 10, retentionDays: 30 });
    expect(again.size).toBe(1);
    expect((await readFile(file, 'utf8')).split('\n').filter((l) => l.length > 0)).toHaveLength(2);
  });

  it('lastMention recalls where the speaker was and who else was in view around that moment', async () => {
    sightings = await SightingsLog.open(path.join(dir, 'sightings.jsonl'), { now: () => clock });
    const begin = (conceptId: string | null, cameraId: string, from: number, to: number) => {
      const s = sightings!.begin({ conceptId, trackId: `${conceptId}-${from}`, cameraId, room: cameraId === 'kitchen-cam' ? 'kitchen' : 'hall', at: from, box, confidence: 0.9 });
      sightings!.end(s.id, { at: to });
      return s.id;
    };
    const at = T0 + 10 * 60_000;
    const annaVisit = begin('anna', 'kitchen-cam', at - 5 * 60_000, at + 5 * 60_000);
    begin('anna', 'hall-cam', at - 60 * 60_000, at - 50 * 60_000); // earlier, elsewhere
    const billyVisit = begin('billy', 'kitchen-cam', at - 20_000, at + 20_000);
    const strangerVisit = begin(null, 'kitchen-cam', at + 30_000, at + 90_000); // arrives within the window
    begin('grandma', 'kitchen-cam', at + 10 * 60_000, at + 11 * 60_000); // long after
    begin('tom', 'hall-cam', at - 10_000, at + 10_000); // another camera

    const n = await open({ mentionWindowMs: 60_000 });
    await n.add({ conceptIds: ['grandma'], speaker: 'anna', text: 'Grandma would love this soup', at: T0, activity: 'old note' });
    await n.add({ conceptIds: ['grandma'], speaker: 'anna', text: 'I should call Grandma', at, activity: 'cooking soup' });
    const recall = n.lastMention('grandma', sightings)!;
    expect(recall.note.text).toBe('I should call Grandma');
    expect(recall.activity).toBe('cooking soup');
    expect(recall.speakerVisit?.id).toBe(annaVisit);
    expect(recall).toMatchObject({ cameraId: 'kitchen-cam', room: 'kitchen' });
    expect(recall.inView.map((s) => s.id)).toEqual([billyVisit, strangerVisit]);

    // Without sightings: just the note; for a never-mentioned concept: nothing.
    expect(n.lastMention('grandma')).toMatchObject({ note: { text: 'I should call Grandma' }, inView: [] });
    expect(n.lastMention('billy')).toBeUndefined();
  });

  it('removeConcept deletes notes only about it, strips it from others, clears its speaker role and redacts its name', async () => {
    const n = await open();
    await n.add({ conceptIds: ['grandma'], text: 'Grandma is coming', at: T0 });
    await n.add({ conceptIds: ['billy', 'grandma'], text: "Billy chewed Grandma's slipper", at: T0 + 1 });
    await n.add({ conceptIds: ['billy'], speaker: 'grandma', text: 'Billy is a good boy', at: T0 + 2 });
    await n.add({ conceptIds: ['anna'], text: 'Anna baked a cake', at: T0 + 3, activity: 'talking to Grandma' });
    const result = await n.removeConcept('grandma', ['Grandma']);
    expect(result).toEqual({ deleted: 1, edited: 3 });
    expect(n.forConcept('grandma')).toEqual([]);
    expect(n.forConcept('billy').map((x) => [x.text, x.speaker])).toEqual([
      ['Billy is a good boy', null],
      ["Billy chewed someone's slipper", null],
    ]);
    expect(n.forConcept('anna')[0]!.activity).toBe('talking to someone');
    const onDisk = await readFile(file, 'utf8');
    expect(onDisk).not.toMatch(/grandma/i);
    const again = await reopen();
    expect(again.size).toBe(3);
  });

  it('read-only: loads a snapshot without touching the file and rejects changes', async () => {
    const n = await open();
    await n.add({ conceptIds: ['c'], text: 'hello', at: T0 });
    await appendFile(file, '{"torn');
    const before = await readFile(file, 'utf8');
    const ro = await NotesLog.open(file, { readOnly: true });
    expect(ro.forConcept('c').map((x) => x.text)).toEqual(['hello']);
    expect((await caught(ro.add({ conceptIds: ['c'], text: 'x' }))).code).toBe('STORE_IO');
    expect(await errorCode(ro.removeConcept('c'))).toBe('STORE_IO');
    await ro.close();
    expect(await readFile(file, 'utf8')).toBe(before);
  });
});
