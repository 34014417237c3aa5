import { statSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, type CameraConfig } from '@familiar/config';
import { FamiliarError } from '@familiar/contracts';
import { classifyFfmpegUri, createFfmpegSource } from './ffmpeg.ts';
import { createGstreamerCsiSource, parseCsiSensorId } from './gstreamer.ts';
import { NodeWebcamSource } from './node-webcam.ts';
import { FolderReplaySource, isReplayImage, type ReplayWarning } from './replay.ts';
import type { FrameSource } from './source.ts';
import { requireTool } from './tools.ts';

export interface CreateFrameSourceOptions {
  /** Relative replay/file paths are resolved from here (default: the repository root). */
  baseDir?: string;
  /** Environment for tool look-ups and child processes (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Told about replay files that are skipped. */
  onWarning?: (warning: ReplayWarning) => void;
}

const CSI_DEFAULTS = { width: 1280, height: 720, captureFps: 30 };
const WEBCAM_DEFAULTS = { width: 1280, height: 720 };

/**
 * The source a camera entry describes. Throws at once (FamiliarError) for what cannot work however
 * long one waits: a missing system tool (TOOL_MISSING, with the install command), a malformed uri or
 * device path (CONFIG_INVALID), a replay path that does not exist (CAMERA_UNAVAILABLE). Trouble that may
 * pass (a camera not answering yet) is reported later through the source's `status` events.
 */
export function createFrameSource(config: CameraConfig, options: CreateFrameSourceOptions = {}): FrameSource {
  const baseDir = options.baseDir ?? REPO_ROOT;
  const env = options.env ?? process.env;
  const { source, supervision, fps, id } = config;
  const envOpt = options.env ? { env } : {};
  switch (source.kind) {
    case 'replay': {
      const target = path.resolve(baseDir, source.uri);
      let isDir: boolean;
      try {
        isDir = statSync(target).isDirectory();
      } catch (cause) {
        throw new FamiliarError('CAMERA_UNAVAILABLE', `camera ${id}: replay source ${target} does not exist`, { cause });
      }
      if (isDir || isReplayImage(target)) {
        return new FolderReplaySource(id, {
          path: target,
          fps,
          loop: source.loop,
          maxFrameBytes: supervision.maxFrameBytes,
          ...(options.onWarning ? { onWarning: options.onWarning } : {}),
        });
      }
      requireTool('ffmpeg', env);
      return createFfmpegSource(id, { type: 'file', file: target, loop: source.loop }, { fps, supervision, ...envOpt });
    }
    case 'ffmpeg': {
      requireTool('ffmpeg', env);
      const input = classifyFfmpegUri(source.uri, {
        baseDir,
        loop: source.loop,
        v4l2Format: source.v4l2Format,
        ...(source.width !== undefined && source.height !== undefined ? { width: source.width, height: source.height } : {}),
        ...(source.captureFps !== undefined ? { captureFps: source.captureFps } : {}),
      });
      return createFfmpegSource(id, input, { fps, supervision, ...envOpt });
    }
    case 'node-webcam':
      requireTool('fswebcam', env);
      return new NodeWebcamSource(id, {
        device: source.uri,
        fps,
        width: source.width ?? WEBCAM_DEFAULTS.width,
        height: source.height ?? WEBCAM_DEFAULTS.height,
        skipFrames: source.skipFrames,
        supervision,
        ...envOpt,
      });
    case 'gstreamer-csi':
      requireTool('gst-launch-1.0', env);
      return createGstreamerCsiSource(
        id,
        {
          sensorId: parseCsiSensorId(source.uri),
          width: source.width ?? CSI_DEFAULTS.width,
          height: source.height ?? CSI_DEFAULTS.height,
          captureFps: source.captureFps ?? CSI_DEFAULTS.captureFps,
          flipMethod: source.flipMethod,
        },
        { supervision, ...envOpt },
      );
  }
}
