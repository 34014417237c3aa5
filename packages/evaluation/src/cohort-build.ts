import { rm } from 'node:fs/promises';
import path from 'node:path';
import { dot, FamiliarError, toFamiliarError, type EmbeddingSpace } from '@familiar/contracts';
import { loadModelsManifest, type ResolvedConfig } from '@familiar/config';
import { Cohort, sourceGroup, type CohortSpace } from '@familiar/perception';
import { FamiliarCore } from '@familiar/runtime';
import { readDataset, type Progress } from './eval.ts';

/** Two regions of one photo this similar are one entry (the salient object and the proposal that covers it, say). */
const SAME_REGION = 0.98;

export interface CohortBuildReport {
  file: string;
  images: number;
  entries: Record<string, number>;
  rejected: { file: string; code: string }[];
}

/**
 * Builds a cohort from the negative images of index.csv folders (rows whose concepts_present is empty): every region
 * the recogniser finds in them, analysed both as a photo (with the salient mask) and as a live frame (without it),
 * so the cohort holds both kinds of crops the matcher sees. Only embeddings are written — never pixels.
 */
export async function buildCohort(config: ResolvedConfig, dirs: readonly string[], out: string, progress?: Progress): Promise<CohortBuildReport> {
  const rows = dirs.flatMap((dir) => {
    const name = path.basename(path.resolve(dir));
    return readDataset(dir)
      .filter((r) => r.split === 'query' && r.conceptsPresent.length === 0)
      .map((r) => ({ path: path.join(dir, r.file), group: `${name}/${sourceGroup(r.file)}` }));
  });
  if (rows.length === 0) throw new FamiliarError('DATASET_INVALID', 'no negative images (query rows with an empty concepts_present) in the given datasets');
  const manifest = loadModelsManifest(config.paths.modelsManifest);
  const models: Record<EmbeddingSpace, string | undefined> = {
    face: manifest.models.faceEmbedder.sha256,
    object: manifest.models.objectEmbedder.sha256,
    body: manifest.models.bodyEmbedder?.sha256,
  };
  const groups: string[] = [];
  const groupIds = new Map<string, number>();
  const bySpace = new Map<EmbeddingSpace, { vectors: Float32Array[]; groups: number[] }>();
  const rejected: CohortBuildReport['rejected'] = [];
  // A throw-away store: building a cohort enrols nothing and must not calibrate against an old one.
  const scratch = path.join(path.dirname(out), `.cohort-build-${process.pid}`);
  const core = await FamiliarCore.open(config, scratch, { cohort: false });
  try {
    let done = 0;
    for (const row of rows) {
      try {
        const { image } = await core.decode({ file: row.path });
        const regions = [...(await core.recognizer.analyse(image)), ...(await core.recognizer.analyse(image, {}, { salient: false }))];
        let g = groupIds.get(row.group);
        if (g === undefined) groupIds.set(row.group, (g = groups.push(row.group) - 1));
        const mine: { space: EmbeddingSpace; vector: Float32Array }[] = [];
        for (const r of regions) {
          if (mine.some((m) => m.space === r.space && dot(m.vector, r.vector) >= SAME_REGION)) continue;
          mine.push({ space: r.space, vector: r.vector });
          const list = bySpace.get(r.space) ?? { vectors: [], groups: [] };
          bySpace.set(r.space, list);
          list.vectors.push(r.vector);
          list.groups.push(g);
        }
      } catch (err) {
        const e = toFamiliarError(err);
        if (e.code === 'INTERNAL') throw e;
        rejected.push({ file: row.path, code: e.code });
      }
      progress?.(++done, rows.length, row.path);
    }
  } finally {
    await core.close();
    await rm(scratch, { recursive: true, force: true });
  }
  const spaces: CohortSpace[] = [];
  for (const [space, list] of bySpace) {
    const model = models[space];
    if (!model || list.vectors.length === 0) continue;
    const dim = list.vectors[0]!.length;
    const vectors = new Float32Array(list.vectors.length * dim);
    list.vectors.forEach((v, i) => vectors.set(v, i * dim));
    spaces.push({ space, model, dim, vectors, groups: Uint32Array.from(list.groups) });
  }
  await new Cohort(groups, spaces).save(out);
  return { file: out, images: rows.length - rejected.length, entries: Object.fromEntries(spaces.map((s) => [s.space, s.groups.length])), rejected };
}

