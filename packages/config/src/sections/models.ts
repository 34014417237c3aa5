import { z } from 'zod';

export const ModelRole = z.enum(['detector', 'faceDetector', 'faceEmbedder', 'objectEmbedder', 'bodyEmbedder', 'salient']);
export type ModelRole = z.infer<typeof ModelRole>;

const Dim = z.union([z.number().int().positive(), z.literal('dynamic')]);

const ModelInputSpec = z
  .object({
    name: z.string().min(1).describe('Name of the input tensor.'),
    layout: z.literal('NCHW').describe('Tensor layout.'),
    channels: z.enum(['RGB', 'BGR']).describe('Channel order the model was trained with.'),
    width: Dim.describe('Input width in pixels, or "dynamic".'),
    height: Dim.describe('Input height in pixels, or "dynamic".'),
    scale: z
      .enum(['raw', 'imagenet', 'max-imagenet'])
      .describe('Pixel scaling: raw 0-255; imagenet = (x/255-mean)/std; max-imagenet = (x/max-mean)/std.'),
  })
  .strict();
export type ModelInputSpec = z.infer<typeof ModelInputSpec>;

export const ModelEntry = z
  .object({
    file: z.string().min(1).describe('File name inside the models directory.'),
    sha256: z.string().regex(/^[0-9a-f]{64}$/).describe('Expected sha256 of the file (lower-case hex).'),
    input: ModelInputSpec,
    outputs: z.array(z.string().min(1)).min(1).describe('Output tensor names the runtime reads.'),
    url: z.string().url().optional().describe('Where `familiar models fetch` downloads the file from on a connected machine (verified against sha256).'),
    similarityFloor: z
      .number()
      .min(-1)
      .max(1)
      .optional()
      .describe(
        "Embedders only: the lowest cosine similarity that may count as a match with this model, measured on data (about the 95th-99th percentile of different-concept similarities). Per-concept thresholds are calibrated upwards from it at enrolment.",
      ),
  })
  .strict();
export type ModelEntry = z.infer<typeof ModelEntry>;

export const ModelsManifest = z
  .object({
    models: z
      .object({
        detector: ModelEntry,
        faceDetector: ModelEntry,
        faceEmbedder: ModelEntry,
        objectEmbedder: ModelEntry,
        bodyEmbedder: ModelEntry.optional(),
        salient: ModelEntry.optional(),
      })
      .strict(),
    cohort: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Cohort file (relative to this manifest's folder): embeddings of unrelated people, pets, objects and rooms computed with these embedders by `familiar cohort build`. Thresholds are calibrated against it and a region must be closer to a concept than to anything in it. Each of its spaces records the embedder's sha256; a swapped embedder needs a rebuilt cohort.",
      ),
  })
  .strict();
export type ModelsManifest = z.infer<typeof ModelsManifest>;

export const ModelsConfig = z
  .object({
    dir: z
      .string()
      .default('../shared/models')
      .describe('Directory holding the model files; relative paths resolve against the repository root. Env FAMILIAR_MODELS_DIR overrides.'),
    manifest: z.string().default('config/models.yaml').describe('Models manifest (role, file, sha256, input spec), relative to the repository root.'),
    verifyHashes: z.boolean().default(true).describe('Check every model file against its sha256 before loading it.'),
  })
  .strict();

export const Provider = z.enum(['tensorrt', 'cuda', 'webgpu', 'cpu']);
export type Provider = z.infer<typeof Provider>;

export const InferenceConfig = z
  .object({
    providers: z
      .array(Provider)
      .min(1)
      .default(['cpu'])
      .describe('Execution providers in order of preference; each one that cannot load falls back to the next (cpu always last).'),
    intraOpThreads: z.number().int().min(0).max(64).default(0).describe('ONNX Runtime intra-op threads per session (0 = library default).'),
    warmup: z.boolean().default(true).describe('Run each model once at start so the first frame is not slow.'),
  })
  .strict();
