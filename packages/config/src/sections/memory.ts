import { z } from 'zod';

// Owned by the memory work (issues 3 and 5). Extend freely; keep every field described and defaulted.
export const MemoryConfig = z
  .object({
    sightingRetentionDays: z.number().positive().default(90).describe('Sightings older than this are deleted.'),
  })
  .strict();
export type MemoryConfig = z.infer<typeof MemoryConfig>;
