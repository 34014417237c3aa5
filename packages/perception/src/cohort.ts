import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { FamiliarError, normalise, type EmbeddingSpace } from '@familiar/contracts';

/**
 * The world the household is told apart from: embeddings of things nobody enrolled (strangers' faces, other
 * people's dogs, household objects, rooms), computed by the same analysis as camera frames and shipped as derived
 * data — never the photos. Score normalisation against such a cohort is the standard tool of face and speaker
 * verification: a concept's threshold is set above the most similar unrelated thing (impostor scores), and a region
 * is named only if it is closer to the concept than to anything in the cohort.
 *
 * Each entry remembers its source group (the photo, or the series of photos of one subject — `NAME_0001`,
 * `scene_frame-000135` — it came from), so an evaluation can leave a query's own group out and measure the rule on
 * images the cohort has not seen.
 */
export interface CohortSpace {
  space: EmbeddingSpace;
  /** sha256 of the embedder model the vectors were computed with: a cohort is only valid for that model. */
  model: string;
  dim: number;
  /** count × dim, each row unit length. */
  vectors: Float32Array;
  /** Per entry, its index in {@link Cohort.groups}. */
  groups: Uint32Array;
}

/** One impostor score of a concept: a cohort entry's best similarity to the concept's views. */
export interface ImpostorScore {
  similarity: number;
  group: number;
}

const MAGIC = 'FAMILIAR-COHORT 1\n';

interface Header {
  groups: string[];
  spaces: { space: EmbeddingSpace; model: string; dim: number; count: number }[];
}

export class Cohort {
  readonly groups: readonly string[];
  readonly #spaces: Map<EmbeddingSpace, CohortSpace>;
  readonly #groupIds: Map<string, number>;
  /** Query-side scores by vector identity: live frames reuse embeddings of still regions, so each is scored once. */
  readonly #nearestCache = new WeakMap<Float32Array, { exclude: number; value: number }>();

  constructor(groups: readonly string[], spaces: readonly CohortSpace[]) {
    this.groups = groups;
    this.#spaces = new Map(spaces.map((s) => [s.space, s]));
    this.#groupIds = new Map(groups.map((g, i) => [g, i]));
  }

  space(space: EmbeddingSpace): CohortSpace | undefined {
    return this.#spaces.get(space);
  }

  get spaces(): readonly CohortSpace[] {
    return [...this.#spaces.values()];
  }

  /** The group id of a source group name, or -1 when the cohort holds nothing of it. */
  groupId(name: string): number {
    return this.#groupIds.get(name) ?? -1;
  }

  /** Highest similarity of `v` to any entry of the space, leaving out one group (-1: none); -1 without entries. */
  nearest(space: EmbeddingSpace, v: Float32Array, excludeGroup = -1): number {
    const s = this.#spaces.get(space);
    if (!s || s.dim !== v.length) return -1;
    const cached = this.#nearestCache.get(v);
    if (cached && cached.exclude === excludeGroup) return cached.value;
    const { vectors, groups, dim } = s;
    let best = -1;
    for (let i = 0, o = 0; i < groups.length; i++, o += dim) {
      if (groups[i] === excludeGroup) continue;
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += vectors[o + d]! * v[d]!;
      if (dot > best) best = dot;
    }
    this.#nearestCache.set(v, { exclude: excludeGroup, value: best });
    return best;
  }

  /**
   * A concept's impostor scores in one space: per cohort entry, its best similarity to any of the views; the
   * `keep` highest, strongest first, so the highest outside any one group can be read off.
   */
  impostors(space: EmbeddingSpace, views: readonly Float32Array[], keep = 16): ImpostorScore[] {
    const s = this.#spaces.get(space);
    if (!s || views.length === 0) return [];
    const { vectors, groups, dim } = s;
    const scores: ImpostorScore[] = [];
    for (let i = 0, o = 0; i < groups.length; i++, o += dim) {
      let best = -1;
      for (const v of views) {
        if (v.length !== dim) continue;
        let dot = 0;
        for (let d = 0; d < dim; d++) dot += vectors[o + d]! * v[d]!;
        if (dot > best) best = dot;
      }
      scores.push({ similarity: best, group: groups[i]! });
    }
    // Keep the best entry per group first, so the list answers "highest outside group g" for every g.
    scores.sort((a, b) => b.similarity - a.similarity);
    const seen = new Set<number>();
    const out: ImpostorScore[] = [];
    for (const sc of scores) {
      if (seen.has(sc.group)) continue;
      seen.add(sc.group);
      out.push(sc);
      if (out.length >= keep) break;
    }
    return out;
  }

  /** Reads a cohort file written by {@link Cohort.save}. */
  static load(file: string): Cohort {
    let buf: Buffer;
    try {
      buf = readFileSync(file);
    } catch (err) {
      throw new FamiliarError('CONFIG_INVALID', `the cohort file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}): rebuild it with \`familiar cohort build\` or remove the manifest's cohort entry`);
    }
    const corrupt = (why: string) => new FamiliarError('CONFIG_INVALID', `the cohort file ${file} is corrupt (${why}): rebuild it with \`familiar cohort build\``);
    if (buf.subarray(0, MAGIC.length).toString('latin1') !== MAGIC) throw corrupt('no cohort header');
    const nl = buf.indexOf(0x0a, MAGIC.length);
    if (nl < 0) throw corrupt('truncated header');
    let header: Header;
    try {
      header = JSON.parse(buf.subarray(MAGIC.length, nl).toString('utf8')) as Header;
    } catch {
      throw corrupt('unreadable header');
    }
    if (!Array.isArray(header.groups) || !Array.isArray(header.spaces)) throw corrupt('unexpected header');
    let at = nl + 1;
    const spaces: CohortSpace[] = [];
    for (const h of header.spaces) {
      const { count, dim } = h;
      if (!Number.isInteger(count) || !Number.isInteger(dim) || count < 0 || dim <= 0) throw corrupt('bad sizes');
      const need = count * dim + count * 4 + count * 4;
      if (at + need > buf.length) throw corrupt('truncated data');
      const codes = new Int8Array(buf.buffer.slice(buf.byteOffset + at, buf.byteOffset + at + count * dim));
      at += count * dim;
      const vectors = new Float32Array(count * dim);
      const groups = new Uint32Array(count);
      for (let i = 0; i < count; i++) {
        const scale = buf.readFloatLE(at + i * 4);
        for (let d = 0; d < dim; d++) vectors[i * dim + d] = codes[i * dim + d]! * scale;
        normalise(vectors.subarray(i * dim, (i + 1) * dim));
      }
      at += count * 4;
      for (let i = 0; i < count; i++) {
        const g = buf.readUInt32LE(at + i * 4);
        if (g >= header.groups.length) throw corrupt('group out of range');
        groups[i] = g;
      }
      at += count * 4;
      spaces.push({ space: h.space, model: h.model, dim, vectors, groups });
    }
    if (at !== buf.length) throw corrupt('trailing bytes');
    return new Cohort(header.groups, spaces);
  }

  /** Writes the cohort, each vector quantised to 8 bits with its own scale (cosine error well under 0.01). */
  async save(file: string): Promise<void> {
    const header: Header = { groups: [...this.groups], spaces: this.spaces.map((s) => ({ space: s.space, model: s.model, dim: s.dim, count: s.groups.length })) };
    const parts: Buffer[] = [Buffer.from(MAGIC, 'latin1'), Buffer.from(JSON.stringify(header) + '\n', 'utf8')];
    for (const s of this.spaces) {
      const count = s.groups.length;
      const codes = Buffer.alloc(count * s.dim);
      const scales = Buffer.alloc(count * 4);
      const groups = Buffer.alloc(count * 4);
      for (let i = 0; i < count; i++) {
        let max = 0;
        for (let d = 0; d < s.dim; d++) max = Math.max(max, Math.abs(s.vectors[i * s.dim + d]!));
        const scale = max > 0 ? max / 127 : 1;
        for (let d = 0; d < s.dim; d++) codes.writeInt8(Math.round(s.vectors[i * s.dim + d]! / scale), i * s.dim + d);
        scales.writeFloatLE(scale, i * 4);
        groups.writeUInt32LE(s.groups[i]!, i * 4);
      }
      parts.push(codes, scales, groups);
    }
    await writeFile(file, Buffer.concat(parts));
  }
}

/**
 * The source group of a photo: its path without the extension and without a trailing frame or sequence number, so
 * `lfw/Aaron_Sorkin_0001.jpg` and `lfw/Aaron_Sorkin_0002.jpg` (one person) or two frames of one ScanNet room are
 * one group; a name that is only a number (`000000000077.jpg`) is its own group.
 */
export function sourceGroup(file: string): string {
  const stem = file.replace(/\\/g, '/').replace(/\.[^./]+$/, '');
  const base = stem.slice(stem.lastIndexOf('/') + 1);
  const trimmed = base.replace(/[_-]?(?:frame-)?\d+$/, '');
  return trimmed ? stem.slice(0, stem.length - base.length) + trimmed : stem;
}
