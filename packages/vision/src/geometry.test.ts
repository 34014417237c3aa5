import { describe, expect, it } from 'vitest';
import { estimateSimilarity } from './faces.ts';
import { iou } from '@familiar/contracts';
import { nms } from './geometry.ts';
import { writeChw } from './tensor.ts';

describe('nms', () => {
  it('keeps the stronger of two overlapping boxes and leaves distant boxes alone', () => {
    const a = { box: { xmin: 0, ymin: 0, xmax: 10, ymax: 10 }, score: 0.9 };
    const b = { box: { xmin: 1, ymin: 1, xmax: 11, ymax: 11 }, score: 0.8 };
    const c = { box: { xmin: 50, ymin: 50, xmax: 60, ymax: 60 }, score: 0.5 };
    expect(nms([b, c, a], 0.45)).toEqual([a, c]);
    expect(iou(a.box, b.box)).toBeCloseTo(81 / 119, 6);
  });
});

describe('estimateSimilarity', () => {
  it('recovers a known rotation, scale and translation from five points', () => {
    const dst = [
      { x: 38, y: 51 },
      { x: 73, y: 51 },
      { x: 56, y: 71 },
      { x: 41, y: 92 },
      { x: 70, y: 92 },
    ];
    const a = 1.7 * Math.cos(0.3);
    const b = 1.7 * Math.sin(0.3);
    const src = dst.map((p) => ({ x: a * p.x - b * p.y + 12, y: b * p.x + a * p.y - 5 }));
    const t = estimateSimilarity(dst, src);
    expect(t.a).toBeCloseTo(a, 6);
    expect(t.b).toBeCloseTo(b, 6);
    expect(t.tx).toBeCloseTo(12, 4);
    expect(t.ty).toBeCloseTo(-5, 4);
  });
});

describe('writeChw', () => {
  it('writes BGR raw planes and pads the letterbox', () => {
    const img = { width: 1, height: 1, data: new Uint8Array([10, 20, 30]) };
    const out = new Float32Array(3 * 2 * 1);
    writeChw(img, 'BGR', 'raw', out, 0, { width: 2, height: 1, value: 114 });
    expect(Array.from(out)).toEqual([30, 114, 20, 114, 10, 114]);
  });
  it('normalises RGB with ImageNet statistics', () => {
    const img = { width: 1, height: 1, data: new Uint8Array([255, 0, 128]) };
    const out = new Float32Array(3);
    writeChw(img, 'RGB', 'imagenet', out);
    expect(out[0]).toBeCloseTo((1 - 0.485) / 0.229, 4);
    expect(out[1]).toBeCloseTo((0 - 0.456) / 0.224, 4);
    expect(out[2]).toBeCloseTo((128 / 255 - 0.406) / 0.225, 4);
  });
});
