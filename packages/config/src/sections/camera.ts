import { z } from 'zod';

// Owned by the camera package work (issue 3). Extend freely; keep every field described and defaulted.
export const CameraConfig = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/).describe('Camera id (lower-case, unique).'),
    room: z.string().min(1).max(64).describe('Room the camera looks at, e.g. "living room".'),
    source: z
      .object({
        kind: z.enum(['replay', 'ffmpeg', 'node-webcam', 'gstreamer-csi']).describe('Which FrameSource adapter to use.'),
        uri: z.string().min(1).describe('replay: a folder of images or a video file; ffmpeg: /dev/videoN, rtsp://…, http(s)://… or a file; node-webcam: /dev/videoN; gstreamer-csi: sensor id.'),
      })
      .strict(),
    fps: z.number().positive().max(60).default(10).describe('Frame-rate cap.'),
  })
  .strict();
export type CameraConfig = z.infer<typeof CameraConfig>;

export const CamerasConfig = z.array(CameraConfig).default([]).describe('Cameras to run; empty = no live perception.');
