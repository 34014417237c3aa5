import { randomUUID } from 'node:crypto';
import {
  CONCEPT_CONTEXT_MAX,
  CONCEPT_KINDS,
  CONCEPT_NAME_MAX,
  FamiliarError,
  roundBox,
  scaleBox,
  toFamiliarError,
  type Box,
  type Concept,
  type ConceptKind,
  type ConceptSummary,
  type ConceptView,
  type EmbeddingSpace,
  type ErrorCode,
  type Logger,
  type RgbImage,
} from '@familiar/contracts';
import path from 'node:path';
import { loadModelsManifest, type ResolvedConfig } from '@familiar/config';
import { decodeImage, encodeJpeg, readImageFile, type DecodedImage } from '@familiar/image';
import { Memory, type ConceptStore, type NewConceptView } from '@familiar/memory';
import { assertViews, Cohort, contextCrop, downscale, Recognizer, type AnalyseOptions, type DetailedRecognition } from '@familiar/perception';
import { loadVisionModels, type VisionModels } from '@familiar/vision';

/** One enrolment photo: encoded bytes or a file path, with a label for messages. */
export type PhotoInput = { bytes: Uint8Array; origin: string } | { file: string; origin?: string };

/** What {@link FamiliarCore.enrol} takes (the dialogue service's EnrolRequest becomes one of these in the runtime). */
export interface EnrolInput {
  name: string;
  kind: ConceptKind;
  context?: string;
  photos: readonly PhotoInput[];
}

export interface PhotoRejection {
  origin: string;
  code: ErrorCode;
  message: string;
}

export interface EnrolResult {
  concept: ConceptSummary;
  rejected: PhotoRejection[];
}

/** A recognition with boxes scaled back to the original image's pixels. */
export interface ImageRecognition extends DetailedRecognition {
  /** The analysed (possibly shrunk) image, e.g. for overlays. */
  image: RgbImage;
  /** original pixels = analysed pixels × scale */
  scale: number;
}

/** Where a concept was found in an enrolment photo. */
interface FoundRegion {
  image: RgbImage;
  box: Box;
}

/** Longest side of a concept's thumbnail, pixels. */
const THUMBNAIL_SIDE = 160;

/** The found region with a little context, at most THUMBNAIL_SIDE on its longest side, as JPEG. */
async function thumbnailOf(image: RgbImage, box: Box): Promise<Uint8Array> {
  return encodeJpeg(await downscale(contextCrop(image, box, 0.15), THUMBNAIL_SIDE), 80);
}

/**
 * The recognition core wired together: models, the persistent concept store and the recogniser. The CLI, the
 * evaluation and the live runtime all go through this one object.
 */
export class FamiliarCore {
  readonly config: ResolvedConfig;
  readonly models: VisionModels;
  /** Everything remembered: concepts, sightings, notes, triggers, preferences, unknown visitors. */
  readonly memory: Memory;
  readonly recognizer: Recognizer;

  private constructor(config: ResolvedConfig, models: VisionModels, memory: Memory, cohort: Cohort | null) {
    this.config = config;
    this.models = models;
    this.memory = memory;
    this.recognizer = new Recognizer(models, memory.concepts, config.recognition, { cohort });
  }

  get store(): ConceptStore {
    return this.memory.concepts;
  }

  /**
   * Loads the models and opens the store (taking its lock, unless `readOnly`: a read-only core can list and
   * recognise beside a running runtime but changes nothing).
   */
  static async open(config: ResolvedConfig, storeDir = config.paths.storeDir, options: { readOnly?: boolean; cohort?: boolean; log?: Logger } = {}): Promise<FamiliarCore> {
    const cohort = options.cohort === false ? null : loadCohort(config);
    const models = await loadVisionModels(config);
    try {
      const { hnswAbove, hnswM, hnswEfConstruction, hnswEfSearch } = config.store;
      const memory = await Memory.open(storeDir, {
        config: config.memory,
        concepts: { hnswAbove, hnswM, hnswEfConstruction, hnswEfSearch },
        ...(options.readOnly && { readOnly: true }),
        keepThumbnails: !config.store.embeddingsOnly,
        ...(options.log && { log: options.log }),
      });
      const core = new FamiliarCore(config, models, memory, cohort);
      // Thresholds depend on the cohort too: a rebuilt or newly shipped cohort moves them, so every concept is
      // recalibrated at start (one index search per view; stores only what changed).
      if (!options.readOnly && cohort) await core.recalibrate(new Set(['face', 'object', 'body']));
      return core;
    } catch (err) {
      await models.release();
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.memory.close();
    await this.models.release();
  }

  async decode(photo: PhotoInput): Promise<DecodedImage> {
    const options = { limits: this.config.limits, maxSide: this.config.recognition.analysisMaxSide };
    return 'bytes' in photo ? decodeImage(photo.bytes, options) : readImageFile(photo.file, options);
  }

  list(): ConceptSummary[] {
    return this.store.list().map(summarise);
  }

  /** Finds a concept by id, or by name (case-insensitive). */
  resolve(idOrName: string): Concept {
    const c = this.store.has(idOrName) ? this.store.get(idOrName) : this.store.findByName(idOrName);
    if (!c) throw new FamiliarError('CONCEPT_NOT_FOUND', `no enrolled concept is called or has the id "${idOrName}"`);
    return c;
  }

  /**
   * Enrols a concept from photos. Photos that cannot be used are reported, not fatal, as long as one gives a view.
   * The concept is durable when this resolves; thresholds of every concept sharing a space are recalibrated.
   */
  async enrol(req: EnrolInput): Promise<EnrolResult> {
    const name = validateName(req.name);
    if (!CONCEPT_KINDS.includes(req.kind)) throw new FamiliarError('INPUT_INVALID', `kind must be one of ${CONCEPT_KINDS.join(', ')}`);
    const context = validateContext(req.context ?? '');
    if (req.photos.length === 0) throw new FamiliarError('INPUT_INVALID', 'at least one photo is needed');
    if (req.photos.length > this.config.limits.maxPhotosPerEnrol) {
      throw new FamiliarError('INPUT_INVALID', `at most ${this.config.limits.maxPhotosPerEnrol} photos per enrolment`);
    }
    if (this.store.findByName(name, req.kind)) throw new FamiliarError('CONCEPT_EXISTS', `a ${req.kind} called "${name}" is already enrolled`);
    const { views, rejected, first } = await this.#views(req.photos, req.kind);
    // No photo could even be read (not an image, too large, missing): say that, not "no face found".
    const unread = rejected[0];
    if (views.length === 0 && unread && rejected.every((r) => r.code !== 'ENROL_NO_VIEWS')) {
      throw new FamiliarError(unread.code, rejected.length === 1 ? unread.message : rejected.map((r) => `${r.origin}: ${r.message}`).join('; '), { details: { rejected } });
    }
    assertViews(views, req.photos.length);
    const concept = await this.enrolViews({ name, kind: req.kind, context, views });
    if (first && this.memory.thumbnails.keep) {
      // Cosmetic: a concept without its thumbnail is still fully enrolled, so a failed write must not undo it.
      await this.memory.thumbnails.put(concept.id, await thumbnailOf(first.image, first.box)).catch(() => undefined);
    }
    return { concept, rejected };
  }

  /** Enrols a concept from views already computed (a named unknown visitor's faces, say). */
  async enrolViews(req: { name: string; kind: ConceptKind; context: string; views: readonly NewConceptView[] }): Promise<ConceptSummary> {
    const name = validateName(req.name);
    const context = validateContext(req.context);
    if (this.store.findByName(name, req.kind)) throw new FamiliarError('CONCEPT_EXISTS', `a ${req.kind} called "${name}" is already enrolled`);
    const now = Date.now();
    const views: ConceptView[] = req.views.map((v) => ({ id: v.id ?? randomUUID(), space: v.space, vector: v.vector, origin: v.origin, addedAt: v.addedAt ?? now }));
    assertViews(views, views.length);
    const concept: Concept = { id: randomUUID(), name, kind: req.kind, context, createdAt: now, updatedAt: now, views, thresholds: {} };
    concept.thresholds = await this.recognizer.calibrate(concept);
    await this.store.add(concept);
    await this.recalibrate(spacesOf(views), concept.id);
    return summarise(this.store.get(concept.id)!);
  }

  /**
   * A correction from a household member: "this is Billy" (`is`) or "that's not Billy" (`not`) about a photo or
   * frame, optionally only the region in `box` (original pixels). Stored as positive or negative views of the
   * concept; thresholds are recalibrated. Returns how many views were added.
   */
  async correct(req: { concept: string; verdict: 'is' | 'not'; photo: PhotoInput; box?: Box | null }): Promise<{ concept: ConceptSummary; views: number }> {
    const concept = this.resolve(req.concept);
    const decoded = await this.decode(req.photo);
    const s = decoded.scale;
    const box = req.box ? scaleBox(req.box, 1 / s) : null;
    const origin = 'bytes' in req.photo ? req.photo.origin : (req.photo.origin ?? req.photo.file);
    const views = await this.recognizer.correctionViews(decoded.image, { conceptId: concept.id, kind: concept.kind }, box, req.verdict === 'not', origin);
    if (views.length === 0) {
      throw new FamiliarError(
        'ENROL_NO_VIEWS',
        req.verdict === 'not' ? `"${concept.name}" is not recognised in this image${req.box ? ' at that box' : ''}: nothing to correct` : `no ${concept.kind === 'person' ? 'face' : 'object'} found at that box`,
      );
    }
    await this.store.update(concept.id, { addViews: views });
    await this.recalibrate(spacesOf(views));
    return { concept: summarise(this.store.get(concept.id)!), views: views.length };
  }

  async #views(photos: readonly PhotoInput[], kind: ConceptKind): Promise<{ views: ConceptView[]; rejected: PhotoRejection[]; first: FoundRegion | null }> {
    const views: ConceptView[] = [];
    const rejected: PhotoRejection[] = [];
    let first: FoundRegion | null = null;
    for (const photo of photos) {
      const origin = 'bytes' in photo ? photo.origin : (photo.origin ?? photo.file);
      try {
        const { image } = await this.decode(photo);
        const { views: found, box } = await this.recognizer.enrolment(image, kind, origin);
        if (box && found.length > 0) first ??= { image, box };
        if (found.length === 0) {
          rejected.push({ origin, code: 'ENROL_NO_VIEWS', message: kind === 'person' ? 'no face found' : 'no object found' });
        }
        views.push(...found);
      } catch (err) {
        const e = toFamiliarError(err);
        if (e.code === 'INTERNAL') throw e;
        rejected.push({ origin, code: e.code, message: e.message });
      }
    }
    return { views, rejected, first };
  }

  async update(idOrName: string, patch: { name?: string; context?: string }): Promise<ConceptSummary> {
    const concept = this.resolve(idOrName);
    const name = patch.name === undefined ? undefined : validateName(patch.name);
    if (name !== undefined) {
      const other = this.store.findByName(name, concept.kind);
      if (other && other.id !== concept.id) throw new FamiliarError('CONCEPT_EXISTS', `a ${concept.kind} called "${name}" is already enrolled`);
    }
    const context = patch.context === undefined ? undefined : validateContext(patch.context);
    return summarise(await this.store.update(concept.id, { ...(name !== undefined && { name }), ...(context !== undefined && { context }) }));
  }

  /**
   * Erases every trace of a concept — views, thresholds, sightings, notes, triggers, preferences — in memory and on
   * disk; the remaining concepts' thresholds are recalibrated.
   */
  async forget(idOrName: string): Promise<ConceptSummary> {
    const concept = this.resolve(idOrName);
    await this.memory.forgetConcept(concept.id);
    await this.recalibrate(spacesOf(concept.views));
    return summarise(concept);
  }

  /**
   * Recalibrates the thresholds of every concept with views in `spaces` (a new or removed neighbour moves them).
   * Cheap at household scale: one index search per view.
   */
  async recalibrate(spaces: ReadonlySet<EmbeddingSpace>, skip?: string): Promise<void> {
    for (const c of this.store.list()) {
      if (c.id === skip || !c.views.some((v) => spaces.has(v.space))) continue;
      const thresholds = await this.recognizer.calibrate(c);
      if (JSON.stringify(thresholds) !== JSON.stringify(c.thresholds)) await this.store.update(c.id, { thresholds });
    }
  }

  /** Recognises an encoded image or image file. */
  async recognise(photo: PhotoInput, options: AnalyseOptions = {}): Promise<ImageRecognition> {
    const t0 = performance.now();
    const decoded = await this.decode(photo);
    const decodeMs = performance.now() - t0;
    const rec = await this.recognizer.recognise(decoded.image, options);
    const s = decoded.scale;
    return {
      ...rec,
      width: decoded.originalWidth,
      height: decoded.originalHeight,
      matches: rec.matches.map((m) => ({ ...m, box: roundBox(scaleBox(m.box, s)) })),
      unknownFaces: rec.unknownFaces.map((f) => ({ ...f, box: roundBox(scaleBox(f.box, s)) })),
      timings: { decode: decodeMs, ...rec.timings },
      image: decoded.image,
      scale: s,
    };
  }
}

/**
 * The cohort named by the models manifest, checked against the embedders it was built with (a cohort computed with
 * another model would calibrate nonsense); null when the manifest names none.
 */
function loadCohort(config: ResolvedConfig): Cohort | null {
  const manifest = loadModelsManifest(config.paths.modelsManifest);
  if (!manifest.cohort) return null;
  const file = path.resolve(path.dirname(config.paths.modelsManifest), manifest.cohort);
  const cohort = Cohort.load(file);
  const embedders = { face: manifest.models.faceEmbedder, object: manifest.models.objectEmbedder, body: manifest.models.bodyEmbedder };
  for (const s of cohort.spaces) {
    const entry = embedders[s.space];
    if (entry && entry.sha256 !== s.model) {
      throw new FamiliarError('CONFIG_INVALID', `the cohort ${manifest.cohort} was built with another ${s.space} embedder than ${entry.file}: rebuild it with \`familiar cohort build\` or remove the manifest's cohort entry`);
    }
  }
  return cohort;
}

function summarise(c: Concept): ConceptSummary {
  return {
    id: c.id,
    name: c.name,
    kind: c.kind,
    context: c.context,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
    viewCount: c.views.filter((v) => !v.negative).length,
    thresholds: c.thresholds,
  };
}

function spacesOf(views: readonly ConceptView[]): Set<EmbeddingSpace> {
  return new Set(views.map((v) => v.space));
}

// Control characters would corrupt labels, logs and prompts.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

function validateName(raw: string): string {
  if (typeof raw !== 'string') throw new FamiliarError('INPUT_INVALID', 'name must be a string');
  const name = raw.normalize('NFC').trim();
  if (name.length === 0) throw new FamiliarError('INPUT_INVALID', 'name must not be empty');
  if (name.length > CONCEPT_NAME_MAX) throw new FamiliarError('INPUT_INVALID', `name is longer than ${CONCEPT_NAME_MAX} characters`);
  if (CONTROL.test(name)) throw new FamiliarError('INPUT_INVALID', 'name must not contain control characters');
  return name;
}

function validateContext(raw: string): string {
  if (typeof raw !== 'string') throw new FamiliarError('INPUT_INVALID', 'context must be a string');
  const context = raw.normalize('NFC').trim();
  if (context.length > CONCEPT_CONTEXT_MAX) throw new FamiliarError('INPUT_INVALID', `context is longer than ${CONCEPT_CONTEXT_MAX} characters`);
  // Newlines and tabs are fine in free text; other control characters are not.
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(context)) throw new FamiliarError('INPUT_INVALID', 'context must not contain control characters');
  return context;
}
