import type { Box } from './types.ts';

/** Area of a box; 0 for an empty or inverted one. */
function area(b: Box): number {
  return Math.max(0, b.xmax - b.xmin) * Math.max(0, b.ymax - b.ymin);
}

function intersection(a: Box, b: Box): number {
  const ix = Math.max(0, Math.min(a.xmax, b.xmax) - Math.max(a.xmin, b.xmin));
  const iy = Math.max(0, Math.min(a.ymax, b.ymax) - Math.max(a.ymin, b.ymin));
  return ix * iy;
}

/** Intersection over union of two boxes (0 when they do not overlap or both are empty). */
export function iou(a: Box, b: Box): number {
  const inter = intersection(a, b);
  const union = area(a) + area(b) - inter;
  return union > 0 ? inter / union : 0;
}

/** Share of `inner`'s area that lies inside `outer` (0 for an empty `inner`). */
export function containment(inner: Box, outer: Box): number {
  const a = area(inner);
  return a > 0 ? intersection(inner, outer) / a : 0;
}

/**
 * A box in another pixel space: `s` is target pixels per source pixel (an analysed image shrunk by `scale`
 * goes back to original pixels with `scaleBox(b, scale)`, and down with `scaleBox(b, 1 / scale)`).
 */
export function scaleBox(b: Box, s: number): Box {
  return { xmin: b.xmin * s, ymin: b.ymin * s, xmax: b.xmax * s, ymax: b.ymax * s };
}

/** The box on whole pixels (what reports and clients get). */
export function roundBox(b: Box): Box {
  return { xmin: Math.round(b.xmin), ymin: Math.round(b.ymin), xmax: Math.round(b.xmax), ymax: Math.round(b.ymax) };
}
