import { z } from 'zod';

// Owned by the camera package work (issue 3). Extend freely; keep every field described and defaulted.

const SOURCE_KINDS = ['replay', 'ffmpeg', 'node-webcam', 'gstreamer-csi'] as const;

const CameraSourceConfig = z
  .object({
    kind: z.enum(SOURCE_KINDS).describe('Which FrameSource adapter to use.'),
    uri: z
      .string()
      .min(1)
      .max(1024)
      .describe(
        'replay: a folder of images, one image or a video file (relative paths are taken from the repository root); ' +
          'ffmpeg: /dev/videoN, rtsp(s)://…, http(s)://… or a video file; node-webcam: /dev/videoN, /dev/v4l/by-id/… or TEST: ' +
          "(fswebcam's built-in test pattern); gstreamer-csi: the sensor id (0-7).",
      ),
    loop: z.boolean().default(true).describe('replay: start again after the last image or the end of the video (false: play once, then stop).'),
    width: z.number().int().min(16).max(7680).optional().describe('Capture width asked of the device (V4L2, fswebcam, CSI); unset = the device default (CSI: 1280).'),
    height: z.number().int().min(16).max(4320).optional().describe('Capture height asked of the device; set together with width.'),
    captureFps: z
      .number()
      .int()
      .min(1)
      .max(120)
      .optional()
      .describe('Frame rate asked of the device (V4L2 -framerate, CSI framerate); unset = device default (CSI: 30). Frames above `fps` are dropped, not decoded.'),
    v4l2Format: z
      .enum(['mjpeg', 'yuyv422'])
      .default('mjpeg')
      .describe('ffmpeg on /dev/videoN: mjpeg = pass the camera JPEGs through untouched (no CPU); yuyv422 = raw camera, JPEG-encoded by ffmpeg.'),
    skipFrames: z.number().int().min(0).max(30).default(2).describe('node-webcam: frames fswebcam discards before each still so exposure can settle.'),
    flipMethod: z.number().int().min(0).max(7).default(0).describe('gstreamer-csi: nvvidconv flip-method (0 none, 2 rotate 180, …).'),
  })
  .strict()
  .superRefine((src, ctx) => {
    if ((src.width === undefined) !== (src.height === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['width'], message: 'width and height must be set together' });
    }
  });
export type CameraSourceConfig = z.infer<typeof CameraSourceConfig>;

export const CameraSupervisionConfig = z
  .object({
    startTimeoutMs: z.number().int().min(500).max(120_000).default(15_000).describe('No first frame this long after a (re)start => restart the source.'),
    stallTimeoutMs: z.number().int().min(200).max(120_000).default(5_000).describe('No frame this long while streaming => the source is stalled and restarted.'),
    restartInitialMs: z.number().int().min(10).max(60_000).default(500).describe('First restart delay; doubles after each failed attempt.'),
    restartMaxMs: z.number().int().min(10).max(600_000).default(30_000).describe('Cap of the restart delay.'),
    restartJitter: z.number().min(0).max(1).default(0.2).describe('Random fraction (±) applied to each restart delay so many cameras do not reconnect in lockstep.'),
    maxFrameBytes: z
      .number()
      .int()
      .min(64 * 1024)
      .max(64 * 1024 * 1024)
      .default(8 * 1024 * 1024)
      .describe('Largest JPEG accepted from a stream; bytes beyond this without an end-of-image marker are discarded as garbage.'),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.restartMaxMs < s.restartInitialMs) ctx.addIssue({ code: 'custom', path: ['restartMaxMs'], message: 'restartMaxMs must be >= restartInitialMs' });
  });
export type CameraSupervisionConfig = z.infer<typeof CameraSupervisionConfig>;

export const CameraConfig = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/).describe('Camera id (lower-case, unique).'),
    room: z.string().min(1).max(64).describe('Room the camera looks at, e.g. "living room".'),
    source: CameraSourceConfig,
    fps: z.number().positive().max(60).default(10).describe('Frame-rate cap: frames arriving faster are dropped (and counted) before decoding.'),
    supervision: CameraSupervisionConfig.default(CameraSupervisionConfig.parse({})).describe('Restart, stall and stream-size policy of process-backed sources.'),
  })
  .strict();
export type CameraConfig = z.infer<typeof CameraConfig>;

export const CamerasConfig = z
  .array(CameraConfig)
  .max(32)
  .default([])
  .superRefine((cams, ctx) => {
    const seen = new Set<string>();
    cams.forEach((c, i) => {
      if (seen.has(c.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `camera id "${c.id}" is used twice` });
      seen.add(c.id);
    });
  })
  .describe('Cameras to run; empty = no live perception.');

const CONCEPT_KINDS = ['person', 'pet', 'object'] as const;

/** Tracker, temporal-voting and scene-event knobs (one set for every camera). */
export const TrackingConfig = z
  .object({
    minIou: z.number().min(0).max(1).default(0.1).describe('An observation continues a track only if its box overlaps the predicted box by at least this IoU (or its appearance matches, see below).'),
    appearanceWeight: z.number().min(0).max(1).default(0.5).describe('Weight of appearance cosine (vs. IoU) in the association cost when both sides have an embedding.'),
    appearanceMatch: z
      .number()
      .min(-1)
      .max(1)
      .default(0.75)
      .describe('Appearance cosine at which an observation may continue a track even without box overlap (fast motion, low fps), within maxJump.'),
    maxJump: z.number().min(0).max(2).default(0.3).describe('Farthest a track centre may jump between frames when associated by appearance alone (fraction of the frame diagonal).'),
    voteWindow: z.number().int().min(1).max(60).default(5).describe('n: identity votes are counted over the last n frames of the camera.'),
    voteMinFrames: z.number().int().min(1).max(60).default(3).describe('k: a name (or "unknown") is adopted only after winning at least k of the last n frames.'),
    maxMissedFrames: z.number().int().min(0).max(600).default(5).describe('A confirmed track ends when it has been missed in more than this many consecutive frames …'),
    maxMissedMs: z.number().int().min(0).max(600_000).default(2_000).describe('… and for more than this many milliseconds (both must hold, so short dropouts at any fps keep it).'),
    moveFraction: z.number().min(0).max(2).default(0.15).describe('A `moved` event fires when the box centre has moved this fraction of the frame since the last report, or changed region.'),
    maxTracksPerCamera: z.number().int().min(1).max(1000).default(64).describe('Bound on live tracks per camera; unmatched observations beyond it start no track.'),
    unknownKinds: z
      .array(z.enum(CONCEPT_KINDS))
      .default(['person'])
      .describe('Kinds whose unrecognised tracks are reported as scene events (conceptId null); other unrecognised regions are tracked silently until recognised.'),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.voteMinFrames > t.voteWindow) ctx.addIssue({ code: 'custom', path: ['voteMinFrames'], message: 'voteMinFrames (k) must be <= voteWindow (n)' });
  });
export type TrackingConfig = z.infer<typeof TrackingConfig>;
