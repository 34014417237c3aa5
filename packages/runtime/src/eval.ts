import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FamiliarError, type ConceptKind } from '@familiar/contracts';
import type { ResolvedConfig } from '@familiar/config';
import { FamiliarCore, type PhotoRejection } from './core.ts';

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

export interface EvalReport {
  dataset: string;
  concepts: number;
  queries: number;
  metrics: { precision: number | null; positive: number | null; negative: number | null; weighted: number | null };
  perConcept: ConceptMetrics[];
  seconds: number;
  /** Reference photos that gave no view, and query images that could not be read. */
  rejected: PhotoRejection[];
  /** With `corrections`: every false positive answered with "that's not X", then all queries run again. */
  corrections?: CorrectionReport;
}

export interface CorrectionReport {
  /** "That's not X" corrections applied (one per false positive of the first pass). */
  applied: number;
  /** Of those, how many no longer happen. */
  fixed: number;
  /** Detections that were right in the first pass and are gone now. */
  lostTruePositives: number;
  /** False positives that were not there in the first pass. */
  newFalsePositives: number;
  metrics: EvalReport['metrics'];
}

export interface EvalOptions {
  progress?: Progress;
  /** Measure corrections: fix every false positive with a negative view and run the queries again. */
  corrections?: boolean;
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
    if (!file || !concept) throw new FamiliarError('DATASET_INVALID', `${indexFile} row ${i + 2}: file and concept are required`);
    if (path.isAbsolute(file) || file.split(/[\\/]/).includes('..')) throw new FamiliarError('DATASET_INVALID', `${indexFile} row ${i + 2}: file must be a path inside the dataset`);
    return {
      file,
      concept,
      category: get('category'),
      objectClass: get('object_class'),
      split,
      conceptsPresent: get('concepts_present').split(';').map((s) => s.trim()).filter(Boolean),
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

/**
 * The papers' protocol: enrol every concept from its reference images into a fresh temporary store, run every
 * query image, and score each (query, concept) decision; metrics per concept, then averaged over concepts.
 */
export async function evaluateDataset(config: ResolvedConfig, dir: string, options: EvalOptions = {}): Promise<EvalReport> {
  const progress = options.progress;
  const t0 = performance.now();
  const rows = readDataset(dir);
  const refs = rows.filter((r) => r.split === 'reference');
  const queries = rows.filter((r) => r.split === 'query');
  const conceptIds = [...new Set(refs.map((r) => r.concept))].sort();
  const storeDir = await mkdtemp(path.join(os.tmpdir(), 'familiar-eval-'));
  const core = await FamiliarCore.open(config, storeDir);
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
          photos: own.map((r) => ({ file: path.join(dir, r.file), origin: r.file })),
        });
        rejected.push(...res.rejected);
        idToName.set(res.concept.id, concept);
      } catch (err) {
        const e = err instanceof FamiliarError ? err : new FamiliarError('INTERNAL', String(err));
        if (e.code !== 'ENROL_NO_VIEWS') throw e;
        rejected.push({ origin: concept, code: e.code, message: e.message });
      }
      done += own.length;
      progress?.(done, total, `enrolled ${concept}`);
    }
    const runQueries = async (label: string): Promise<Map<string, Set<string>>> => {
      const detected = new Map<string, Set<string>>();
      let n = 0;
      for (const q of queries) {
        try {
          const rec = await core.recognise({ file: path.join(dir, q.file), origin: q.file });
          detected.set(q.file, new Set(rec.matches.map((m) => idToName.get(m.conceptId) ?? m.name)));
        } catch (err) {
          const e = err instanceof FamiliarError ? err : new FamiliarError('INTERNAL', String(err));
          if (e.code === 'INTERNAL') throw e;
          if (label === 'queries') rejected.push({ origin: q.file, code: e.code, message: e.message });
          detected.set(q.file, new Set());
        }
        progress?.(label === 'queries' ? ++done : ++n, label === 'queries' ? total : queries.length, `${label} ${q.file}`);
      }
      return detected;
    };
    const detected = await runQueries('queries');
    const scored = score(conceptIds, queries, detected);
    const report: EvalReport = {
      dataset: path.basename(path.resolve(dir)),
      concepts: conceptIds.length,
      queries: queries.length,
      metrics: scored.metrics,
      perConcept: scored.perConcept,
      seconds: 0,
      rejected,
    };
    if (options.corrections) {
      const nameToId = new Map([...idToName].map(([id, name]) => [name, id]));
      const falsePositives = queries.flatMap((q) => [...detected.get(q.file)!].filter((c) => !q.conceptsPresent.includes(c)).map((c) => ({ q, c })));
      for (const { q, c } of falsePositives) {
        await core.correct({ concept: nameToId.get(c)!, verdict: 'not', photo: { file: path.join(dir, q.file), origin: q.file } });
      }
      const after = await runQueries('after corrections');
      let fixed = 0, lost = 0, added = 0;
      for (const { q, c } of falsePositives) if (!after.get(q.file)!.has(c)) fixed++;
      for (const q of queries) {
        for (const c of detected.get(q.file)!) if (q.conceptsPresent.includes(c) && !after.get(q.file)!.has(c)) lost++;
        for (const c of after.get(q.file)!) if (!q.conceptsPresent.includes(c) && !detected.get(q.file)!.has(c)) added++;
      }
      report.corrections = { applied: falsePositives.length, fixed, lostTruePositives: lost, newFalsePositives: added, metrics: score(conceptIds, queries, after).metrics };
    }
    report.seconds = Math.round((performance.now() - t0) / 100) / 10;
    return report;
  } finally {
    await core.close();
    await rm(storeDir, { recursive: true, force: true });
  }
}

function score(conceptIds: readonly string[], queries: readonly DatasetRow[], detected: ReadonlyMap<string, ReadonlySet<string>>): Pick<EvalReport, 'metrics' | 'perConcept'> {
  const perConcept: ConceptMetrics[] = conceptIds.map((concept) => {
    let tp = 0, fp = 0, pos = 0, neg = 0;
    for (const q of queries) {
      const present = q.conceptsPresent.includes(concept);
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
