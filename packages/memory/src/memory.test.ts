import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeEnvelope, float32ToBase64 } from './atomic.ts';
import { extractPreferences } from '@familiar/language';
import { Memory, MEMORY_FILES, type MemoryOptions } from './memory.ts';
import { caught, errorCode, makeTempDir, mountTinyTmpfs, perturb, randomUnit, removeDir, seededRandom } from './test-helpers.ts';

const T0 = Date.UTC(2026, 2, 1, 9);
const DIM = 128;
const box = { xmin: 0, ymin: 0, xmax: 10, ymax: 10 };
let dir: string;
let memory: Memory | undefined;
const rand = seededRandom(2026);

beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await memory?.close();
  memory = undefined;
  await removeDir(dir);
});

// Small HNSW threshold so the face index cache (which holds raw vectors) is really written.
const OPTIONS: MemoryOptions = { concepts: { hnswAbove: 4, dims: { face: DIM } }, now: () => T0 };

async function open(options: MemoryOptions = {}): Promise<Memory> {
  memory = await Memory.open(dir, { ...OPTIONS, ...options });
  return memory;
}

async function reopen(): Promise<Memory> {
  await memory?.close();
  return open();
}

/** Every file under `root` (recursively). */
async function allFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(root, { withFileTypes: true })) {
    const p = path.join(root, e.name);
    if (e.isDirectory()) out.push(...(await allFiles(p)));
    else out.push(p);
  }
  return out;
}

function faceViews(n: number, centre: Float32Array) {
  return Array.from({ length: n }, (_, i) => ({ space: 'face' as const, vector: perturb(centre, 0.3, rand), origin: `photo-${i}.jpg` }));
}

describe('Memory', () => {
  it('forgetting a concept leaves no trace of its id, name or vectors anywhere in the store directory', async () => {
    // A corrupt preferences file naming Grandma: quarantined at open, and it must go too.
    await writeFile(path.join(dir, MEMORY_FILES.preferences), '{"format":"familiar.preferences","version":1,"sha256":"0","payload":{"people":[{"conceptId":"x","likes":[{"text":"Grandma"}]}]}}\n');
    const m = await open();
    expect(m.preferences.report.quarantined).toBeDefined();
    const grandma = await m.concepts.add({ name: 'Grandma', kind: 'person', context: 'Grandma Rose, visits on Sundays', views: faceViews(4, randomUnit(DIM, rand)) });
    const billy = await m.concepts.add({ name: 'Billy', kind: 'pet', views: faceViews(3, randomUnit(DIM, rand)) });
    const anna = await m.concepts.add({ name: 'Anna', kind: 'person', views: faceViews(3, randomUnit(DIM, rand)) });
    const g = grandma.id;

    for (const c of [g, billy.id, anna.id, null]) {
      const s = m.sightings.begin({ conceptId: c, trackId: `track-${Math.floor(rand() * 1e9)}`, cameraId: 'cam1', room: 'kitchen', at: T0, box, confidence: 0.9 });
      m.sightings.end(s.id, { at: T0 + 5000 });
    }
    await m.sightings.flush();
    await m.notes.add({ conceptIds: [g], speaker: anna.id, text: 'Grandma is coming on Sunday', at: T0 });
    await m.notes.add({ conceptIds: [billy.id, g], speaker: anna.id, text: "Billy chewed Grandma's slipper", at: T0 + 1 });
    await m.notes.add({ conceptIds: [billy.id], speaker: g, text: 'Billy is a good boy', at: T0 + 2, activity: 'knitting' });
    await m.notes.add({ conceptIds: [anna.id], speaker: 'phone', text: 'Anna baked a cake for grandma', at: T0 + 3 });
    await m.triggers.add({ conceptId: g, message: 'Remember to call the doctor.', createdBy: anna.id });
    await m.triggers.add({ conceptId: billy.id, message: 'Billy is here.', createdBy: g });
    await m.triggers.add({ conceptId: anna.id, message: "Grandma's parcel arrived", createdBy: 'phone' });
    await m.preferences.merge(g, extractPreferences('I love knitting and hate loud music'));
    await m.preferences.merge(anna.id, { likes: ["Grandma's apple pie", 'jazz'] });
    await m.unknowns.observe({ vector: randomUnit(DIM, rand), at: T0 });
    const m2 = await reopen(); // writes the HNSW cache, which holds Grandma's raw vectors
    expect((await readdir(path.join(dir, 'index'))).length).toBeGreaterThan(0);

    const vector = m2.concepts.get(g).views[0]!.vector;
    const needles = [Buffer.from(g), Buffer.from('grandma'), Buffer.from(float32ToBase64(vector)), Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength)];
    const holders = async (needle: Buffer): Promise<string[]> => {
      const out: string[] = [];
      for (const file of await allFiles(dir)) {
        const bytes = await readFile(file);
        if (bytes.includes(needle) || Buffer.from(bytes.toString('latin1').toLowerCase(), 'latin1').includes(needle)) out.push(path.relative(dir, file));
      }
      return out;
    };
    // The search can see them: before forgetting, each trace is on disk (the raw vector in the HNSW cache).
    for (const needle of needles) expect((await holders(needle)).length).toBeGreaterThan(0);
    expect(await holders(needles[3]!)).toContain(path.join('index', 'face.hnsw'));

    const report = await m2.forgetConcept(g, ['Grandma Rose']);
    expect(report).toMatchObject({ conceptId: g, name: 'Grandma', sightings: 1, notes: { deleted: 1, edited: 3 }, triggers: { deleted: 2, edited: 1 }, preferences: true });
    expect(report.quarantinedDeleted).toHaveLength(1);
    expect(m2.concepts.has(g)).toBe(false);
    expect(m2.concepts.search('face', [vector], 1)[0]![0]!.conceptId).not.toBe(g);
    await m2.close();
    memory = undefined;

    for (const needle of needles) expect(await holders(needle)).toEqual([]);

    // Everything else is intact (and redacted) after a restart.
    const m3 = await open();
    expect(m3.concepts.size).toBe(2);
    expect(m3.notes.forConcept(billy.id).map((n) => [n.text, n.speaker])).toEqual([
      ['Billy is a good boy', null],
      ["Billy chewed someone's slipper", anna.id],
    ]);
    expect(m3.notes.forConcept(anna.id)[0]!.text).toBe('Anna baked a cake for someone');
    expect(m3.triggers.list().map((t) => t.message)).toEqual(["someone's parcel arrived"]);
    expect(m3.preferences.get(anna.id).likes.map((a) => a.text)).toEqual(["someone's apple pie", 'jazz']);
    expect(m3.sightings.recent({ limit: 10 }).map((s) => s.conceptId).sort()).toEqual([anna.id, billy.id, null].sort());
    expect(m3.unknowns.size).toBe(1);
    expect(await errorCode(m3.forgetConcept(g))).toBe('CONCEPT_NOT_FOUND');
  });

  it('forgets on a full disk: the reserve makes room for the journal, and space comes back', async (ctx) => {
    const mnt = path.join(dir, 'mnt');
    await mkdir(mnt);
    const unmount = mountTinyTmpfs(mnt, 1024);
    if (unmount === undefined) return ctx.skip('cannot mount a tmpfs here (needs root)');
    try {
      const m = await Memory.open(mnt, OPTIONS);
      memory = m;
      const billy = await m.concepts.add({ name: 'Billy', kind: 'pet', views: faceViews(2, randomUnit(DIM, rand)) });
      expect((await stat(path.join(mnt, MEMORY_FILES.forgetReserve))).size).toBe(64 * 1024);
      // Fill the disk to the last byte.
      const filler = path.join(mnt, 'filler');
      const fsError = (p: Promise<unknown>) => p.then(() => null, (e: NodeJS.ErrnoException) => e.code ?? 'error');
      for (let size = 512 * 1024; size >= 1024; size = Math.floor(size / 2)) {
        for (let i = 0; (await fsError(writeFile(`${filler}-${size}-${i}`, Buffer.alloc(size)))) === null; i++);
      }
      expect(await fsError(writeFile(path.join(mnt, 'probe'), 'x'.repeat(8192)))).toBe('ENOSPC');
      const report = await m.forgetConcept(billy.id);
      expect(report.conceptId).toBe(billy.id);
      expect(m.concepts.list().map((c) => c.id)).not.toContain(billy.id);
      await m.close();
      memory = await Memory.open(mnt, OPTIONS);
      expect(memory.concepts.list()).toEqual([]);
    } finally {
      await memory?.close();
      memory = undefined;
      unmount();
    }
  });

  it('finishes a forget that a crash interrupted, at the next open', async () => {
    const m = await open();
    const grandma = await m.concepts.add({ name: 'Grandma', kind: 'person', views: faceViews(2, randomUnit(DIM, rand)) });
    await m.notes.add({ conceptIds: [grandma.id], text: 'Grandma called', at: T0 });
    await m.triggers.add({ conceptId: grandma.id, message: 'hello', createdBy: 'phone' });
    await m.close();
    memory = undefined;
    // The crash came right after the journal was written: nothing else was erased yet.
    await writeFile(path.join(dir, MEMORY_FILES.forgetJournal), encodeEnvelope({ format: 'familiar.forget-journal', version: 1 }, { conceptId: grandma.id, names: ['Grandma'] }));
    const again = await open();
    expect(again.concepts.has(grandma.id)).toBe(false);
    expect(again.notes.size).toBe(0);
    expect(again.triggers.size).toBe(0);
    expect(await stat(path.join(dir, MEMORY_FILES.forgetJournal)).catch(() => 'gone')).toBe('gone');
  });

  it('accepts only enrolled concepts (and persons for preferences) across its parts', async () => {
    const m = await open();
    const billy = await m.concepts.add({ name: 'Billy', kind: 'pet', views: faceViews(1, randomUnit(DIM, rand)) });
    expect(await errorCode(m.notes.add({ conceptIds: ['ghost'], text: 'x' }))).toBe('CONCEPT_NOT_FOUND');
    expect(await errorCode(m.triggers.add({ conceptId: 'ghost', message: 'x', createdBy: 'x' }))).toBe('CONCEPT_NOT_FOUND');
    expect(await errorCode(m.preferences.merge(billy.id, { likes: ['bones'] }))).toBe('INPUT_INVALID');
    expect(await errorCode(() => m.sightings.begin({ conceptId: 'ghost', trackId: 't', cameraId: 'c', room: '', at: T0, box, confidence: 1 }))).toBe('CONCEPT_NOT_FOUND');
    expect(m.sightings.begin({ conceptId: null, trackId: 't', cameraId: 'c', room: '', at: T0, box, confidence: 1 }).conceptId).toBeNull();
    expect(await errorCode(m.unknowns.observe({ vector: randomUnit(64, rand) }))).toBe('INDEX_DIM_MISMATCH');
  });

  it('memory.unknownVisitorsEnabled: false erases the gathered faces at open and logs one info line with how many', async () => {
    const m = await open();
    const stranger = randomUnit(DIM, rand);
    await m.unknowns.observe({ vector: stranger, at: T0 });
    await m.unknowns.observe({ vector: perturb(stranger, 0.05, rand), at: T0 + 1000 });
    await m.unknowns.observe({ vector: randomUnit(DIM, rand), at: T0 + 2000 });
    expect(m.unknowns.list().map((u) => u.viewCount).sort()).toEqual([1, 2]);
    await m.close();
    memory = undefined;

    const lines: Array<{ level: string; msg: string; fields?: Record<string, unknown> }> = [];
    const log: MemoryOptions['log'] = (level, msg, fields) => lines.push({ level, msg, ...(fields && { fields }) });
    const off = await open({ config: { unknownVisitorsEnabled: false }, log });
    expect(off.unknowns.size).toBe(0);
    expect(await readdir(path.join(dir, MEMORY_FILES.unknowns))).toEqual(['state.json']);
    const erased = lines.filter((l) => l.msg.includes('unknown visitors are switched off'));
    expect(erased).toEqual([
      {
        level: 'info',
        msg: 'unknown visitors are switched off (memory.unknownVisitorsEnabled: false): erased 2 unknown visitors (3 face views)',
        fields: { groups: 2, views: 3 },
      },
    ]);
    await off.close();
    memory = undefined;

    // Nothing left to erase: no line at the next start.
    lines.length = 0;
    await open({ config: { unknownVisitorsEnabled: false }, log });
    expect(lines.filter((l) => l.msg.includes('unknown visitors'))).toEqual([]);
  });

  it('holds the store lock; a read-only memory opens beside it, sees its data and changes nothing', async () => {
    const m = await open();
    const anna = await m.concepts.add({ name: 'Anna', kind: 'person', views: faceViews(1, randomUnit(DIM, rand)) });
    await m.notes.add({ conceptIds: [anna.id], text: 'hi', at: T0 });
    await m.sightings.flush();
    expect((await caught(Memory.open(dir, OPTIONS))).message).toContain(`in use by process ${process.pid}`);
    const before = (await allFiles(dir)).sort();
    const ro = await Memory.open(dir, { ...OPTIONS, readOnly: true });
    expect(ro.notes.forConcept(anna.id)).toHaveLength(1);
    expect(await errorCode(ro.forgetConcept(anna.id))).toBe('STORE_IO');
    expect(await errorCode(ro.notes.add({ conceptIds: [anna.id], text: 'x' }))).toBe('STORE_IO');
    await ro.close();
    expect((await allFiles(dir)).sort()).toEqual(before);
    await m.close();
    memory = undefined;
    await (await open()).close();
    memory = undefined;
  });
});

describe('thumbnails', () => {
  const JPEG = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9]);

  it('are kept only outside embeddings-only mode, erased with their concept, and purged when the mode turns on', async () => {
    let m = await open({ keepThumbnails: true });
    const anna = await m.concepts.add({ name: 'Anna', kind: 'person', views: faceViews(2, randomUnit(DIM, rand)) });
    const billy = await m.concepts.add({ name: 'Billy', kind: 'pet', views: faceViews(2, randomUnit(DIM, rand)) });
    await m.thumbnails.put(anna.id, JPEG);
    await m.thumbnails.put(billy.id, JPEG);
    expect(await m.thumbnails.get(anna.id)).toEqual(JPEG);
    expect((await caught(m.thumbnails.put(anna.id, new Uint8Array(70_000)))).code).toBe('IMAGE_TOO_LARGE');
    expect((await caught(m.thumbnails.get('../concepts'))).code).toBe('INPUT_INVALID');

    const report = await m.forgetConcept(anna.id);
    expect(report.thumbnail).toBe(true);
    expect(await m.thumbnails.get(anna.id)).toBeNull();
    expect((await allFiles(dir)).filter((f) => f.includes(anna.id))).toEqual([]);

    // An orphan (its concept gone in a crash between two writes) is removed at the next open.
    await writeFile(path.join(dir, MEMORY_FILES.thumbnails, 'orphan-1.jpg'), JPEG);
    await m.close();
    m = await open({ keepThumbnails: true });
    expect((await m.thumbnails.ids()).sort()).toEqual([billy.id]);

    // Embeddings-only mode keeps no image data at all: the folder is erased on open, nothing is stored.
    await m.close();
    m = await open({ keepThumbnails: false });
    expect((await allFiles(dir)).filter((f) => f.includes(MEMORY_FILES.thumbnails))).toEqual([]);
    await m.thumbnails.put(billy.id, JPEG);
    expect(await m.thumbnails.get(billy.id)).toBeNull();
    expect((await allFiles(dir)).filter((f) => f.endsWith('.jpg'))).toEqual([]);
  });
});
