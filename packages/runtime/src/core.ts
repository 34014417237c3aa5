import {
  conceptSummary,
  FamiliarError,
  roundBox,
  scaleBox,
  validConceptContext,
  validConceptName,
  type Box,
  type Concept,
  type ConceptKind,
  type ConceptSummary,
  type EmbeddingSpace,
  type Logger,
  type NewConceptView,
  type RgbImage,
} from '@familiar/contracts';
import path from 'node:path';
import { loadModelsManifest, type ResolvedConfig } from '@familiar/config';
import { decodeImage, readImageFile, type DecodedImage } from '@familiar/image';
import { Memory, type ConceptStore } from '@familiar/memory';
import { Cohort, Enrolment, Recognizer, spacesOf, type AnalyseOptions, type DetailedRecognition, type EnrolmentPhoto, type EnrolmentRequest, type EnrolmentResult } from '@familiar/perception';
import { loadVisionModels, type VisionModels } from '@familiar/vision';

/** One enrolment photo: encoded bytes or a file path, with a label for messages. */
export type PhotoInput = { bytes: Uint8Array; origin: string } | { file: string; origin?: string };

/** A recognition with boxes scaled back to the original image's pixels. */
export interface ImageRecognition extends DetailedRecognition {
  /** The analysed (possibly shrunk) image, e.g. for overlays. */
  image: RgbImage;
  /** original pixels = analysed pixels × scale */
  scale: number;
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
  readonly #enrolment: Enrolment;

  private constructor(config: ResolvedConfig, models: VisionModels, memory: Memory, cohort: Cohort | null) {
    this.config = config;
    this.models = models;
    this.memory = memory;
    this.recognizer = new Recognizer(models, memory.concepts, config.recognition, { cohort });
    this.#enrolment = new Enrolment(this.recognizer, memory.concepts, { thumbnails: memory.thumbnails, maxPhotos: config.limits.maxPhotosPerEnrol });
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
    return this.store.list().map(conceptSummary);
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
  enrol(req: EnrolmentRequest<PhotoInput>): Promise<EnrolmentResult> {
    return this.#enrolment.enrol({ ...req, photos: req.photos.map((p) => this.#photo(p)) });
  }

  /** Enrols a concept from views already computed (a named unknown visitor's faces, say). */
  enrolViews(req: { name: string; kind: ConceptKind; context: string; views: readonly NewConceptView[] }): Promise<ConceptSummary> {
    return this.#enrolment.enrolViews(req);
  }

  /**
   * A correction from a household member: "this is Billy" (`is`) or "that's not Billy" (`not`) about a photo or
   * frame, optionally only the region in `box` (original pixels). Returns how many views were added.
   */
  correct(req: { concept: string; verdict: 'is' | 'not'; photo: PhotoInput; box?: Box | null }): Promise<{ concept: ConceptSummary; views: number }> {
    return this.#enrolment.correct(this.resolve(req.concept), { verdict: req.verdict, photo: this.#photo(req.photo), box: req.box ?? null });
  }

  #photo(photo: PhotoInput): EnrolmentPhoto {
    return { origin: 'bytes' in photo ? photo.origin : (photo.origin ?? photo.file), read: () => this.decode(photo) };
  }

  async update(idOrName: string, patch: { name?: string; context?: string }): Promise<ConceptSummary> {
    const concept = this.resolve(idOrName);
    const name = patch.name === undefined ? undefined : validConceptName(patch.name);
    if (name !== undefined) {
      const other = this.store.findByName(name, concept.kind);
      if (other && other.id !== concept.id) throw new FamiliarError('CONCEPT_EXISTS', `a ${concept.kind} called "${name}" is already enrolled`);
    }
    const context = patch.context === undefined ? undefined : validConceptContext(patch.context);
    return conceptSummary(await this.store.update(concept.id, { ...(name !== undefined && { name }), ...(context !== undefined && { context }) }));
  }

  /**
   * Erases every trace of a concept — views, thresholds, sightings, notes, triggers, preferences — in memory and on
   * disk; the remaining concepts' thresholds are recalibrated.
   */
  async forget(idOrName: string): Promise<ConceptSummary> {
    const concept = this.resolve(idOrName);
    await this.memory.forgetConcept(concept.id);
    await this.recalibrate(spacesOf(concept.views));
    return conceptSummary(concept);
  }

  /** Recalibrates the thresholds of every concept with views in `spaces` (see {@link Enrolment.recalibrate}). */
  recalibrate(spaces: ReadonlySet<EmbeddingSpace>): Promise<void> {
    return this.#enrolment.recalibrate(spaces);
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
