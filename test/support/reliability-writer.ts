/**
 * Child process of reliability-crash.test.ts: opens a real store directory (the runtime's layout, through the
 * Memory facade, repairing what the previous writer's death left), reports what it found, then writes to it as
 * fast as it can along one write path, printing a line before each write and one when the write is acknowledged
 * (its promise resolved: durable), until the test kills it with SIGKILL.
 *
 *   node reliability-writer.mjs STORE_DIR PATH SEEDS_FILE RANDOM_SEED
 *
 * PATH is one of WRITE_PATHS, or `verify` to report and exit. A path that needs something first (concepts to
 * update, a sighting and a trigger for a forget to erase) writes it first, on its own lines.
 */
import { existsSync, writeSync } from 'node:fs';
import path from 'node:path';
import { seededRandom, type ConceptKind, type EmbeddingSpace, type NewConceptView } from '@familiar/contracts';
import { Memory, MEMORY_FILES } from '@familiar/memory';
import { jitter, loadSeeds, memoryOptions, viewsDigest, WRITE_PATHS, type Seeds, type StoreState, type WriterLine, type WritePath } from './reliability-store.ts';

const [dir, focus, seedsFile, seedText] = process.argv.slice(2) as [string, WritePath | 'verify', string, string];
if (focus !== 'verify' && !WRITE_PATHS.includes(focus)) throw new Error(`unknown write path ${focus}`);
const seed = Number(seedText);
const rand = seededRandom(seed);
const seeds: Seeds = await loadSeeds(seedsFile);
/** A lane's store stays near this size: enrolling paths forget instead once it is reached. */
const MAX_CONCEPTS = 40;
const MIN_CONCEPTS = 4;

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes a line straight to fd 1 and returns only once the kernel has it. process.stdout would queue it in this
 * process when the pipe is full (the test is busy), and a kill would then lose acknowledgements of writes that
 * did land. (process.stdout is never touched, so fd 1 keeps whatever mode it was given.)
 */
function emit(line: WriterLine): void {
  const bytes = Buffer.from(`${JSON.stringify(line)}\n`);
  for (let off = 0; off < bytes.length; ) {
    try {
      off += writeSync(1, bytes, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(pause, 0, 0, 2);
    }
  }
}

const forgetResumed = existsSync(path.join(dir, MEMORY_FILES.forgetJournal));
const memory = await Memory.open(dir, memoryOptions());
emit({ t: 'S', ...describe() });
if (focus === 'verify') {
  await memory.close();
  process.exit(0);
}

/** The store as this open found it: what the test compares with the acknowledged writes. */
function describe(): StoreState {
  const concepts = memory.concepts.list();
  // A loaded HNSW cache must answer like the concepts it claims to index: every face view finds itself.
  const faceViews = concepts.flatMap((c) => c.views.filter((v) => v.space === 'face').map((v) => ({ c, v })));
  const hits = faceViews.length === 0 ? [] : memory.concepts.search('face', faceViews.map(({ v }) => v.vector), 1);
  const mismatches = faceViews.filter(({ c, v }, i) => hits[i]![0]?.conceptId !== c.id || hits[i]![0]?.viewId !== v.id || hits[i]![0]!.similarity < 0.999).length;
  const r = memory.concepts.report;
  return {
    corrupt: { concepts: r.quarantined.length, sightings: memory.sightings.report.quarantined ? 1 : 0, triggers: memory.triggers.report.quarantined ? 1 : 0 },
    skippedViews: r.skippedViews.length,
    droppedLines: memory.sightings.report.droppedLines,
    tempFilesRemoved: r.tempFilesRemoved.length + memory.sightings.report.tempFilesRemoved.length + memory.triggers.report.tempFilesRemoved.length,
    forgetResumed,
    concepts: concepts.map((c) => ({ id: c.id, name: c.name, context: c.context, views: c.views.length, digest: viewsDigest(c.views) })),
    sightings: memory.sightings.recent({ limit: 10_000 }).map((s) => ({ id: s.id, conceptId: s.conceptId, open: s.open })),
    triggers: memory.triggers.list().map((t) => ({ id: t.id, conceptId: t.conceptId, once: t.once })),
    index: { origin: r.indexes.face ?? null, kind: memory.concepts.indexKind('face'), checked: faceViews.length, mismatches },
  };
}

async function op<T extends Record<string, unknown>>(path: WritePath, info: Record<string, unknown>, write: () => Promise<T>): Promise<T> {
  emit({ t: 'B', op: path, info });
  const result = await write();
  emit({ t: 'A', op: path, info: { ...info, ...result } });
  return result;
}

const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;

function views(space: EmbeddingSpace, n: number): NewConceptView[] {
  const base = seeds[space === 'face' ? 'face' : 'object'];
  return Array.from({ length: n }, (_, i) => ({ space, vector: jitter(pick(base), rand), origin: `photo-${i}.jpg` }));
}

let counter = 0;
const ids = (): string[] => memory.concepts.summaries().map((c) => c.id);

async function enrol(kind: ConceptKind = rand() < 0.6 ? 'person' : 'pet'): Promise<void> {
  const name = `c${seed}-${counter++}`;
  await op('enrol', { name, kind }, async () => {
    const c = await memory.concepts.add({ name, kind, context: '', views: views(kind === 'person' ? 'face' : 'object', 3) });
    return { id: c.id, context: c.context, views: c.views.length, digest: viewsDigest(c.views) };
  });
}

async function update(): Promise<void> {
  const id = pick(ids());
  const c = memory.concepts.get(id);
  const context = `context ${seed}-${counter++}: ${'x'.repeat(Math.floor(rand() * 300))}`;
  await op('update', { id, context }, async () => {
    const next = await memory.concepts.update(id, { context, addViews: views(c.views[0]!.space, 1) });
    return { views: next.views.length, digest: viewsDigest(next.views) };
  });
}

/**
 * Adds a face view to a person and persists the HNSW cache right away (the runtime saves it on shutdown). Only
 * adds: an index that holds deleted entries is never cached, so removals would leave nothing to tear.
 */
async function reindex(): Promise<void> {
  const persons = memory.concepts.summaries().filter((c) => c.kind === 'person');
  if (persons.length === 0) return enrol('person');
  const c = pick(persons);
  // The seed makes the context unique across runs, so the verifier can tell whether this write landed.
  const context = `reindexed ${seed}-${counter++}`;
  await op('index', { id: c.id, context }, async () => {
    const next = await memory.concepts.update(c.id, { context, addViews: views('face', 1) });
    await memory.concepts.saveIndexes();
    return { views: next.views.length, digest: viewsDigest(next.views) };
  });
}

async function sighting(conceptId: string | null): Promise<void> {
  await op('sighting', { conceptId }, async () => {
    const at = Date.now();
    const s = memory.sightings.begin({ conceptId, trackId: `t${counter++}`, cameraId: 'cam', room: 'hall', at, box: { xmin: 1, ymin: 2, xmax: 30, ymax: 40 }, confidence: 0.8 });
    memory.sightings.update(s.id, { at: at + 1, box: { xmin: 2, ymin: 3, xmax: 31, ymax: 41 } });
    if (rand() < 0.5) memory.sightings.end(s.id, { at: at + 2 });
    await memory.sightings.flush();
    return { id: s.id };
  });
}

async function addTrigger(conceptId: string): Promise<void> {
  const once = rand() < 0.5;
  await op('trigger', { sub: 'add', conceptId, once }, async () => {
    const t = await memory.triggers.add({ conceptId, message: `tell me when they arrive (${counter++})`, createdBy: 'reliability', once, cooldownMs: 0 });
    return { id: t.id };
  });
}

async function triggerStep(): Promise<void> {
  const active = memory.triggers.list();
  const r = rand();
  if (r < 0.5 || active.length === 0) return addTrigger(pick(ids()));
  if (r < 0.75) {
    const id = pick(active).id;
    await op('trigger', { sub: 'cancel', id }, async () => {
      await memory.triggers.cancel(id);
      return {};
    });
    return;
  }
  const conceptId = pick(active).conceptId;
  await op('trigger', { sub: 'appear', conceptId }, async () => {
    const fired = await memory.triggers.onAppeared({ conceptId, cameraId: 'cam', room: 'hall', at: Date.now() });
    return { fired: fired.map((t) => ({ id: t.id, once: t.once })) };
  });
}

async function forget(): Promise<void> {
  const id = pick(ids());
  // Give it traces in the other stores first, so the forget has something to erase everywhere.
  await sighting(id);
  await addTrigger(id);
  await op('forget', { id }, async () => {
    await memory.forgetConcept(id);
    return {};
  });
}

// The index path starts from a fresh cache so that its kills find one to tear.
if (focus === 'index') await memory.concepts.saveIndexes();
emit({ t: 'R' });
for (;;) {
  const size = memory.concepts.size;
  if (size < MIN_CONCEPTS) await enrol();
  else if (size >= MAX_CONCEPTS && focus === 'enrol') await forget();
  else if (focus === 'enrol') await enrol();
  else if (focus === 'index') await reindex();
  else if (focus === 'update') await update();
  else if (focus === 'forget') await forget();
  else if (focus === 'sighting') await sighting(rand() < 0.2 ? null : pick(ids()));
  else await triggerStep();
}
