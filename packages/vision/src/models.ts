import type { EmbeddingSpace, RgbImage } from '@familiar/contracts';
import { loadModelsManifest, type ModelRole, type ResolvedConfig } from '@familiar/config';
import { Detector } from './detector.ts';
import { BodyEmbedder, ObjectEmbedder, SalientSegmenter } from './embedders.ts';
import { FaceDetector, FaceEmbedder } from './faces.ts';
import { openModel, type ModelSession } from './session.ts';

/** Every model the recognition core uses, loaded, verified and warm. */
export interface VisionModels {
  detector: Detector;
  faceDetector: FaceDetector;
  faceEmbedder: FaceEmbedder;
  objectEmbedder: ObjectEmbedder;
  bodyEmbedder: BodyEmbedder | null;
  salient: SalientSegmenter | null;
  /** Per embedding space, the lowest similarity that may count as a match (models manifest `similarityFloor`). */
  floors: Record<EmbeddingSpace, number>;
  sessions: ModelSession[];
  release(): Promise<void>;
}

export async function loadVisionModels(config: ResolvedConfig): Promise<VisionModels> {
  const manifest = loadModelsManifest(config.paths.modelsManifest);
  const options = {
    providers: config.inference.providers,
    intraOpThreads: config.inference.intraOpThreads,
    verifyHashes: config.models.verifyHashes,
  };
  const open = (role: ModelRole) => {
    const entry = manifest.models[role];
    return entry ? openModel(role, entry, config.paths.modelsDir, options) : Promise.resolve(null);
  };
  const [det, faceDet, faceEmb, objEmb, body, sal] = [
    await open('detector'),
    await open('faceDetector'),
    await open('faceEmbedder'),
    await open('objectEmbedder'),
    config.recognition.bodyCue ? await open('bodyEmbedder') : null,
    config.recognition.salientMask ? await open('salient') : null,
  ];
  const sessions = [det, faceDet, faceEmb, objEmb, body, sal].filter((s): s is ModelSession => s !== null);
  const models: VisionModels = {
    detector: new Detector(det!, config.recognition.detectorInput),
    faceDetector: new FaceDetector(faceDet!),
    faceEmbedder: new FaceEmbedder(faceEmb!),
    objectEmbedder: new ObjectEmbedder(objEmb!),
    bodyEmbedder: body ? new BodyEmbedder(body) : null,
    salient: sal ? new SalientSegmenter(sal) : null,
    floors: {
      face: manifest.models.faceEmbedder.similarityFloor ?? 0.4,
      object: manifest.models.objectEmbedder.similarityFloor ?? 0.75,
      body: manifest.models.bodyEmbedder?.similarityFloor ?? 0.8,
    },
    sessions,
    release: async () => {
      await Promise.all(sessions.map((s) => s.release()));
    },
  };
  if (config.inference.warmup) await warmUp(models);
  for (const s of sessions) s.stats.runs = s.stats.ms = 0;
  return models;
}

/** One run of each model on a grey image: the first run of a session allocates and is several times slower. */
async function warmUp(m: VisionModels): Promise<void> {
  const grey: RgbImage = { width: 224, height: 224, data: new Uint8Array(224 * 224 * 3).fill(128) };
  await m.detector.detect(grey, { scoreThreshold: 0.99, nmsIou: 0.5, classAgnostic: true, limit: 1 });
  await m.faceDetector.detect(grey, { longSide: 640, scoreThreshold: 0.99, minSize: 1 });
  await m.faceEmbedder.embed({ width: 112, height: 112, data: new Uint8Array(112 * 112 * 3).fill(128) });
  await m.objectEmbedder.embed([grey]);
  await m.bodyEmbedder?.embed([grey]);
  await m.salient?.mask(grey);
}

/** Model run time per role since the last reset, for benchmarks and status. */
export function modelStats(m: VisionModels): Record<string, { runs: number; ms: number; provider: string }> {
  return Object.fromEntries(m.sessions.map((s) => [s.role, { runs: s.stats.runs, ms: s.stats.ms, provider: s.provider }]));
}
