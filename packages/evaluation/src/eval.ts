import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { FamiliarError, toFamiliarError, type ConceptKind, type Match, type PhotoRejection } from '@familiar/contracts';
import { CameraConfig, type ResolvedConfig } from '@familiar/config';
import { Engine, FamiliarCore } from '@familiar/runtime';
import { sourceGroup } from '@familiar/perception';

/** One row of a dataset's index.csv. */
export interface DatasetRow {
  file: string;
  concept: string;
  category: string;
  objectClass: string;
  split: 'reference' | 'query';
  conceptsPresent: string[];
}

export interface ConceptMetrics {
  concept: string;
  /** null when undefined (the concept was never detected, or it has no query images). */
  precision: number | null;
  positive: number | null;
  negative: number | null;
}

/** Averages over concepts, percentages 0–100 (null when undefined). */
export interface EvalMetrics {
  precision: number | null;
  positive: number | null;
  negative: number | null;
  weighted: number | null;
}

/** Over the negative images (nothing enrolled is in them): how many got any name at all. */
export interface NegativeReport {
  images: number;
  falseAcceptImages: number;
  /** falseAcceptImages / images, percent. */
  rate: number;
  /** One entry per `category` of the negative rows, in order of first appearance (a list: categories are data, not keys). */
  byCategory: { category: string; images: number; falseAcceptImages: number }[];
}

/** One detection of one query, as scored. */
export interface QueryDetection {
  concept: string;
  space: string;
  similarity: number;
  threshold: number;
}

export interface QueryResult {
  file: string;
  truth: string[];
  detected: QueryDetection[];
}

export interface EvalReport {
  /** The dataset folder's name; several joined with "+" when several were enrolled into one store. */
  dataset: string;
  concepts: number;
  queries: number;
  /** How queries were analysed: one photo at a time, or as the live pipeline analyses camera frames. */
  mode: 'photo' | 'live';
  metrics: EvalMetrics;
  perConcept: ConceptMetrics[];
  /** null when the queries hold no negative image. */
  negatives: NegativeReport | null;
  perQuery: QueryResult[];
  seconds: number;
  /** Reference photos that gave no view, and query images that could not be read. */
  rejected: PhotoRejection[];
  /** With `corrections`: false positives of half the queries answered with "that's not X", the other half re-run. */
  corrections?: CorrectionReport;
  /** With `live`: frames each query was played for, and the median latency from its first frame to a first name. */
  live?: LiveReport;
}

export interface CorrectionReport {
  /** "That's not X" corrections applied (one per false positive on the correction half of the queries). */
  applied: number;
  /** Of those, how many no longer happen on the corrected image itself. */
  fixed: number;
  /** The other half of the queries, never corrected: false positives before and after the corrections. */
  heldOut: { queries: number; falsePositivesBefore: number; falsePositivesAfter: number; metricsBefore: EvalMetrics; metricsAfter: EvalMetrics };
  /** Detections (over all queries) that were right in the first pass and are gone now. */
  lostTruePositives: number;
  /** False positives (over all queries) that were not there in the first pass. */
  newFalsePositives: number;
  metrics: EvalMetrics;
}

export interface LiveReport {
  framesPerQuery: number;
  fps: number;
  /** Frames from a query's first frame until its first named track, median and worst over named queries. */
  framesToFirstName: { median: number | null; max: number | null };
  /** The same in milliseconds of engine time (the sum of the frames' processing times). */
  msToFirstName: { median: number | null; max: number | null };
}

export interface EvalOptions {
  progress?: Progress;
  /** Measure corrections: fix false positives of half the queries with negative views, then re-run. */
  corrections?: boolean;
  /** Analyse queries exactly as the live pipeline analyses camera frames (a short still sequence through the tracker). */
  live?: boolean;
}

export type Progress = (done: number, total: number, label: string) => void;

const REQUIRED = ['file', 'concept', 'category', 'object_class', 'split', 'concepts_present'] as const;

/** RFC 4180 CSV (quoted fields, doubled quotes, CRLF) — file names may hold commas and spaces. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"' && field.length === 0) quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      if (row.some((f) => f.length > 0)) rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (quoted) throw new FamiliarError('DATASET_INVALID', 'index.csv has an unterminated quoted field');
  row.push(field);
  if (row.some((f) => f.length > 0)) rows.push(row);
  return rows;
}

export function readDataset(dir: string): DatasetRow[] {
  const indexFile = path.join(dir, 'index.csv');
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new FamiliarError('DATASET_INVALID', `${dir} is not a directory`);
  if (!existsSync(indexFile)) throw new FamiliarError('DATASET_INVALID', `${indexFile} is missing`);
  const [header, ...body] = parseCsv(readFileSync(indexFile, 'utf8').replace(/^\uFEFF/, ''));
  if (!header) throw new FamiliarError('DATASET_INVALID', `${indexFile} is empty`);
  const col = Object.fromEntries(REQUIRED.map((name) => [name, header.map((h) => h.trim()).indexOf(name)])) as Record<(typeof REQUIRED)[number], number>;
  const missing = REQUIRED.filter((name) => col[name] < 0);
  if (missing.length) throw new FamiliarError('DATASET_INVALID', `${indexFile} lacks the column(s) ${missing.join(', ')}`);
  return body.map((cells, i) => {
    const get = (name: (typeof REQUIRED)[number]) => (cells[col[name]] ?? '').trim();
    const split = get('split');
    if (split !== 'reference' && split !== 'query') throw new FamiliarError('DATASET_INVALID', `${indexFile} row ${i + 2}: split must be reference or query, got "${split}"`);
    const file = get('file');
    const concept = get('concept');
    const conceptsPresent = get('concepts_present').split(';').map((s) => s.trim()).filter(Boolean);
    if (!file) throw new FamiliarError('DATASET_INVALID', `${indexFile} row ${i + 2}: file is required`);
    // A query with nothing present is a negative image (a stranger, another dog, a room): it needs no concept.
    if (!concept && (split === 'reference' || conceptsPresent.length > 0)) {
      throw new FamiliarError('DATASET_INVALID', `${indexFile} row ${i + 2}: concept is required (only a negative query image, with an empty concepts_present, may leave it empty)`);
    }
    if (path.isAbsolute(file) || file.split(/[\\/]/).includes('..')) throw new FamiliarError('DATASET_INVALID', `${indexFile} row ${i + 2}: file must be a path inside the dataset`);
    return {
      file,
      concept,
      category: get('category'),
      objectClass: get('object_class'),
      split,
      conceptsPresent,
    };
  });
}

export function kindOfCategory(category: string): ConceptKind {
  const c = category.toLowerCase();
  return c === 'person' ? 'person' : c === 'pet' ? 'pet' : 'object';
}

function mean(values: readonly (number | null)[]): number | null {
  const v = values.filter((x): x is number => x !== null);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
}

const pct = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 10);

/** A query of the evaluation: where its image is, and what it is scored against. */
interface Query {
  /** Path of the image. */
  path: string;
  /** As reported: the file, prefixed with its dataset when several are evaluated together. */
  file: string;
  category: string;
  truth: string[];
  /** Its cohort source group: left out of the cohort while it is judged (leave-one-group-out). */
  group: string;
}

/** A dataset folder's rows with concept keys made global: `dataset/concept` when several datasets share a store. */
function loadRows(dirs: readonly string[]): { refs: (DatasetRow & { path: string })[]; queries: Query[] } {
  const prefixed = dirs.length > 1;
  const refs: (DatasetRow & { path: string })[] = [];
  const queries: Query[] = [];
  for (const dir of dirs) {
    const name = path.basename(path.resolve(dir));
    const key = (c: string) => (prefixed ? `${name}/${c}` : c);
    for (const r of readDataset(dir)) {
      const p = path.join(dir, r.file);
      if (r.split === 'reference') refs.push({ ...r, concept: key(r.concept), conceptsPresent: r.conceptsPresent.map(key), path: p });
      else queries.push({ path: p, file: prefixed ? `${name}/${r.file}` : r.file, category: r.category, truth: r.conceptsPresent.map(key), group: `${name}/${sourceGroup(r.file)}` });
    }
  }
  return { refs, queries };
}

/** What the recognition named in one query: concept (global key) → its strongest detection. */
type Detected = Map<string, QueryDetection>;

/**
 * The papers' protocol: enrol every concept from its reference images into a fresh temporary store, run every
 * query image, and score each (query, concept) decision; metrics per concept, then averaged over concepts. Several
 * datasets are enrolled into one store (a household); query images with nothing present are negatives for every
 * concept and are also reported on their own (how many got any name at all).
 */
export async function evaluateDataset(config: ResolvedConfig, dirs: string | readonly string[], options: EvalOptions = {}): Promise<EvalReport> {
  const list = typeof dirs === 'string' ? [dirs] : dirs;
  if (list.length === 0) throw new FamiliarError('INPUT_INVALID', 'at least one dataset is needed');
  const progress = options.progress;
  const t0 = performance.now();
  const { refs, queries } = loadRows(list);
  const conceptIds = [...new Set(refs.map((r) => r.concept))].sort();
  const storeDir = await mkdtemp(path.join(os.tmpdir(), 'familiar-eval-'));
  const core = await FamiliarCore.open(config, storeDir);
  const live = options.live ? new LivePlayer(core) : null;
  const rejected: PhotoRejection[] = [];
  const total = refs.length + queries.length;
  let done = 0;
  try {
    const idToName = new Map<string, string>();
    for (const concept of conceptIds) {
      const own = refs.filter((r) => r.concept === concept);
      try {
        const res = await core.enrol({
          name: concept,
          kind: kindOfCategory(own[0]!.category),
          context: own[0]!.objectClass,
          photos: own.map((r) => ({ file: r.path, origin: r.file })),
        });
        rejected.push(...res.rejected);
        idToName.set(res.concept.id, concept);
      } catch (err) {
        const e = toFamiliarError(err);
        if (e.code !== 'ENROL_NO_VIEWS') throw e;
        rejected.push({ origin: concept, code: e.code, message: e.message });
      }
      done += own.length;
      progress?.(done, total, `enrolled ${concept}`);
    }
    const nameOf = (id: string, fallback: string) => idToName.get(id) ?? fallback;
    const runQueries = async (subset: readonly Query[], label: string, first: boolean): Promise<Map<string, Detected>> => {
      const detected = new Map<string, Detected>();
      let n = 0;
      for (const q of subset) {
        const found: Detected = new Map();
        // An image whose embeddings are in the shipped cohort (a development distractor) is judged without them and
        // without the other photos of its series: the cohort never contains the answer.
        core.recognizer.holdOut(q.group);
        try {
          const matches = live ? await live.play(q.path) : (await core.recognise({ file: q.path, origin: q.file })).matches;
          for (const m of matches) {
            const concept = nameOf(m.conceptId, m.name);
            const prev = found.get(concept);
            if (!prev || m.similarity > prev.similarity) found.set(concept, { concept, space: m.space, similarity: m.similarity, threshold: m.threshold });
          }
        } catch (err) {
          const e = toFamiliarError(err);
          if (e.code === 'INTERNAL') throw e;
          if (first) rejected.push({ origin: q.file, code: e.code, message: e.message });
        }
        core.recognizer.holdOut(null);
        detected.set(q.file, found);
        progress?.(first ? ++done : ++n, first ? total : subset.length, `${label} ${q.file}`);
      }
      return detected;
    };
    const detected = await runQueries(queries, 'queries', true);
    const scored = score(conceptIds, queries, detected);
    const report: EvalReport = {
      dataset: list.map((d) => path.basename(path.resolve(d))).join('+'),
      concepts: conceptIds.length,
      queries: queries.length,
      mode: live ? 'live' : 'photo',
      metrics: scored.metrics,
      perConcept: scored.perConcept,
      negatives: negativeReport(queries, detected),
      perQuery: queries.map((q) => ({ file: q.file, truth: q.truth, detected: [...detected.get(q.file)!.values()] })),
      seconds: 0,
      rejected,
    };
    if (live) report.live = live.report();
    if (options.corrections) report.corrections = await measureCorrections(core, conceptIds, queries, detected, idToName, (subset) => runQueries(subset, 'after corrections', false));
    report.seconds = Math.round((performance.now() - t0) / 100) / 10;
    return report;
  } finally {
    await core.close();
    await rm(storeDir, { recursive: true, force: true });
  }
}

/**
 * Corrections measured on images they were not made on: the queries are split in two alternating halves; every false
 * positive of the first half is answered "that's not X" (a negative view, as `concepts/correct` stores it), then all
 * queries run again. The second half shows whether corrections generalise (and what they cost); the first, whether
 * the corrected mistakes stay fixed.
 */
async function measureCorrections(
  core: FamiliarCore,
  conceptIds: readonly string[],
  queries: readonly Query[],
  before: ReadonlyMap<string, Detected>,
  idToName: ReadonlyMap<string, string>,
  rerun: (subset: readonly Query[]) => Promise<Map<string, Detected>>,
): Promise<CorrectionReport> {
  const corrected = queries.filter((_, i) => i % 2 === 0);
  const heldOut = queries.filter((_, i) => i % 2 === 1);
  const nameToId = new Map([...idToName].map(([id, name]) => [name, id]));
  const falsePositives = (subset: readonly Query[], detected: ReadonlyMap<string, Detected>) =>
    subset.flatMap((q) => [...detected.get(q.file)!.keys()].filter((c) => !q.truth.includes(c)).map((c) => ({ q, c })));
  const toCorrect = falsePositives(corrected, before);
  for (const { q, c } of toCorrect) await core.correct({ concept: nameToId.get(c)!, verdict: 'not', photo: { file: q.path, origin: q.file } });
  const after = await rerun(queries);
  let lost = 0, added = 0;
  for (const q of queries) {
    const was = before.get(q.file)!;
    const now = after.get(q.file)!;
    for (const c of was.keys()) if (q.truth.includes(c) && !now.has(c)) lost++;
    for (const c of now.keys()) if (!q.truth.includes(c) && !was.has(c)) added++;
  }
  return {
    applied: toCorrect.length,
    fixed: toCorrect.filter(({ q, c }) => !after.get(q.file)!.has(c)).length,
    heldOut: {
      queries: heldOut.length,
      falsePositivesBefore: falsePositives(heldOut, before).length,
      falsePositivesAfter: falsePositives(heldOut, after).length,
      metricsBefore: score(conceptIds, heldOut, before).metrics,
      metricsAfter: score(conceptIds, heldOut, after).metrics,
    },
    lostTruePositives: lost,
    newFalsePositives: added,
    metrics: score(conceptIds, queries, after).metrics,
  };
}

function negativeReport(queries: readonly Query[], detected: ReadonlyMap<string, Detected>): NegativeReport | null {
  const negatives = queries.filter((q) => q.truth.length === 0);
  if (negatives.length === 0) return null;
  const byCategory: NegativeReport['byCategory'] = [];
  let falseAcceptImages = 0;
  for (const q of negatives) {
    const named = detected.get(q.file)!.size > 0;
    const category = q.category || 'uncategorised';
    let cat = byCategory.find((c) => c.category === category);
    if (!cat) byCategory.push((cat = { category, images: 0, falseAcceptImages: 0 }));
    cat.images++;
    if (named) {
      cat.falseAcceptImages++;
      falseAcceptImages++;
    }
  }
  return { images: negatives.length, falseAcceptImages, rate: Math.round((1000 * falseAcceptImages) / negatives.length) / 10, byCategory };
}

function score(conceptIds: readonly string[], queries: readonly Query[], detected: ReadonlyMap<string, Detected>): Pick<EvalReport, 'metrics' | 'perConcept'> {
  const perConcept: ConceptMetrics[] = conceptIds.map((concept) => {
    let tp = 0, fp = 0, pos = 0, neg = 0;
    for (const q of queries) {
      const present = q.truth.includes(concept);
      const hit = detected.get(q.file)!.has(concept);
      if (present) {
        pos++;
        if (hit) tp++;
      } else {
        neg++;
        if (hit) fp++;
      }
    }
    return {
      concept,
      precision: pct(tp + fp > 0 ? tp / (tp + fp) : null),
      positive: pct(pos > 0 ? tp / pos : null),
      negative: pct(neg > 0 ? (neg - fp) / neg : null),
    };
  });
  const positive = mean(perConcept.map((c) => c.positive));
  const negative = mean(perConcept.map((c) => c.negative));
  const round1 = (x: number | null) => (x === null ? null : Math.round(x * 10) / 10);
  return {
    metrics: {
      precision: round1(mean(perConcept.map((c) => c.precision))),
      positive: round1(positive),
      negative: round1(negative),
      weighted: positive === null || negative === null ? null : round1((positive + negative) / 2),
    },
    perConcept,
  };
}

/** Seconds of still video each query is played for in live mode. */
const LIVE_SECONDS = 2;

/**
 * Plays an image to the live engine as a short still sequence from its own camera, at the default camera rate,
 * through exactly the code a camera frame goes through (decode, recognition with the live options, tracking and
 * voting, memory). What the scene names — confirmed, named tracks — counts as detected.
 */
class LivePlayer {
  readonly #engine: Engine;
  readonly fps: number;
  readonly frames: number;
  readonly #firstName: { frames: number; ms: number }[] = [];
  #camera = 0;

  constructor(core: FamiliarCore) {
    this.#engine = Engine.over(core);
    this.fps = CameraConfig.shape.fps.parse(undefined);
    this.frames = Math.max(1, Math.round(LIVE_SECONDS * this.fps));
  }

  async play(file: string): Promise<Match[]> {
    const jpeg = new Uint8Array(await readFile(file));
    const cameraId = `eval-${++this.#camera}`;
    const start = Date.now();
    const strongest = new Map<string, Match>();
    const named = new Set<string>();
    let ms = 0;
    let firstName: { frames: number; ms: number } | null = null;
    for (let seq = 1; seq <= this.frames; seq++) {
      const res = await this.#engine.processFrame({ cameraId, room: 'eval', seq, capturedAt: start + Math.round(((seq - 1) * 1000) / this.fps), jpeg });
      ms += res.totalMs;
      for (const m of res.matches) if (m.similarity > (strongest.get(m.conceptId)?.similarity ?? -Infinity)) strongest.set(m.conceptId, m);
      for (const t of res.tracks) if (t.conceptId) named.add(t.conceptId);
      if (!firstName && named.size > 0) firstName = { frames: seq, ms };
    }
    await this.#engine.endCamera(cameraId, start + Math.round((this.frames * 1000) / this.fps));
    if (firstName) this.#firstName.push(firstName);
    // A named track without a match in any frame cannot happen (votes come from matches); the fallback keeps it counted.
    return [...named].map((id) => strongest.get(id) ?? { conceptId: id, name: id, kind: 'object', box: { xmin: 0, ymin: 0, xmax: 0, ymax: 0 }, similarity: 0, threshold: 0, confidence: 0, space: 'object' });
  }

  report(): LiveReport {
    const stat = (xs: number[]) => {
      if (xs.length === 0) return { median: null, max: null };
      const sorted = [...xs].sort((a, b) => a - b);
      return { median: Math.round(sorted[Math.floor(sorted.length / 2)]!), max: Math.round(sorted.at(-1)!) };
    };
    return {
      framesPerQuery: this.frames,
      fps: this.fps,
      framesToFirstName: stat(this.#firstName.map((f) => f.frames)),
      msToFirstName: stat(this.#firstName.map((f) => f.ms)),
    };
  }
}
