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
    noteRetentionDays: z.number().positive().default(365).describe('Notes (what users said about concepts) older than this are deleted.'),
    noteMaxRecords: z.number().int().min(10).max(1_000_000).default(10_000).describe('Most notes kept; the oldest are dropped first.'),
    noteMaxPerMember: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(1000)
      .describe("Most notes one speaker (a token's member; tokens without one count together) keeps; past it that speaker's own oldest note is dropped, never another member's."),
    noteMaxLength: z.number().int().min(10).max(100_000).default(2000).describe('Longest note text accepted, in characters.'),
    mentionWindowSeconds: z
      .number()
      .positive()
      .max(3600)
      .default(60)
      .describe('When recalling a mention, visits within this many seconds of it count as "in view at the time".'),
    triggerMaxCount: z.number().int().min(1).max(100_000).default(500).describe('Most active triggers (reminders); adding more fails with INPUT_INVALID (details.reason "cap").'),
    triggerMaxPerMember: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(50)
      .describe('Most active reminders created for one member (or one token without a member); more fail with RATE_LIMITED, so one member cannot fill triggerMaxCount for everyone.'),
    triggerCooldownSeconds: z
      .number()
      .min(0)
      .max(7 * 24 * 3600)
      .default(600)
      .describe('Default quiet time after an every-time trigger fires, so a flickering track does not fire it twice, in seconds.'),
    triggerRetentionDays: z.number().positive().default(365).describe('Triggers neither created nor fired within this many days are deleted.'),
    preferenceMaxPerList: z.number().int().min(1).max(10_000).default(50).describe("Most likes (and most dislikes) kept per person; the oldest extracted ones are dropped first."),
    unknownJoinSimilarity: z
      .number()
      .min(-1)
      .max(1)
      .default(0.45)
      .describe(
        "An unrecognised face joins a provisional unknown identity only when its cosine similarity to one of the identity's views is at least this (MobileFaceNet).",
      ),
    unknownMeanSimilarity: z
      .number()
      .min(-1)
      .max(1)
      .default(0.54)
      .describe(
        "...and its similarity to the identity's mean view at least this, so a chain of look-alikes cannot merge two people; for a one-view identity this is the bar. " +
          'Calibrated on the face sets (189 photos, 15 people): the closest two different people scored 0.53, and 0.45/0.54 merged none in 500 arrival orders.',
      ),
    unknownViewsPerGroup: z.number().int().min(1).max(64).default(8).describe('Most face views kept per unknown identity (the most diverse ones).'),
    unknownMaxGroups: z.number().int().min(1).max(100_000).default(200).describe('Most unknown identities kept; the least recently seen is dropped first.'),
    unknownVisitorsEnabled: z
      .boolean()
      .default(true)
      .describe("Group unrecognised faces into provisional unknown visitors (their face embeddings are kept up to unknownRetentionDays). false: nothing is gathered, and what was gathered is erased at the next start."),
    unknownRetentionDays: z.number().positive().default(30).describe('Unknown identities not seen for this many days are deleted.'),
    unknownVisitGapSeconds: z
      .number()
      .min(0)
      .max(24 * 3600)
      .default(300)
      .describe('Sightings of an unknown identity closer together than this count as one visit ("seen 4 times this week"), in seconds.'),
  })
  .strict();
export type MemoryConfig = z.infer<typeof MemoryConfig>;
