import { z } from 'zod';

// Owned by the memory work (issues 3 and 5). Extend freely; keep every field described and defaulted.
export const MemoryConfig = z
  .object({
    sightingRetentionDays: z.number().positive().default(90).describe('Sightings older than this are deleted.'),
    sightingMaxRecords: z
      .number()
      .int()
      .min(100)
      .max(1_000_000)
      .default(50_000)
      .describe('Most sightings kept (memory and disk are bounded by it); the oldest are dropped first.'),
    sightingFlushMs: z
      .number()
      .int()
      .min(10)
      .max(1000)
      .default(500)
      .describe('Longest delay before a new or ended sighting is fsynced to disk, in milliseconds.'),
    sightingUpdatePersistMs: z
      .number()
      .int()
      .min(100)
      .max(60_000)
      .default(5000)
      .describe('How often the position and last-seen time of an ongoing sighting are written to disk, in milliseconds (a crash loses at most this much of it).'),
  })
  .strict();
export type MemoryConfig = z.infer<typeof MemoryConfig>;
