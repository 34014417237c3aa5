import type { Box, RgbImage } from '@familiar/contracts';
import { resizeRgb } from '@familiar/image';
import { nms } from './geometry.ts';
import { float32Tensor, type ModelSession } from './session.ts';
import { writeChw } from './tensor.ts';

export interface DetectorProposal {
  box: Box;
  /** objectness × best class probability. */
  score: number;
  /** Class-agnostic objectness. */
  objectness: number;
  classId: number;
}

export interface DetectOptions {
  scoreThreshold: number;
  nmsIou: number;
  /** Class-agnostic NMS: personal objects are often not COCO classes, so a box is kept whatever its class. */
  classAgnostic: boolean;
  limit: number;
}

const STRIDES = [8, 16, 32] as const;

/** YOLOX-nano: letterbox top-left (pad 114), BGR 0-255, decode per anchor point, NMS. */
export class Detector {
  readonly size: number;
  readonly #model: ModelSession;
  readonly #buf: Float32Array;

  constructor(model: ModelSession, size: number) {
    this.#model = model;
    this.size = size;
    this.#buf = new Float32Array(3 * size * size);
  }

  async detect(img: RgbImage, opts: DetectOptions): Promise<DetectorProposal[]> {
    const S = this.size;
    const r = Math.min(S / img.width, S / img.height);
    const w = Math.max(1, Math.round(img.width * r));
    const h = Math.max(1, Math.round(img.height * r));
    const resized = await resizeRgb(img, w, h);
    // The buffer is reused across calls: ORT copies it into the run's input before run() resolves.
    writeChw(resized, 'BGR', 'raw', this.#buf, 0, { width: S, height: S, value: 114 });
    const out = await this.#model.run({ [this.#model.inputName]: float32Tensor(this.#buf, [1, 3, S, S]) });
    const t = out['output']!;
    const data = t.data as Float32Array;
    const dims = t.dims;
    const rows = dims[1]!;
    const cols = dims[2]!;
    const nc = cols - 5;
    const found: DetectorProposal[] = [];
    let row = 0;
    for (const s of STRIDES) {
      const g = Math.round(S / s);
      for (let gy = 0; gy < g; gy++) {
        for (let gx = 0; gx < g; gx++, row++) {
          if (row >= rows) break;
          const o = row * cols;
          const obj = data[o + 4]!;
          if (obj < opts.scoreThreshold * 0.5) continue;
          let best = 0;
          let cls = 0;
          for (let c = 0; c < nc; c++) {
            const p = data[o + 5 + c]!;
            if (p > best) {
              best = p;
              cls = c;
            }
          }
          const score = obj * best;
          if (score < opts.scoreThreshold && !(opts.classAgnostic && obj >= opts.scoreThreshold)) continue;
          const cx = (data[o]! + gx) * s;
          const cy = (data[o + 1]! + gy) * s;
          const bw = Math.exp(data[o + 2]!) * s;
          const bh = Math.exp(data[o + 3]!) * s;
          found.push({
            box: {
              xmin: Math.max(0, (cx - bw / 2) / r),
              ymin: Math.max(0, (cy - bh / 2) / r),
              xmax: Math.min(img.width, (cx + bw / 2) / r),
              ymax: Math.min(img.height, (cy + bh / 2) / r),
            },
            score: opts.classAgnostic ? Math.max(score, obj) : score,
            objectness: obj,
            classId: cls,
          });
        }
      }
    }
    if (opts.classAgnostic) return nms(found, opts.nmsIou, opts.limit);
    const byClass = new Map<number, DetectorProposal[]>();
    for (const p of found) byClass.set(p.classId, [...(byClass.get(p.classId) ?? []), p]);
    const kept = [...byClass.values()].flatMap((list) => nms(list, opts.nmsIou));
    return kept.sort((a, b) => b.score - a.score).slice(0, opts.limit);
  }
}
