import type { CameraSupervisionConfig } from '@familiar/config';
import { FamiliarError } from '@familiar/contracts';
import { MjpegProcessSource } from './process-source.ts';

/** A Jetson CSI camera as nvarguscamerasrc sees it. */
export interface CsiCameraSpec {
  /** nvarguscamerasrc sensor-id, 0-7. */
  sensorId: number;
  width: number;
  height: number;
  captureFps: number;
  /** nvvidconv flip-method 0-7; 0 skips the converter. */
  flipMethod: number;
}

export interface GstreamerCsiOptions {
  supervision: CameraSupervisionConfig;
  env?: NodeJS.ProcessEnv;
}

/** Parses the configured uri of a gstreamer-csi camera: the sensor id. */
export function parseCsiSensorId(uri: string): number {
  if (!/^[0-7]$/.test(uri)) throw new FamiliarError('CONFIG_INVALID', `gstreamer-csi uri must be a sensor id 0-7, got "${uri}"`);
  return Number(uri);
}

/**
 * gst-launch-1.0 arguments: the sensor in NVMM memory, hardware JPEG (nvjpegenc), bytes to stdout.
 * Each element and caps string is its own argv entry (gst-launch joins them), so no shell is involved.
 */
export function gstreamerCsiArgs(spec: CsiCameraSpec): string[] {
  checkInt('sensorId', spec.sensorId, 0, 7);
  checkInt('width', spec.width, 16, 7680);
  checkInt('height', spec.height, 16, 4320);
  checkInt('captureFps', spec.captureFps, 1, 120);
  checkInt('flipMethod', spec.flipMethod, 0, 7);
  const args = [
    // -q keeps gst-launch's own progress lines off stdout (the JPEG stream); -e turns SIGINT into EOS so
    // the Argus daemon releases the sensor cleanly.
    '-q',
    '-e',
    'nvarguscamerasrc',
    `sensor-id=${spec.sensorId}`,
    '!',
    `video/x-raw(memory:NVMM),width=${spec.width},height=${spec.height},framerate=${spec.captureFps}/1,format=NV12`,
  ];
  if (spec.flipMethod !== 0) args.push('!', 'nvvidconv', `flip-method=${spec.flipMethod}`);
  args.push('!', 'nvjpegenc', 'quality=85', '!', 'fdsink', 'fd=1');
  return args;
}

// The values end up inside one pipeline description string, so only plain integers may pass.
function checkInt(name: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) throw new FamiliarError('CONFIG_INVALID', `gstreamer-csi ${name} must be an integer in ${min}..${max}, got ${v}`);
}

/** The supervised gst-launch source of a Jetson CSI camera. */
export function createGstreamerCsiSource(id: string, spec: CsiCameraSpec, options: GstreamerCsiOptions): MjpegProcessSource {
  return new MjpegProcessSource(
    id,
    { tool: 'gst-launch-1.0', args: gstreamerCsiArgs(spec) },
    { supervision: options.supervision, stopSignal: 'SIGINT', ...(options.env ? { env: options.env } : {}) },
  );
}
