import { iou, type Box } from '@familiar/contracts';

/** Greedy non-maximum suppression; returns the kept items in descending score order. */
export function nms<T extends { box: Box; score: number }>(items: readonly T[], iouThreshold: number, limit = Infinity): T[] {
  const sorted = [...items].sort((a, b) => b.score - a.score);
  const kept: T[] = [];
  for (const it of sorted) {
    if (kept.length >= limit) break;
    if (kept.every((k) => iou(k.box, it.box) <= iouThreshold)) kept.push(it);
  }
  return kept;
}
