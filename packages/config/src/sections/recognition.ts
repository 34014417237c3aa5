import { z } from 'zod';

export const RecognitionConfig = z
  .object({
    analysisMaxSide: z
      .number()
      .int()
      .min(160)
      .max(4096)
      .default(800)
      .describe('Images are shrunk so their long side is at most this before analysis (boxes are reported in original pixels).'),
    detectorInput: z.number().int().min(160).max(1280).multipleOf(32).default(416).describe('Detector letterbox size in pixels (square).'),
    detectorScore: z.number().min(0).max(1).default(0.25).describe('Minimum objectness x class score for a detector proposal.'),
    nmsIou: z.number().min(0).max(1).default(0.45).describe('IoU above which overlapping proposals are suppressed.'),
    maxProposals: z.number().int().min(1).max(200).default(12).describe('At most this many object proposals are embedded per image.'),
    faceScore: z.number().min(0).max(1).default(0.6).describe('Minimum YuNet face score.'),
    faceInputLongSide: z.number().int().min(160).max(1920).default(640).describe('Long side the face detector sees.'),
    minFaceSize: z.number().int().min(8).default(20).describe('Faces smaller than this (pixels, shorter side) are ignored.'),
    salientMask: z.boolean().default(true).describe('Cut objects out with the salient-object mask before embedding (better precision, slower).'),
    bodyCue: z.boolean().default(true).describe('Use body appearance (re-identification model) for people whose face is not visible.'),
    margin: z
      .number()
      .min(0)
      .max(1)
      .default(0.0)
      .describe('Extra similarity a match must have over the calibrated threshold (raise for fewer false positives).'),
  })
  .strict();
export type RecognitionConfig = z.infer<typeof RecognitionConfig>;
