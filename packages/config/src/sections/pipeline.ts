import { z } from 'zod';

export const PipelineConfig = z
  .object({
    salientEveryFrames: z
      .number()
      .int()
      .min(0)
      .max(1000)
      .default(0)
      .describe('Live frames: run the salient-object mask on every Nth frame only (0 = never; it costs ~250 ms on a 2-core CPU). Enrolment and single images always use it.'),
    defaultCamera: z.string().optional().describe('Camera used when a client asks about "the current view" without naming one (default: the first).'),
    devToken: z
      .boolean()
      .default(true)
      .describe('When no access token is configured, create a random control token at start, store it (mode 0600) in <store>/dev-token and print it.'),
  })
  .strict();
export type PipelineConfig = z.infer<typeof PipelineConfig>;
