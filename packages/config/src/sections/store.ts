import { z } from 'zod';

export const StoreConfig = z
  .object({
    dir: z.string().default('.familiar/store').describe('Directory of the persistent store, relative to the repository root. Env FAMILIAR_STORE_DIR overrides.'),
    embeddingsOnly: z.boolean().default(true).describe('Keep no photos or crops at all, only embeddings. false: also keep one small thumbnail (≤ 160 px) of each concept, for people to recognise it in the console; erased with the concept, and all erased when this turns true again.'),
    hnswAbove: z.number().int().min(0).default(20000).describe('Use the HNSW index once this many views are enrolled; exact search below.'),
    hnswM: z.number().int().min(4).max(96).default(16).describe('HNSW graph degree.'),
    hnswEfConstruction: z.number().int().min(16).max(1000).default(200).describe('HNSW construction beam width.'),
    hnswEfSearch: z.number().int().min(16).max(2000).default(256).describe('HNSW search beam width (recall vs speed).'),
  })
  .strict();
export type StoreConfig = z.infer<typeof StoreConfig>;

export const LimitsConfig = z
  .object({
    maxImageBytes: z.number().int().positive().default(25 * 1024 * 1024).describe('Largest encoded image accepted, in bytes.'),
    maxImagePixels: z.number().int().positive().default(50_000_000).describe('Largest decoded image accepted, in pixels (guards decompression bombs).'),
    minImageSide: z.number().int().positive().default(16).describe('Smallest accepted image side, in pixels.'),
    maxPhotosPerEnrol: z.number().int().positive().default(32).describe('Most photos one enrolment may carry.'),
  })
  .strict();
export type LimitsConfig = z.infer<typeof LimitsConfig>;
