import { randomUUID } from 'node:crypto';
import {
  CONCEPT_KINDS,
  conceptSummary,
  FamiliarError,
  scaleBox,
  toFamiliarError,
  validConceptContext,
  validConceptName,
  type Box,
  type Concept,
  type ConceptKind,
  type ConceptSummary,
  type ConceptView,
  type EmbeddingSpace,
  type NewConceptView,
  type PhotoRejection,
  type RgbImage,
  type Thresholds,
} from '@familiar/contracts';
import { encodeJpeg } from '@familiar/image';
import type { Recognizer } from './recognizer.ts';
import { contextCrop, downscale } from './regions.ts';

/** One enrolment photo: a label for messages, and how to read it (decoding may fail with a typed error). */
export interface EnrolmentPhoto {
  origin: string;
  read(): Promise<{ image: RgbImage; scale: number }>;
}

/** What enrolment needs of the concept store (the memory package's ConceptStore satisfies it). */
export interface EnrolmentStore {
  list(): readonly Concept[];
  get(id: string): Concept;
  findByName(name: string, kind?: ConceptKind): Concept | undefined;
  add(concept: Concept): Promise<unknown>;
  update(id: string, patch: { thresholds?: Thresholds; addViews?: readonly NewConceptView[] }): Promise<unknown>;
}

/** Where a concept's thumbnail goes; `keep` is false in embeddings-only mode (no pixels are kept at all). */
export interface ThumbnailSink {
  readonly keep: boolean;
  put(conceptId: string, jpeg: Uint8Array): Promise<void>;
}

/** A concept to enrol from photos; `P` is how a photo is given (the runtime's core takes bytes or file paths). */
export interface EnrolmentRequest<P = EnrolmentPhoto> {
  name: string;
  kind: ConceptKind;
  context?: string;
  photos: readonly P[];
}

/** The enrolled concept, and the photos that gave nothing (the enrolment succeeds while one photo gives a view). */
export interface EnrolmentResult {
  concept: ConceptSummary;
  rejected: PhotoRejection[];
}

/** Longest side of a concept's thumbnail, pixels. */
const THUMBNAIL_SIDE = 160;

/**
 * Enrolment, correction and calibration of concepts: from photos to views (the recogniser finds the person's face or
 * the object in each), from views to a concept with calibrated thresholds, and every neighbour's thresholds moved
 * when a concept arrives, changes or leaves. Writes go through the store port; the store makes them durable.
 */
export class Enrolment {
  readonly #recognizer: Recognizer;
  readonly #store: EnrolmentStore;
  readonly #thumbnails: ThumbnailSink;
  readonly #maxPhotos: number;

  constructor(recognizer: Recognizer, store: EnrolmentStore, options: { thumbnails: ThumbnailSink; maxPhotos: number }) {
    this.#recognizer = recognizer;
    this.#store = store;
    this.#thumbnails = options.thumbnails;
    this.#maxPhotos = options.maxPhotos;
  }

  /**
   * Enrols a concept from photos. Photos that cannot be used are reported, not fatal, as long as one gives a view.
   * The concept is durable when this resolves; thresholds of every concept sharing a space are recalibrated.
   */
  async enrol(req: EnrolmentRequest): Promise<EnrolmentResult> {
    const name = validConceptName(req.name);
    if (!CONCEPT_KINDS.includes(req.kind)) throw new FamiliarError('INPUT_INVALID', `kind must be one of ${CONCEPT_KINDS.join(', ')}`);
    const context = validConceptContext(req.context ?? '');
    if (req.photos.length === 0) throw new FamiliarError('INPUT_INVALID', 'at least one photo is needed');
    if (req.photos.length > this.#maxPhotos) throw new FamiliarError('INPUT_INVALID', `at most ${this.#maxPhotos} photos per enrolment`);
    this.#assertFree(name, req.kind);
    const { views, rejected, first } = await this.#views(req.photos, req.kind);
    // No photo could even be read (not an image, too large, missing): say that, not "no face found".
    const unread = rejected[0];
    if (views.length === 0 && unread && rejected.every((r) => r.code !== 'ENROL_NO_VIEWS')) {
      throw new FamiliarError(unread.code, rejected.length === 1 ? unread.message : rejected.map((r) => `${r.origin}: ${r.message}`).join('; '), { details: { rejected } });
    }
    const concept = await this.#create(name, req.kind, context, views, req.photos.length);
    if (first && this.#thumbnails.keep) {
      // Cosmetic: a concept without its thumbnail is still fully enrolled, so a failed write must not undo it.
      await this.#thumbnails.put(concept.id, await thumbnailOf(first.image, first.box)).catch(() => undefined);
    }
    return { concept, rejected };
  }

  /** Enrols a concept from views already computed (a named unknown visitor's faces, say). */
  enrolViews(req: { name: string; kind: ConceptKind; context: string; views: readonly NewConceptView[] }): Promise<ConceptSummary> {
    return this.#create(validConceptName(req.name), req.kind, validConceptContext(req.context), req.views, req.views.length);
  }

  /** Stores a concept from a valid name and context and its views; `photos` is what the views came from (for the error). */
  async #create(name: string, kind: ConceptKind, context: string, newViews: readonly NewConceptView[], photos: number): Promise<ConceptSummary> {
    // Checked again after the photos were analysed: the store may have changed meanwhile.
    this.#assertFree(name, kind);
    if (newViews.length === 0) {
      throw new FamiliarError('ENROL_NO_VIEWS', `none of the ${photos} photo(s) gave a usable view (for a person, a visible face is needed)`);
    }
    const now = Date.now();
    const views: ConceptView[] = newViews.map((v) => ({ id: v.id ?? randomUUID(), space: v.space, vector: v.vector, origin: v.origin, addedAt: v.addedAt ?? now }));
    const concept: Concept = { id: randomUUID(), name, kind, context, createdAt: now, updatedAt: now, views, thresholds: {} };
    concept.thresholds = await this.#recognizer.calibrate(concept);
    await this.#store.add(concept);
    await this.recalibrate(spacesOf(views), concept.id);
    return conceptSummary(this.#store.get(concept.id));
  }

  /**
   * A correction from a household member: "this is Billy" (`is`) or "that's not Billy" (`not`) about a photo or
   * frame, optionally only the region in `box` (the photo's own pixels). Stored as positive or negative views of the
   * concept; thresholds are recalibrated. Returns how many views were added.
   */
  async correct(concept: Concept, req: { verdict: 'is' | 'not'; photo: EnrolmentPhoto; box?: Box | null }): Promise<{ concept: ConceptSummary; views: number }> {
    const { image, scale } = await req.photo.read();
    const box = req.box ? scaleBox(req.box, 1 / scale) : null;
    const views = await this.#recognizer.correctionViews(image, { conceptId: concept.id, kind: concept.kind }, box, req.verdict === 'not', req.photo.origin);
    if (views.length === 0) {
      throw new FamiliarError(
        'ENROL_NO_VIEWS',
        req.verdict === 'not' ? `"${concept.name}" is not recognised in this image${req.box ? ' at that box' : ''}: nothing to correct` : `no ${concept.kind === 'person' ? 'face' : 'object'} found at that box`,
      );
    }
    await this.#store.update(concept.id, { addViews: views });
    await this.recalibrate(spacesOf(views));
    return { concept: conceptSummary(this.#store.get(concept.id)), views: views.length };
  }

  /**
   * Recalibrates the thresholds of every concept with views in `spaces` (a new or removed neighbour moves them).
   * Cheap at household scale: one index search per view; only changed thresholds are written.
   */
  async recalibrate(spaces: ReadonlySet<EmbeddingSpace>, skip?: string): Promise<void> {
    for (const c of this.#store.list()) {
      if (c.id === skip || !c.views.some((v) => spaces.has(v.space))) continue;
      const thresholds = await this.#recognizer.calibrate(c);
      if (JSON.stringify(thresholds) !== JSON.stringify(c.thresholds)) await this.#store.update(c.id, { thresholds });
    }
  }

  #assertFree(name: string, kind: ConceptKind): void {
    if (this.#store.findByName(name, kind)) throw new FamiliarError('CONCEPT_EXISTS', `a ${kind} called "${name}" is already enrolled`);
  }

  /** Every photo's views; unreadable or empty photos are reported. The first found region makes the thumbnail. */
  async #views(photos: readonly EnrolmentPhoto[], kind: ConceptKind): Promise<{ views: ConceptView[]; rejected: PhotoRejection[]; first: { image: RgbImage; box: Box } | null }> {
    const views: ConceptView[] = [];
    const rejected: PhotoRejection[] = [];
    let first: { image: RgbImage; box: Box } | null = null;
    for (const photo of photos) {
      try {
        const { image } = await photo.read();
        const { views: found, box } = await this.#recognizer.enrolment(image, kind, photo.origin);
        if (box && found.length > 0) first ??= { image, box };
        if (found.length === 0) rejected.push({ origin: photo.origin, code: 'ENROL_NO_VIEWS', message: kind === 'person' ? 'no face found' : 'no object found' });
        views.push(...found);
      } catch (err) {
        const e = toFamiliarError(err);
        if (e.code === 'INTERNAL') throw e;
        rejected.push({ origin: photo.origin, code: e.code, message: e.message });
      }
    }
    return { views, rejected, first };
  }
}

/** The spaces a set of views lives in: the concepts whose thresholds a change of them can move. */
export function spacesOf(views: readonly { space: EmbeddingSpace }[]): Set<EmbeddingSpace> {
  return new Set(views.map((v) => v.space));
}

/** The found region with a little context, at most THUMBNAIL_SIDE on its longest side, as JPEG. */
async function thumbnailOf(image: RgbImage, box: Box): Promise<Uint8Array> {
  return encodeJpeg(await downscale(contextCrop(image, box, 0.15), THUMBNAIL_SIDE), 80);
}
