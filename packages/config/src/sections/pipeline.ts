import { z } from 'zod';

export const PipelineConfig = z
  .object({
    liveMask: z
      .enum(['on-change', 'off'])
      .default('on-change')
      .describe(
        'Live frames: the salient-object mask (~250 ms on a 2-core CPU, the largest gain in recognition) is computed when something new or moved is in view and reused while the scene is still ("on-change"), so every new track gets the same analysis as a photo; "off" never computes it on live frames (faster, weaker). Enrolment and single images always use it.',
      ),
    liveMaskMaxAgeFrames: z.number().int().min(1).max(10_000).default(50).describe('Live frames: the mask is recomputed at least every this many frames of a camera, even in a still scene.'),
    liveMaskBudget: z
      .number()
      .gt(0)
      .max(1)
      .default(0.1)
      .describe("Live frames: at most this share of a camera's time goes to the salient mask; in a busy scene new things are embedded with their context until the budget allows the next mask."),
    defaultCamera: z.string().optional().describe('Camera used when a client asks about "the current view" without naming one (default: the first).'),
    devToken: z
      .boolean()
      .default(true)
      .describe('When no access token is configured, create a random control token at start, store it (mode 0600) in <store>/dev-token and print it.'),
  })
  .strict();
export type PipelineConfig = z.infer<typeof PipelineConfig>;
