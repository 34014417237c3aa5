import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ConceptKind, Observation, RgbImage } from '@familiar/contracts';
import type { ResolvedConfig } from '@familiar/config';
import { cropRgb, decodeImage, renderOverlay } from '@familiar/image';
import { contextCrop, SceneTracker } from '@familiar/perception';
import { alignFace, type VisionModels } from '@familiar/vision';
import { Engine } from '@familiar/runtime';
import type { SceneSet } from './scenes.ts';
import { median, reuseRate, summarise, sumModelMs, type Summary } from './stats.ts';

/** One ONNX session's pure run time in the end-to-end frames. */
export interface ModelTime {
  provider: string;
  runsPerFrame: number;
  msPerRun: number;
  msPerFrame: number;
}

/** Frames through the engine exactly as the live runtime runs them (decode → recognise → track → memory). */
export interface FrameRun {
  frames: number;
  frameMs: Summary;
  /** Sum of every model run per frame, ms (mean). */
  modelMsPerFrame: number;
  /** (frame time − model time) / model time, over all frames. */
  overheadRatio: number;
  /** Frames per second of one engine working flat out (in process, no camera). */
  fps: number;
  /** Share of region embeddings reused from a recent frame. */
  reuseRate: number;
  /** Median per frame of each stage the engine reports (stages overlap: detector, faces and objects run side by side). */
  stageMs: Record<string, number>;
  models: Record<string, ModelTime>;
}

/** A stage timed on its own, one after the other, on the same frames. */
export interface StageTime {
  /** Wall time of the stage, ms. */
  ms: Summary;
  /** Of which model runs, ms (median); null for stages without a model. */
  modelMs: number | null;
}

export interface EnrolTime {
  kind: ConceptKind;
  photos: number;
  ms: Summary;
}

export interface PipelineReport {
  /** Every photo new on every frame: every region is embedded (the worst case). */
  allNew: FrameRun;
  /** A camera on a still-ish scene: each cell's photo changes every `changeEvery` frames, and shifts by a pixel or two. */
  stream: FrameRun & { changeEvery: number };
  stages: Record<string, StageTime>;
  enrol: EnrolTime[];
  forgetMs: Summary;
}

export interface PipelineOptions {
  /** Its store already holds the scene's concepts (the live benchmark enrols them first). */
  config: ResolvedConfig;
  allNew: SceneSet;
  stream: SceneSet;
  /** Extra photos for the enrolment timing: 5 of a person, 5 of a pet. */
  enrolPhotos: { person: string[]; pet: string[] };
  repeats: number;
  log: (line: string) => void;
}

const WARMUP_FRAMES = 3;

/** Stage, model and end-to-end timings of the recognition pipeline, in this process. */
export async function benchPipeline(options: PipelineOptions): Promise<PipelineReport> {
  const { config, log } = options;
  const engine = await Engine.open(config);
  try {
    for (let i = 0; i < WARMUP_FRAMES; i++) await engine.processFrame(frameInput('warm-up', i, options.allNew.frames[i % options.allNew.frames.length]!));
    log(`pipeline: ${options.allNew.frames.length} frames, every photo new`);
    const allNew = await runFrames(engine, 'all-new', options.allNew.frames);
    log(`pipeline: ${options.stream.frames.length} frames of a camera stream`);
    const stream = { ...(await runFrames(engine, 'stream', options.stream.frames)), changeEvery: options.stream.changeEvery };
    log('pipeline: stages one by one');
    const stages = await timeStages(engine, options.allNew.frames);
    log('pipeline: enrolment and forgetting');
    const { enrol, forgetMs } = await timeEnrolment(engine, options.enrolPhotos, options.repeats);
    return { allNew, stream, stages, enrol, forgetMs };
  } finally {
    await engine.close();
  }
}

function frameInput(cameraId: string, seq: number, jpeg: Uint8Array) {
  return { cameraId, room: 'bench', seq, capturedAt: Date.now(), jpeg };
}

async function runFrames(engine: Engine, cameraId: string, frames: readonly Uint8Array[]): Promise<FrameRun> {
  const totals: number[] = [];
  const stageSamples: Record<string, number[]> = {};
  const first = engine.stats();
  for (let i = 0; i < frames.length; i++) {
    const r = await engine.processFrame(frameInput(cameraId, i, frames[i]!));
    totals.push(r.totalMs);
    for (const [k, v] of Object.entries(r.timings)) (stageSamples[k] ??= []).push(v);
  }
  const last = engine.stats();
  await engine.endCamera(cameraId, Date.now());
  const total = totals.reduce((a, b) => a + b, 0);
  const model = sumModelMs(last, first);
  const n = frames.length;
  const models: Record<string, ModelTime> = {};
  for (const [role, s] of Object.entries(last.models)) {
    const runs = s.runs - (first.models[role]?.runs ?? 0);
    const ms = s.ms - (first.models[role]?.ms ?? 0);
    models[role] = { provider: s.provider, runsPerFrame: runs / n, msPerRun: runs ? ms / runs : 0, msPerFrame: ms / n };
  }
  return {
    frames: n,
    frameMs: summarise(totals),
    modelMsPerFrame: model / n,
    overheadRatio: (total - model) / model,
    fps: (1000 * n) / total,
    reuseRate: reuseRate(last, first),
    stageMs: Object.fromEntries(Object.entries(stageSamples).map(([k, v]) => [k, median(v)])),
    models,
  };
}

/**
 * Each stage of a live frame on its own, on the same frames, as the recogniser runs it: decode, detector,
 * faces (detect + align + embed), object embedding (one batch of the proposals' crops), body embedding,
 * matching, tracking, and the overlay the dialogue service draws for the LVLM.
 */
async function timeStages(engine: Engine, frames: readonly Uint8Array[]): Promise<Record<string, StageTime>> {
  const { config, models, recognizer } = engine.core;
  const rc = config.recognition;
  const samples: Record<string, { ms: number[]; model: number[] | null }> = {};
  const modelTotal = () => models.sessions.reduce((a, s) => a + s.stats.ms, 0);
  const stage = async <T>(name: string, usesModel: boolean, fn: () => Promise<T> | T): Promise<T> => {
    const m0 = modelTotal();
    const t0 = performance.now();
    const value = await fn();
    const s = (samples[name] ??= { ms: [], model: usesModel ? [] : null });
    s.ms.push(performance.now() - t0);
    s.model?.push(modelTotal() - m0);
    return value;
  };
  const tracker = new SceneTracker(config.tracking);
  for (let i = 0; i < frames.length; i++) {
    const { image } = await stage('decode', false, () => decodeImage(frames[i]!, { limits: config.limits, maxSide: rc.analysisMaxSide }));
    const dets = await stage('detector', true, () =>
      models.detector.detect(image, { scoreThreshold: rc.detectorScore, nmsIou: rc.nmsIou, classAgnostic: true, limit: rc.maxProposals }),
    );
    await stage('faces', true, () => embedFaces(models, image, rc.faceInputLongSide, rc.faceScore, rc.minFaceSize));
    await stage('objectEmbedding', true, () => models.objectEmbedder.embed(dets.map((d) => contextCrop(image, d.box, 0.05))));
    const persons = dets.filter((d) => d.classId === 0);
    if (models.bodyEmbedder && persons.length > 0) await stage('bodyEmbedding', true, () => models.bodyEmbedder!.embed(persons.map((d) => cropRgb(image, d.box))));
    const regions = await recognizer.analyse(image, {}, { salient: false });
    const matches = await stage('matching', false, () => recognizer.match(regions));
    const observations: Observation[] = matches.map((m) => ({ box: m.box, kind: m.kind, conceptId: m.conceptId, name: m.name, similarity: m.similarity, confidence: m.confidence }));
    await stage('tracking', false, () =>
      tracker.update({ cameraId: 'stages', room: 'bench', seq: i, capturedAt: Date.now(), width: image.width, height: image.height, observations }),
    );
    await stage('overlay', false, () => renderOverlay(image, matches.map((m) => ({ box: m.box, label: m.name }))));
  }
  return Object.fromEntries(Object.entries(samples).map(([k, s]) => [k, { ms: summarise(s.ms), modelMs: s.model ? median(s.model) : null }]));
}

async function embedFaces(models: VisionModels, image: RgbImage, longSide: number, scoreThreshold: number, minSize: number): Promise<number> {
  const faces = await models.faceDetector.detect(image, { longSide, scoreThreshold, minSize });
  for (const f of faces) await models.faceEmbedder.embed(alignFace(image, f.landmarks));
  return faces.length;
}

/** Enrolment from 1 and 5 photos (a person, and a pet through the salient-mask path), then forgetting. */
async function timeEnrolment(engine: Engine, photos: { person: string[]; pet: string[] }, repeats: number): Promise<{ enrol: EnrolTime[]; forgetMs: Summary }> {
  const enrol: EnrolTime[] = [];
  const forget: number[] = [];
  let serial = 0;
  for (const kind of ['person', 'pet'] as const) {
    const files = kind === 'person' ? photos.person : photos.pet;
    const bytes = await Promise.all(files.map(async (f) => ({ bytes: new Uint8Array(await readFile(f)), origin: path.basename(f) })));
    for (const count of [1, 5]) {
      const times: number[] = [];
      for (let i = 0; i < repeats; i++) {
        let t = performance.now();
        const res = await engine.enrol({ name: `bench ${kind} ${++serial}`, kind, context: '', photos: bytes.slice(0, count) });
        times.push(performance.now() - t);
        t = performance.now();
        await engine.forget(res.concept.id);
        forget.push(performance.now() - t);
      }
      enrol.push({ kind, photos: count, ms: summarise(times) });
    }
  }
  return { enrol, forgetMs: summarise(forget) };
}
