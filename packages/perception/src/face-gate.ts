import type { FaceDetection } from '@familiar/vision';

/**
 * Geometry of a human face as YuNet reports it, measured on the development photos (225 human faces: box height /
 * width 0.81–2.48, 1st percentile 1.02; eye-line to mouth-line 0.31–0.57 of the box height). YuNet also fires on dogs,
 * cats, toys and clock dials; their boxes are squarer and their "mouth" sits closer to the "eyes" (down to 0.24).
 * The bounds sit just outside the human range, so they cost (almost) no real face.
 */
const MIN_ASPECT = 0.95;
const MAX_ASPECT = 2.6;
const MIN_EYE_TO_MOUTH = 0.28;

/** Whether a face detection has a human face's shape (a cheap gate; the person/animal box check comes after it). */
export function isHumanFace(f: FaceDetection): boolean {
  const w = f.box.xmax - f.box.xmin;
  const h = f.box.ymax - f.box.ymin;
  if (w <= 0 || h <= 0) return false;
  const aspect = h / w;
  if (aspect < MIN_ASPECT || aspect > MAX_ASPECT) return false;
  const [rightEye, leftEye, , rightMouth, leftMouth] = f.landmarks;
  if (!rightEye || !leftEye || !rightMouth || !leftMouth) return false;
  const eyeLine = (rightEye.y + leftEye.y) / 2;
  const mouthLine = (rightMouth.y + leftMouth.y) / 2;
  return (mouthLine - eyeLine) / h >= MIN_EYE_TO_MOUTH;
}
