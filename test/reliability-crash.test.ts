import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, REPO_ROOT } from '@familiar/config';
import { seededRandom } from '@familiar/contracts';
import { MEMORY_FILES } from '@familiar/memory';
import { FamiliarCore } from '@familiar/runtime';
import { dataFile } from './support/static-backend.ts';
import { childNodeArgs, eachLine, exited, MiB, procMemory, waitUntil } from './support/familiar-process.ts';
import { saveSeeds, WRITE_PATHS, type WriterLine, type WritePath } from './support/reliability-store.ts';

// A robot runs unattended for months: SIGKILL at any instant of any write must lose no acknowledged write, never
// load a half-written one, and never keep the store from opening (DESIGN §6). Hundreds of kills are affordable
// because the child is a light process doing the real writes through the real Memory facade (concepts, HNSW
// index caches, sightings, triggers, forget journal), with real embeddings; reliability-crash-runtime.test.ts
// kills the whole `familiar start` a handful of times on top.

const WRITER = path.join(REPO_ROOT, 'test/support/reliability-writer.ts');
/** Two stores written and killed side by side; each cycles through the write paths. */
const LANES = Number(process.env.RELIABILITY_LANES ?? 3);
const ROUNDS_PER_LANE = Number(process.env.RELIABILITY_ROUNDS ?? 72);
/** A kill lands uniformly within this long after the store opened: a few writes of any path. */
const KILL_WINDOW_MS = 80;

let tmp: string;
let seedsFile: string;
let nodeArgs: string[];

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'familiar-crash-'));
  // Real embeddings: the models' own vectors of real faces and objects, written by the child with a little jitter.
  const core = await FamiliarCore.open(loadConfig({ env: {} }), path.join(tmp, 'seed-store'));
  try {
    const photos = (dir: string, names: string[]) => names.map((n) => ({ file: dataFile(`${dir}/${n}`) }));
    await core.enrol({ name: 'Madonna', kind: 'person', photos: photos('faces_5celeb/train/Madonna', ['1.jpg', '2.jpg', '3.jpg']) });
    await core.enrol({ name: 'Jerry', kind: 'person', photos: photos('faces_5celeb/train/Jerry Seinfield', ['1.jpg', '2.jpg', '3.jpg']) });
    await core.enrol({ name: 'Rex', kind: 'pet', photos: photos('dreambooth/dog', ['00.jpg', '01.jpg']) });
    await core.enrol({ name: 'Can', kind: 'object', photos: photos('dreambooth/can', ['00.jpg', '01.jpg']) });
    const views = core.store.list().flatMap((c) => c.views);
    const seeds = { face: views.filter((v) => v.space === 'face').map((v) => v.vector), object: views.filter((v) => v.space === 'object').map((v) => v.vector) };
    expect(seeds.face.length).toBeGreaterThanOrEqual(4);
    expect(seeds.object.length).toBeGreaterThanOrEqual(2);
    seedsFile = path.join(tmp, 'seeds.json');
    await saveSeeds(seedsFile, seeds);
  } finally {
    await core.close();
  }
  nodeArgs = await childNodeArgs(WRITER, path.join(tmp, 'bundle'));
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

interface ConceptModel {
  name: string;
  context: string;
  views: number;
  digest: string;
}

/** What the acknowledged writes say the store must hold. */
class Expected {
  readonly concepts = new Map<string, ConceptModel>();
  readonly forgotten = new Set<string>();
  readonly sightings = new Map<string, string | null>();
  readonly triggers = new Map<string, { conceptId: string; once: boolean }>();

  apply(op: WritePath, i: Record<string, unknown>): void {
    const id = i.id as string;
    if (op === 'enrol') this.concepts.set(id, { name: i.name as string, context: i.context as string, views: i.views as number, digest: i.digest as string });
    else if (op === 'update' || op === 'index') Object.assign(this.concepts.get(id)!, { context: i.context, views: i.views, digest: i.digest });
    else if (op === 'forget') this.forget(id);
    else if (op === 'sighting') this.sightings.set(id, i.conceptId as string | null);
    else if (i.sub === 'add') this.triggers.set(id, { conceptId: i.conceptId as string, once: i.once as boolean });
    else if (i.sub === 'cancel') this.triggers.delete(id);
    else for (const f of i.fired as { id: string; once: boolean }[]) if (f.once) this.triggers.delete(f.id);
  }

  forget(id: string): void {
    this.concepts.delete(id);
    this.forgotten.add(id);
    for (const [s, c] of this.sightings) if (c === id) this.sightings.delete(s);
    for (const [t, v] of this.triggers) if (v.conceptId === id) this.triggers.delete(t);
  }
}

type Begin = Extract<WriterLine, { t: 'B' }>;
type State = Extract<WriterLine, { t: 'S' }>;

interface Round {
  /** What the writer found at its open: the outcome of the previous kill. */
  opened: State;
  lines: WriterLine[];
  /** The write in flight when the kill landed (B without A), if any. */
  inFlight: Begin | undefined;
  peakRss: number;
}

/** Starts the writer on `dir`; unless `focus` is verify, SIGKILLs it at a random instant once it writes. */
async function runWriter(dir: string, focus: WritePath | 'verify', seed: number, rand: () => number): Promise<Round> {
  const child = spawn(process.execPath, [...nodeArgs, dir, focus, seedsFile, String(seed)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: WriterLine[] = [];
  let stderr = '';
  eachLine(child.stdout, (line) => lines.push(JSON.parse(line) as WriterLine));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const ready = focus === 'verify' ? 'S' : 'R';
  await waitUntil(() => lines.some((l) => l.t === ready) || child.exitCode !== null, 20_000, 'the writer to open the store', () => stderr);
  let peakRss = 0;
  if (focus !== 'verify') {
    if (child.exitCode !== null) throw new Error(`the writer could not open the store: ${stderr}`);
    await new Promise((r) => setTimeout(r, rand() * KILL_WINDOW_MS));
    peakRss = procMemory(child.pid!).peak;
    child.kill('SIGKILL');
  }
  const { code, signal } = await exited(child);
  await closed;
  if (focus === 'verify' ? code !== 0 : signal !== 'SIGKILL') throw new Error(`the writer ended by itself (${code ?? signal}): ${stderr}`);
  let inFlight: Begin | undefined;
  for (const l of lines) {
    if (l.t === 'B') inFlight = l;
    else if (l.t === 'A') inFlight = undefined;
  }
  return { opened: lines.find((l): l is State => l.t === 'S')!, lines, inFlight, peakRss };
}

interface Tally {
  kills: Record<WritePath | 'between', number>;
  acknowledged: number;
  tempFilesRemoved: number;
  forgetsResumed: number;
  indexLoaded: number;
  indexRebuilt: number;
  inFlightLanded: number;
  maxChildPeakRss: number;
}

/** After the kill, before anything repairs it: an acknowledged forget left no trace in the sightings or triggers files. */
async function checkErasedOnDisk(dir: string, exp: Expected, inFlight: Begin | undefined): Promise<void> {
  const sightings = await readFile(path.join(dir, MEMORY_FILES.sightings), 'utf8').catch(() => '');
  const triggers = await readFile(path.join(dir, MEMORY_FILES.triggers), 'utf8').catch(() => '');
  for (const id of exp.forgotten) {
    expect(sightings.includes(id) || triggers.includes(id), `forgotten ${id} still on disk after a kill during ${inFlight?.op ?? 'no write'}`).toBe(false);
  }
}

/**
 * Checks what the next open found against what was acknowledged before the kill, then adopts the outcome of the
 * write that was in flight, whichever way it went: it must have landed whole or left no trace.
 */
function verify(found: State, exp: Expected, pending: Begin | undefined, tally: Tally): void {
  const where = `after a kill during ${pending?.op ?? 'no write'} ${JSON.stringify(pending?.info ?? {})}`;
  // Nothing half-written loads: no file failed its checksum, no torn sightings line but the one being written.
  expect(found.corrupt, where).toEqual({ concepts: 0, sightings: 0, triggers: 0 });
  expect(found.skippedViews, where).toBe(0);
  expect(found.droppedLines, where).toBeLessThanOrEqual(1);
  tally.tempFilesRemoved += found.tempFilesRemoved;
  if (found.forgetResumed) tally.forgetsResumed++;

  const actual = new Map(found.concepts.map((c) => [c.id, c]));
  const pendingId = pending?.info.id as string | undefined;
  for (const [id, want] of [...exp.concepts]) {
    const got = actual.get(id);
    if (got === undefined && pending?.op === 'forget' && pendingId === id) {
      exp.forget(id);
      tally.inFlightLanded++;
      continue;
    }
    expect(got, `${where}: acknowledged concept ${want.name} is lost`).toBeDefined();
    const now = { name: got!.name, context: got!.context, views: got!.views, digest: got!.digest };
    if ((pending?.op === 'update' || pending?.op === 'index') && pendingId === id && now.context === pending.info.context) {
      // The in-flight change landed whole: its context and its views, never one without the other.
      expect(now.views, where).toBe(want.views + 1);
      expect(now.digest, where).not.toBe(want.digest);
      Object.assign(want, now);
      tally.inFlightLanded++;
    } else {
      expect(now, `${where}: concept ${want.name}`).toEqual(want);
    }
  }
  for (const [id, got] of actual) {
    if (exp.concepts.has(id)) continue;
    // Only the enrolment in flight may be there without an acknowledgement, and then whole.
    expect(pending?.op === 'enrol' && pending.info.name === got.name, `${where}: unacknowledged concept ${got.name}`).toBe(true);
    expect(got.views, where).toBe(3);
    exp.apply('enrol', { ...got });
    tally.inFlightLanded++;
  }
  for (const id of exp.forgotten) expect(actual.has(id), `${where}: forgotten ${id} is back`).toBe(false);

  // A forget erases every trace or none: nothing may point at a concept that is not there.
  for (const s of found.sightings) if (s.conceptId !== null) expect(actual.has(s.conceptId), `${where}: sighting of a forgotten concept`).toBe(true);
  for (const t of found.triggers) expect(actual.has(t.conceptId), `${where}: trigger for a forgotten concept`).toBe(true);

  const sightings = new Map(found.sightings.map((s) => [s.id, s]));
  for (const [id, conceptId] of exp.sightings) {
    expect(sightings.get(id)?.conceptId, `${where}: acknowledged sighting ${id}`).toBe(conceptId);
    expect(sightings.get(id)?.open, where).toBe(false);
  }
  const unknownSightings = found.sightings.filter((s) => !exp.sightings.has(s.id));
  expect(unknownSightings.length, where).toBeLessThanOrEqual(pending?.op === 'sighting' ? 1 : 0);
  for (const s of unknownSightings) exp.sightings.set(s.id, s.conceptId);

  const triggers = new Map(found.triggers.map((t) => [t.id, t]));
  for (const [id, t] of [...exp.triggers]) {
    const mayBeGone =
      pending?.op === 'trigger' && ((pending.info.sub === 'cancel' && pending.info.id === id) || (pending.info.sub === 'appear' && pending.info.conceptId === t.conceptId && t.once));
    if (!triggers.has(id) && mayBeGone) exp.triggers.delete(id);
    else expect(triggers.has(id), `${where}: acknowledged trigger ${id}`).toBe(true);
  }
  const unknownTriggers = found.triggers.filter((t) => !exp.triggers.has(t.id));
  expect(unknownTriggers.length, where).toBeLessThanOrEqual(pending?.op === 'trigger' && pending.info.sub === 'add' ? 1 : 0);
  for (const t of unknownTriggers) exp.triggers.set(t.id, { conceptId: t.conceptId, once: t.once });

  // A loaded HNSW cache answers exactly like the concepts it claims to index; a torn or stale one is rebuilt.
  expect(found.index.mismatches, `${where}: ${found.index.origin} face index`).toBe(0);
  if (found.index.origin === 'hnsw-loaded') tally.indexLoaded++;
  if (found.index.origin === 'hnsw-built') tally.indexRebuilt++;
}

describe('SIGKILL at random moments during writes', () => {
  it(`loses no acknowledged enrol, update, forget, sighting, trigger or index write over ${LANES * ROUNDS_PER_LANE} kills, and the store always opens`, async ({ annotate }) => {
    const tally: Tally = {
      kills: { enrol: 0, update: 0, forget: 0, sighting: 0, trigger: 0, index: 0, between: 0 },
      acknowledged: 0,
      tempFilesRemoved: 0,
      forgetsResumed: 0,
      indexLoaded: 0,
      indexRebuilt: 0,
      inFlightLanded: 0,
      maxChildPeakRss: 0,
    };
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: LANES }, async (_, lane) => {
        const dir = path.join(tmp, `lane-${lane}`);
        await mkdir(dir);
        const exp = new Expected();
        const rand = seededRandom(1000 + lane);
        let pending: Begin | undefined;
        for (let r = 0; r < ROUNDS_PER_LANE + 2; r++) {
          // The last two rounds only open the store: the first checks the last kill (and, closing, saves the
          // index cache), the second shows that a cache written on a clean shutdown loads and answers right.
          const focus = r >= ROUNDS_PER_LANE ? 'verify' : WRITE_PATHS[(r + lane * 3) % WRITE_PATHS.length]!;
          const round = await runWriter(dir, focus, lane * 100_000 + r, rand);
          verify(round.opened, exp, pending, tally);
          if (focus === 'verify') {
            pending = undefined;
            continue;
          }
          for (const l of round.lines) {
            if (l.t !== 'A') continue;
            exp.apply(l.op, l.info);
            tally.acknowledged++;
          }
          pending = round.inFlight;
          tally.kills[pending?.op ?? 'between']++;
          tally.maxChildPeakRss = Math.max(tally.maxChildPeakRss, round.peakRss);
          await checkErasedOnDisk(dir, exp, pending);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const total = Object.values(tally.kills).reduce((a, b) => a + b, 0);
    await annotate(
      `${total} kills in ${seconds.toFixed(1)} s; in flight at the kill: ${JSON.stringify(tally.kills)}; ${tally.acknowledged} acknowledged writes all found; ` +
        `${tally.inFlightLanded} in-flight writes landed whole (the rest left no trace); ${tally.tempFilesRemoved} temp files cleaned at open; ` +
        `${tally.forgetsResumed} forgets finished from their journal; face index at open: ${tally.indexLoaded} cache loaded, ${tally.indexRebuilt} rebuilt; ` +
        `writer peak RSS ${(tally.maxChildPeakRss / MiB).toFixed(0)} MiB`,
    );
    expect(total).toBeGreaterThanOrEqual(200);
    for (const p of WRITE_PATHS) expect(tally.kills[p], `kills during ${p}`).toBeGreaterThanOrEqual(10);
    expect(tally.indexLoaded).toBeGreaterThanOrEqual(LANES);
  });
});
