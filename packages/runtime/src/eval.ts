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
}

export type Progress = (done: number, total: number, label: string) => void;

const REQUIRED = ['file', 'concept', 'category', 'object_class', 'split', 'concepts_present'] as const;

/** RFC 4180 CSV (quoted fields, doubled quotes, CRLF) — file names may hold commas and spaces. */
export function parseCsv(text: string): string[][] {
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
export async function evaluateDataset(config: ResolvedConfig, dir: string, progress?: Progress): Promise<EvalReport> {
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
    const detected = new Map<string, Set<string>>();
    for (const q of queries) {
      try {
        const rec = await core.recognise({ file: path.join(dir, q.file), origin: q.file });
        detected.set(q.file, new Set(rec.matches.map((m) => idToName.get(m.conceptId) ?? m.name)));
      } catch (err) {
        const e = err instanceof FamiliarError ? err : new FamiliarError('INTERNAL', String(err));
        if (e.code === 'INTERNAL') throw e;
        rejected.push({ origin: q.file, code: e.code, message: e.message });
        detected.set(q.file, new Set());
      }
      progress?.(++done, total, q.file);
    }
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
      dataset: path.basename(path.resolve(dir)),
      concepts: conceptIds.length,
      queries: queries.length,
      metrics: {
        precision: round1(mean(perConcept.map((c) => c.precision))),
        positive: round1(positive),
        negative: round1(negative),
        weighted: positive === null || negative === null ? null : round1((positive + negative) / 2),
      },
      perConcept,
      seconds: Math.round((performance.now() - t0) / 100) / 10,
      rejected,
    };
  } finally {
    await core.close();
    await rm(storeDir, { recursive: true, force: true });
  }
}
