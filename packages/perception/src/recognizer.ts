import { randomUUID } from 'node:crypto';
import {
  containment,
  iou,
  type Box,
  type Concept,
  type ConceptKind,
  type ConceptSummary,
  type ConceptView,
  type EmbeddingSpace,
  type Match,
  type Point,
  type ProposalSource,
  type Recognition,
  type RgbImage,
  type StageTimings,
  type Thresholds,
  type ViewHit,
} from '@familiar/contracts';
import type { RecognitionConfig } from '@familiar/config';
import type { ImpostorScore } from './cohort.ts';
import { cropRgb, resizeRgb } from '@familiar/image';
import { alignFace, type DetectorProposal, type FaceDetection, type VisionModels } from '@familiar/vision';
import type { Cohort } from './cohort.ts';
import { isHumanFace } from './face-gate.ts';
import { binariseMask, contextCrop as cropWithContext, maskBox, maskCoverage, maskedCrop, type BinaryMask, type EmbeddingReuse, type LiveMask, type MaskUse } from './regions.ts';

/** One embedded region of an image: where it is, what produced it, and its vector in one embedding space. */
export interface Region {
  box: Box;
  source: ProposalSource;
  space: EmbeddingSpace;
  vector: Float32Array;
  /** Detector or face-detector score (1 for whole-image and salient regions). */
  score: number;
  /** COCO class id for detector regions, -1 otherwise. */
  classId: number;
  /** Face regions found by the face detector: its five landmarks (image pixels), for the face-geometry gate. */
  landmarks?: Point[];
}

/** A face no enrolled person matched: for tracking unknown visitors. */
export interface UnknownFace {
  box: Box;
  /** Face embedding (unit length). */
  vector: Float32Array;
  /** The face lies on a body the detector calls a person: only such faces may become unknown visitors. */
  onPerson: boolean;
}

export interface AnalyseOptions {
  /** Cut objects out with the salient mask (default: when the model is loaded). */
  salient?: boolean;
  /**
   * Live frames of one camera: the salient mask is computed only when the scene changed (a proposal no recent mask
   * covered) and reused otherwise, so new and moved things get the same analysis as a photo at a fraction of the cost.
   */
  liveMask?: LiveMask;
  /** Live frames of one camera: reuse the embeddings of regions that have not moved since a recent frame. */
  reuse?: EmbeddingReuse;
}

/** The views one enrolment photo gave, and the box (photo pixels) of what they show; null when nothing was found. */
export interface EnrolmentRegion {
  views: ConceptView[];
  box: Box | null;
}

export interface DetailedRecognition extends Recognition {
  unknownFaces: UnknownFace[];
}

/** What the recogniser needs from the concept store (the memory package's ConceptStore satisfies it). */
export interface ConceptGallery {
  /** Names, kinds and thresholds of every concept (no views: matching reads this on every frame). */
  summaries(): readonly ConceptSummary[];
  /** A concept with its views (for recalibration with a held-out cohort group; optional). */
  concept?(id: string): Concept | undefined;
  search(space: EmbeddingSpace, queries: Float32Array[], k: number): ViewHit[][] | Promise<ViewHit[][]>;
}

/** Tuning of the decision rule; defaults were set on the development photos and are documented in the README. */
export interface DecisionRule {
  /** The best concept must beat the runner-up concept by this much similarity (rejects look-alike confusions). */
  competitionMargin: number;
  /** Per-concept threshold = floor + share × (similarity to the nearest other concept − floor), when above the floor. */
  neighbourShare: number;
  /** Same-space boxes of different concepts overlapping more than this are one object: only the stronger is kept. */
  overlapIou: number;
  /** Search depth per region. */
  k: number;
  /**
   * With a cohort: a concept's threshold is at least its highest impostor score (the most similar unrelated thing in
   * the cohort) plus this. Chosen by leave-one-group-out evaluation on the development distractors (README).
   */
  cohortMargin: number;
  /** With a cohort: a region is named only if it is this much closer to the concept than to anything in the cohort. */
  worldMargin: number;
}

const DEFAULT_DECISION_RULE: DecisionRule = { competitionMargin: 0.01, neighbourShare: 0.5, overlapIou: 0.5, k: 64, cohortMargin: 0, worldMargin: 0.03 };

/** Order in which spaces win a concept's single box: a face is the surest evidence, body appearance the weakest. */
const SPACE_PRIORITY: Record<EmbeddingSpace, number> = { face: 0, object: 1, body: 2 };
const PERSON_CLASS = 0;
/** COCO classes that are not people but on which YuNet finds "faces": birds to giraffes, and teddy bears. */
const NOT_A_PERSON = new Set([14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 77]);
/** A face counts as on a box when at least this share of it lies inside. */
const FACE_IN_BOX = 0.8;
const NEUTRAL_GREY = 128;

interface Candidate {
  region: Region;
  conceptId: string;
  similarity: number;
  threshold: number;
  runnerUp: number;
}

/**
 * The recognition core (PeKit's method adapted to small models): proposals from the detector, faces and the salient
 * mask; one embedding per proposal; every proposal matched against every enrolled view; a per-concept calibrated
 * threshold plus a margin over the runner-up concept; at most one box per concept.
 */
export class Recognizer {
  readonly #models: VisionModels;
  readonly #gallery: ConceptGallery;
  readonly #cfg: RecognitionConfig;
  readonly #rule: DecisionRule;
  readonly #cohort: Cohort | null;
  /** Evaluation only: the cohort group a query came from, left out of every cohort score (-1: none). */
  #heldOut = -1;
  /** Per concept and space, the household part of its threshold and its impostor scores (for leave-group-out). */
  readonly #calibration = new Map<string, { views: string; bySpace: Map<EmbeddingSpace, { household: number; impostors: ImpostorScore[] }> }>();

  constructor(models: VisionModels, gallery: ConceptGallery, cfg: RecognitionConfig, options: { rule?: DecisionRule; cohort?: Cohort | null } = {}) {
    this.#models = models;
    this.#gallery = gallery;
    this.#cfg = cfg;
    this.#rule = options.rule ?? DEFAULT_DECISION_RULE;
    this.#cohort = options.cohort ?? null;
  }

  get cohort(): Cohort | null {
    return this.#cohort;
  }

  /**
   * Evaluation only: leaves the cohort entries of one source group (see `sourceGroup`) out of every score until
   * called again (null: none), so a query image is never judged against its own or its series' embeddings.
   */
  holdOut(group: string | null): void {
    this.#heldOut = group === null || !this.#cohort ? -1 : this.#cohort.groupId(group);
  }

  get floors(): Record<EmbeddingSpace, number> {
    return this.#models.floors;
  }

  // ---------------------------------------------------------------- proposals and embeddings

  async #faces(img: RgbImage): Promise<FaceDetection[]> {
    const opts = { longSide: this.#cfg.faceInputLongSide, scoreThreshold: this.#cfg.faceScore, minSize: this.#cfg.minFaceSize };
    const faces = await this.#models.faceDetector.detect(img, opts);
    if (faces.length > 0 || Math.max(img.width, img.height) > 400) return faces;
    // A tight face crop fills the frame and YuNet, trained on scenes, misses it: give it a border and look again.
    return this.#facesInPaddedCrop(img, opts);
  }

  /**
   * Face regions of an image. A small, square photo is taken to be an already aligned face crop (the ArcFace
   * 112×112 convention) and embedded as it is: re-detecting and re-aligning it measurably loses identity.
   */
  async #faceRegionsOf(img: RgbImage, reuse?: EmbeddingReuse): Promise<{ regions: Region[]; faces: FaceDetection[] }> {
    const found = (await this.#faces(img)).filter((f) => isHumanFace(f));
    // An aligned crop is embedded as it is — but only once the face detector agrees it shows a human face (a small
    // square photo of a clock or a toy is not a face).
    if (isAlignedCrop(img)) return { regions: found.length > 0 ? [await this.#alignedCropRegion(img)] : [], faces: [] };
    return { regions: await this.#faceRegions(img, found, reuse), faces: found };
  }

  /** Faces on an animal or a teddy bear (and on no person) are not people's faces: YuNet fires on dogs and toys. */
  #onPeople(regions: Region[], faces: FaceDetection[], dets: readonly DetectorProposal[]): { regions: Region[]; faces: FaceDetection[] } {
    const keep = faces.map((f) => !dets.some((d) => NOT_A_PERSON.has(d.classId) && containment(f.box, d.box) >= FACE_IN_BOX) || dets.some((d) => d.classId === PERSON_CLASS && containment(f.box, d.box) >= FACE_IN_BOX));
    return { regions: regions.filter((r) => r.source !== 'face' || keep[faces.findIndex((f) => f.box === r.box)] !== false), faces: faces.filter((_, i) => keep[i]) };
  }

  async #facesInPaddedCrop(img: RgbImage, opts: { longSide: number; scoreThreshold: number; minSize: number }): Promise<FaceDetection[]> {
    const pad = Math.round(Math.max(img.width, img.height) * 0.5);
    const W = img.width + 2 * pad;
    const H = img.height + 2 * pad;
    const data = new Uint8Array(W * H * 3).fill(NEUTRAL_GREY);
    for (let y = 0; y < img.height; y++) data.set(img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3), ((y + pad) * W + pad) * 3);
    const faces = await this.#models.faceDetector.detect({ width: W, height: H, data }, { ...opts, minSize: Math.min(opts.minSize, 12) });
    return faces.map((f) => ({
      score: f.score,
      box: {
        xmin: Math.max(0, f.box.xmin - pad),
        ymin: Math.max(0, f.box.ymin - pad),
        xmax: Math.min(img.width, f.box.xmax - pad),
        ymax: Math.min(img.height, f.box.ymax - pad),
      },
      landmarks: f.landmarks.map((p) => ({ x: p.x - pad, y: p.y - pad })),
    }));
  }

  async #faceRegions(img: RgbImage, faces: readonly FaceDetection[], reuse?: EmbeddingReuse): Promise<Region[]> {
    const regions: Region[] = [];
    for (const f of faces) {
      let vector = reuse?.take('face', f.box);
      if (!vector) {
        vector = await this.#models.faceEmbedder.embed(alignFace(img, f.landmarks));
        reuse?.put('face', f.box, vector);
      }
      regions.push({ box: f.box, source: 'face', space: 'face', vector, score: f.score, classId: -1, landmarks: f.landmarks });
    }
    return regions;
  }

  async #alignedCropRegion(img: RgbImage): Promise<Region> {
    const vector = await this.#models.faceEmbedder.embed(await resizeTo112(img));
    return { box: { xmin: 0, ymin: 0, xmax: img.width, ymax: img.height }, source: 'whole', space: 'face', vector, score: 1, classId: -1 };
  }

  async #mask(img: RgbImage): Promise<BinaryMask | null> {
    if (!this.#models.salient) return null;
    return binariseMask(await this.#models.salient.mask(img), img.width, img.height);
  }

  /**
   * Everything recognisable in an image, embedded: faces, the salient object, detector proposals (class-agnostic,
   * cut out with the salient mask where it covers them) and bodies of people whose face is not visible.
   */
  async analyse(img: RgbImage, timings: StageTimings = {}, options: AnalyseOptions = {}): Promise<Region[]> {
    const { reuse } = options;
    // onnxruntime-node runs one model at a time on this thread, but resizing (sharp, on the libuv pool) overlaps with
    // it: the object crops are resized while the face branch's models run. Each stage's own duration is recorded.
    const timed = <T>(key: string, work: () => Promise<T>): Promise<T> => {
      const t = performance.now();
      return work().then((value) => {
        timings[key] = performance.now() - t;
        return value;
      });
    };
    const detP = timed('detector', () =>
      this.#models.detector.detect(img, { scoreThreshold: this.#cfg.detectorScore, nmsIou: this.#cfg.nmsIou, classAgnostic: true, limit: this.#cfg.maxProposals }),
    );
    const live = options.liveMask;
    const maskP: Promise<MaskUse | null> = live
      ? detP.then((dets) => live.use(img, dets, () => timed('salient', () => this.#mask(img))))
      : options.salient === false
        ? Promise.resolve(null)
        : timed('salient', () => this.#mask(img)).then((mask) => mask && { mask, covers: () => true });
    const facesP = timed('faces', () => this.#faceRegionsOf(img, reuse));
    const objectsP = Promise.all([detP, maskP]).then(([dets, mask]) => timed('objects', () => this.#objectRegions(img, dets, mask, reuse)));
    const [dets, found, objectRegions] = await Promise.all([detP, facesP, objectsP]);
    const { regions: faceRegions, faces } = this.#onPeople(found.regions, found.faces, dets);
    const regions = [...faceRegions, ...objectRegions];

    if (this.#models.bodyEmbedder) {
      const t3 = performance.now();
      const faceless = dets.filter((d) => d.classId === PERSON_CLASS && !faces.some((f) => containsCentre(d.box, f.box)));
      if (faceless.length > 0) {
        const bodies = faceless.map((d) => ({ box: d.box, kind: 'body', crop: () => cropRgb(img, d.box) }));
        const vecs = await this.#embedReusing(bodies, reuse, (crops) => this.#models.bodyEmbedder!.embed(crops));
        faceless.forEach((d, i) => regions.push({ box: d.box, source: 'detector', space: 'body', vector: vecs[i]!, score: d.score, classId: d.classId }));
      }
      timings.bodies = performance.now() - t3;
    }
    return regions;
  }

  /** Object regions: the salient object and every detector proposal (cut out with the mask where it covers them). */
  async #objectRegions(img: RgbImage, dets: readonly DetectorProposal[], maskUse: MaskUse | null, reuse: EmbeddingReuse | undefined): Promise<Region[]> {
    const objects: { box: Box; kind: string; crop: () => RgbImage; source: ProposalSource; score: number; classId: number }[] = [];
    const mask = maskUse?.mask ?? null;
    const minMaskPixels = img.width * img.height * 0.01;
    const salientBox = mask ? maskBox(mask, undefined, minMaskPixels) : null;
    if (mask && salientBox) objects.push({ box: salientBox, kind: 'object:salient', crop: () => maskedCrop(img, mask, salientBox), source: 'salient', score: 1, classId: -1 });
    for (const d of dets) {
      // A reused live mask only cuts out what it was computed for; anything new is embedded with its context.
      const inner = mask && maskUse!.covers(d.box) && maskCoverage(mask, d.box) >= 0.05 ? maskBox(mask, d.box, 50) : null;
      if (mask && inner) objects.push({ box: inner, kind: 'object:masked', crop: () => maskedCrop(img, mask, inner), source: 'detector', score: d.score, classId: d.classId });
      else objects.push({ box: d.box, kind: 'object:context', crop: () => cropWithContext(img, d.box, 0.05), source: 'detector', score: d.score, classId: d.classId });
    }
    if (objects.length === 0) {
      const whole = { xmin: 0, ymin: 0, xmax: img.width, ymax: img.height };
      objects.push({ box: whole, kind: 'object:whole', crop: () => img, source: 'whole', score: 1, classId: -1 });
    }
    const vectors = await this.#embedReusing(objects, reuse, (crops) => this.#models.objectEmbedder.embed(crops));
    return objects.map((o, i) => ({ box: o.box, source: o.source, space: 'object', vector: vectors[i]!, score: o.score, classId: o.classId }));
  }

  /** Embeds the regions `reuse` has no embedding for, in one batch; the others get the remembered one. */
  async #embedReusing(
    items: readonly { box: Box; kind: string; crop: () => RgbImage }[],
    reuse: EmbeddingReuse | undefined,
    embed: (crops: RgbImage[]) => Promise<Float32Array[]>,
  ): Promise<Float32Array[]> {
    const vectors = items.map((it) => reuse?.take(it.kind, it.box) ?? null);
    const todo = items.map((_, i) => i).filter((i) => vectors[i] === null);
    if (todo.length > 0) {
      const fresh = await embed(todo.map((i) => items[i]!.crop()));
      todo.forEach((i, j) => {
        vectors[i] = fresh[j]!;
        reuse?.put(items[i]!.kind, items[i]!.box, fresh[j]!);
      });
    }
    return vectors as Float32Array[];
  }

  // ---------------------------------------------------------------- enrolment

  /**
   * Views of a concept from one reference photo. The object is localised first (salient mask, then the strongest
   * detector proposal inside it) so the background is not enrolled; people are enrolled by their largest face, plus
   * their body appearance when a person box holds that face.
   */
  async enrolmentViews(img: RgbImage, kind: ConceptKind, origin: string): Promise<ConceptView[]> {
    return (await this.enrolment(img, kind, origin)).views;
  }

  /** {@link enrolmentViews}, plus where in the photo the concept was found (for a thumbnail). */
  async enrolment(img: RgbImage, kind: ConceptKind, origin: string): Promise<EnrolmentRegion> {
    const now = Date.now();
    const view = (space: EmbeddingSpace, vector: Float32Array, suffix: string): ConceptView => ({
      id: randomUUID(),
      space,
      vector,
      origin: suffix ? `${origin}#${suffix}` : origin,
      addedAt: now,
    });
    if (kind === 'person') {
      // A person is enrolled by a real human face: the same gates as live frames (face geometry, not on an animal).
      const dets = await this.#models.detector.detect(img, { scoreThreshold: this.#cfg.detectorScore, nmsIou: this.#cfg.nmsIou, classAgnostic: false, limit: 20 });
      const found = await this.#faceRegionsOf(img);
      const { regions, faces } = this.#onPeople(found.regions, found.faces, dets);
      const views: ConceptView[] = [];
      const largest = [...faces].sort((a, b) => boxArea(b.box) - boxArea(a.box))[0];
      if (largest) {
        const region = regions.find((r) => r.box === largest.box)!;
        views.push(view('face', region.vector, 'face'));
        if (this.#models.bodyEmbedder) {
          const body = dets.find((p) => p.classId === PERSON_CLASS && containsCentre(p.box, largest.box) && boxArea(p.box) > 4 * boxArea(largest.box));
          if (body) {
            const [vec] = await this.#models.bodyEmbedder.embed([cropRgb(img, body.box)]);
            views.push(view('body', vec!, 'body'));
          }
        }
        return { views, box: largest.box };
      }
      return { views: regions.map((r) => view('face', r.vector, 'face')), box: regions[0]?.box ?? null };
    }

    const [mask, dets] = await Promise.all([
      this.#mask(img),
      this.#models.detector.detect(img, { scoreThreshold: this.#cfg.detectorScore, nmsIou: this.#cfg.nmsIou, classAgnostic: true, limit: this.#cfg.maxProposals }),
    ]);
    const crops: { crop: RgbImage; tag: string }[] = [];
    let box: Box;
    const salientBox = mask ? maskBox(mask, undefined, img.width * img.height * 0.01) : null;
    if (mask && salientBox) {
      box = salientBox;
      crops.push({ crop: maskedCrop(img, mask, salientBox), tag: 'salient' });
      // The strongest proposal cut out by the mask: a second, differently framed view of the same object.
      const top = dets.find((d) => maskCoverage(mask, d.box) >= 0.05);
      const inner = top ? maskBox(mask, top.box, 50) : null;
      if (inner && iou(inner, salientBox) < 0.95) crops.push({ crop: maskedCrop(img, mask, inner), tag: 'proposal' });
    } else if (dets[0]) {
      const largest = [...dets].sort((a, b) => boxArea(b.box) - boxArea(a.box))[0]!;
      box = largest.box;
      crops.push({ crop: cropWithContext(img, largest.box, 0.05), tag: 'proposal' });
    } else {
      box = { xmin: 0, ymin: 0, xmax: img.width, ymax: img.height };
      crops.push({ crop: img, tag: 'whole' });
    }
    const vectors = await this.#models.objectEmbedder.embed(crops.map((c) => c.crop));
    return { views: crops.map((c, i) => view('object', vectors[i]!, c.tag)), box };
  }

  /**
   * Views for a correction of a recognition in `img`. "That's not X" (negative): every region overlapping `box` — or,
   * with no box, X's box in this image — becomes a negative view of X, so the same mistake does not repeat on this
   * image or ones like it. "This is X" (positive): the region that best covers `box` becomes a new view of X (with no
   * box, the photo is enrolled as usual).
   */
  async correctionViews(img: RgbImage, target: { conceptId: string; kind: ConceptKind }, box: Box | null, negative: boolean, origin: string): Promise<ConceptView[]> {
    if (!box && !negative) return this.enrolmentViews(img, target.kind, origin);
    const regions = await this.analyse(img);
    const spaces: readonly EmbeddingSpace[] = target.kind === 'person' ? ['face', 'body'] : ['object'];
    let at = box;
    if (!at) {
      const match = (await this.match(regions)).find((m) => m.conceptId === target.conceptId);
      if (!match) return [];
      at = match.box;
    }
    const overlapping = regions
      .filter((r) => spaces.includes(r.space))
      .map((r) => ({ r, overlap: iou(r.box, at!) }))
      .filter((x) => x.overlap >= 0.5)
      .sort((a, b) => b.overlap - a.overlap);
    const chosen = negative ? overlapping : overlapping.slice(0, 1);
    const now = Date.now();
    return chosen.map(({ r }) => ({
      id: randomUUID(),
      space: r.space,
      vector: r.vector,
      origin: `${origin}#${negative ? 'not' : 'is'}`,
      addedAt: now,
      ...(negative && { negative: true }),
    }));
  }

  /**
   * Per-space thresholds of a concept: the model's floor, raised part of the way towards its nearest other concept
   * (so a look-alike needs stronger evidence), calibrated from the enrolled views themselves.
   */
  async calibrate(concept: Concept): Promise<Thresholds> {
    const out: Thresholds = {};
    const parts = await this.#calibrationOf(concept);
    for (const [space, { household, impostors }] of parts) out[space] = round4(Math.min(0.95, Math.max(household, (impostors[0]?.similarity ?? -1) + this.#rule.cohortMargin)));
    return out;
  }

  /**
   * The two parts of a concept's threshold per space: the household part (the model's floor raised half-way towards
   * the nearest other enrolled concept) and the world part (the concept's impostor scores against the cohort, whose
   * highest plus `cohortMargin` the threshold must clear).
   */
  async #calibrationOf(concept: Concept): Promise<Map<EmbeddingSpace, { household: number; impostors: ImpostorScore[] }>> {
    const out = new Map<EmbeddingSpace, { household: number; impostors: ImpostorScore[] }>();
    const spaces = new Set(concept.views.filter((v) => !v.negative).map((v) => v.space));
    // Impostor scores depend only on the views (the cohort is fixed): recalibrating after a neighbour changed reuses them.
    const signature = viewSignature(concept);
    const previous = this.#calibration.get(concept.id);
    const known = previous?.views === signature ? previous.bySpace : null;
    for (const space of spaces) {
      const floor = this.#models.floors[space];
      const own = concept.views.filter((v) => v.space === space && !v.negative).map((v) => v.vector);
      const hits = await this.#gallery.search(space, own, this.#rule.k);
      let nearest = -1;
      for (const list of hits) for (const h of list) if (h.conceptId !== concept.id && !h.negative) nearest = Math.max(nearest, h.similarity);
      const household = Math.max(floor, floor + this.#rule.neighbourShare * (nearest - floor));
      out.set(space, { household, impostors: known?.get(space)?.impostors ?? this.#cohort?.impostors(space, own) ?? [] });
    }
    this.#calibration.set(concept.id, { views: signature, bySpace: out });
    return out;
  }

  /** A concept's threshold in a space with the held-out group's impostor scores left out (evaluation only). */
  async #heldOutThreshold(conceptId: string, space: EmbeddingSpace): Promise<number | null> {
    const concept = this.#gallery.concept?.(conceptId);
    if (!concept) return null;
    let cal = this.#calibration.get(conceptId);
    if (!cal || cal.views !== viewSignature(concept)) await this.#calibrationOf(concept);
    cal = this.#calibration.get(conceptId)!;
    const part = cal.bySpace.get(space);
    if (!part) return null;
    const impostor = part.impostors.find((i) => i.group !== this.#heldOut)?.similarity ?? -1;
    return Math.min(0.95, Math.max(part.household, impostor + this.#rule.cohortMargin));
  }

  // ---------------------------------------------------------------- recognition

  /** Matches regions against the gallery: per region the best concept that clears its threshold and the margin. */
  async match(regions: readonly Region[]): Promise<Match[]> {
    const concepts = new Map(this.#gallery.summaries().map((c) => [c.id, c]));
    if (concepts.size === 0 || regions.length === 0) return [];
    const candidates: Candidate[] = [];
    for (const space of ['face', 'object', 'body'] as const) {
      const inSpace = regions.filter((r) => r.space === space);
      if (inSpace.length === 0) continue;
      const hits = await this.#gallery.search(space, inSpace.map((r) => r.vector), this.#rule.k);
      const heldOut = this.#heldOut >= 0 ? new Map<string, number | null>() : null;
      if (heldOut) {
        for (const list of hits) for (const h of list) if (!h.negative && !heldOut.has(h.conceptId)) heldOut.set(h.conceptId, await this.#heldOutThreshold(h.conceptId, space));
      }
      inSpace.forEach((region, i) => {
        const pos = new Map<string, number>();
        const neg = new Map<string, number>();
        for (const h of hits[i] ?? []) {
          const m = h.negative ? neg : pos;
          m.set(h.conceptId, Math.max(m.get(h.conceptId) ?? -1, h.similarity));
        }
        const ranked = [...pos.entries()].sort((a, b) => b[1] - a[1]);
        const best = ranked[0];
        if (!best) return;
        const [conceptId, similarity] = best;
        const concept = concepts.get(conceptId);
        if (!concept) return;
        const threshold = (heldOut?.get(conceptId) ?? concept.thresholds[space] ?? this.#models.floors[space]) + this.#cfg.margin;
        const runnerUp = ranked[1]?.[1] ?? -1;
        if (similarity < threshold) return;
        if (similarity - runnerUp < this.#rule.competitionMargin) return;
        // A correction said "this is not X": a region closer to that negative view than to X's own views is not X.
        if ((neg.get(conceptId) ?? -1) >= similarity) return;
        // The world competes too: a region at least as close to something unrelated (another dog, a stranger) is not X.
        if (this.#cohort && similarity < this.#cohort.nearest(space, region.vector, this.#heldOut) + this.#rule.worldMargin) return;
        candidates.push({ region, conceptId, similarity, threshold, runnerUp });
      });
    }
    candidates.sort((a, b) => SPACE_PRIORITY[a.region.space] - SPACE_PRIORITY[b.region.space] || b.similarity - b.threshold - (a.similarity - a.threshold));
    const kept: Candidate[] = [];
    for (const c of candidates) {
      if (kept.some((k) => k.conceptId === c.conceptId)) continue;
      if (kept.some((k) => k.region.space === c.region.space && iou(k.region.box, c.region.box) > this.#rule.overlapIou)) continue;
      kept.push(c);
    }
    return kept.map((c) => {
      const concept = concepts.get(c.conceptId)!;
      return {
        conceptId: c.conceptId,
        name: concept.name,
        kind: concept.kind,
        box: c.region.box,
        similarity: round4(c.similarity),
        threshold: round4(c.threshold),
        confidence: round4(confidence(c)),
        space: c.region.space,
      };
    });
  }

  /** Recognises one decoded image. Boxes are in the image's own pixels. */
  async recognise(img: RgbImage, options: AnalyseOptions = {}): Promise<DetailedRecognition> {
    const timings: StageTimings = {};
    const regions = await this.analyse(img, timings, options);
    const t = performance.now();
    const matches = await this.match(regions);
    timings.matching = performance.now() - t;
    const matchedFaces = matches.filter((m) => m.space === 'face');
    const persons = regions.filter((r) => r.source === 'detector' && r.classId === PERSON_CLASS);
    const unknownFaces = regions
      .filter((r) => r.space === 'face' && !matchedFaces.some((m) => iou(m.box, r.box) > 0.5))
      .map((r) => ({ box: r.box, vector: r.vector, onPerson: persons.some((p) => containment(r.box, p.box) >= FACE_IN_BOX) }));
    return { width: img.width, height: img.height, matches, proposals: regions.length, timings, unknownFaces };
  }
}

/** 0.5 at the threshold, rising to 1 a few hundredths above it, scaled down when the runner-up concept is close. */
function confidence(c: Candidate): number {
  const above = clamp01(0.5 + (c.similarity - c.threshold) / 0.1);
  const lead = c.runnerUp < 0 ? 1 : clamp01((c.similarity - c.runnerUp) / 0.05);
  return above * (0.5 + 0.5 * lead);
}

function clamp01(x: number): number {
  return Math.min(1, Math.max(0, x));
}

/** ArcFace-style aligned crops are small squares (112×112 by convention). */
function isAlignedCrop(img: RgbImage): boolean {
  return Math.max(img.width, img.height) <= 160 && isSmallSquare(img);
}

function isSmallSquare(img: RgbImage): boolean {
  const aspect = img.width / img.height;
  return Math.max(img.width, img.height) <= 400 && aspect >= 0.8 && aspect <= 1.25;
}

/** Identifies a concept's set of views (views are only ever added or removed, each with a fresh id). */
function viewSignature(c: Concept): string {
  return `${c.views.length}:${c.views.map((v) => v.id).join(',')}`;
}

function round4(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

function boxArea(b: Box): number {
  return (b.xmax - b.xmin) * (b.ymax - b.ymin);
}

function containsCentre(outer: Box, inner: Box): boolean {
  const cx = (inner.xmin + inner.xmax) / 2;
  const cy = (inner.ymin + inner.ymax) / 2;
  return cx >= outer.xmin && cx <= outer.xmax && cy >= outer.ymin && cy <= outer.ymax;
}

function resizeTo112(img: RgbImage): Promise<RgbImage> {
  return resizeRgb(img, 112, 112);
}
