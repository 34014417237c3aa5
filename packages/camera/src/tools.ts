import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { FamiliarError } from '@familiar/contracts';

/** System programs the camera adapters run, and how to get each. */
export const CAMERA_TOOLS = {
  ffmpeg: 'apt-get install --no-install-recommends ffmpeg',
  fswebcam: 'apt-get install --no-install-recommends fswebcam',
  'gst-launch-1.0': 'on Jetson: JetPack ships it (nvarguscamerasrc, nvjpegenc); elsewhere apt-get install gstreamer1.0-tools',
} as const;
export type CameraTool = keyof typeof CAMERA_TOOLS;

/** Absolute path of an executable on PATH, or null. */
export function findTool(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return null;
}

/** Path of the tool, or a TOOL_MISSING error that says how to install it. */
export function requireTool(name: CameraTool, env: NodeJS.ProcessEnv = process.env): string {
  const found = findTool(name, env);
  if (found) return found;
  throw new FamiliarError('TOOL_MISSING', `${name} is not installed (not found on PATH); install it: ${CAMERA_TOOLS[name]}`, {
    details: { tool: name },
  });
}
