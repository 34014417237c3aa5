import { normalise, type Box, type Point, type RgbImage } from '@familiar/contracts';
import { flipHorizontal, resizeRgb } from '@familiar/image';
import { nms } from './geometry.ts';
import { float32Tensor, type ModelSession } from './session.ts';
import { BatchBuffer, writeChw } from './tensor.ts';

export interface FaceDetection {
  box: Box;
  score: number;
  /** Right eye, left eye, nose tip, right mouth corner, left mouth corner (already the ArcFace template order). */
  landmarks: Point[];
}

const STRIDES = [8, 16, 32] as const;

/** YuNet (dynamic input): keep aspect, pad bottom/right to a multiple of 32, BGR 0-255. */
export class FaceDetector {
  readonly #model: ModelSession;
  /** Input buffer, grown to the largest frame seen. */
  readonly #input = new BatchBuffer();
  constructor(model: ModelSession) {
    this.#model = model;
  }

  async detect(img: RgbImage, opts: { longSide: number; scoreThreshold: number; minSize: number }): Promise<FaceDetection[]> {
    const r = Math.min(1, opts.longSide / Math.max(img.width, img.height));
    const w = Math.max(1, Math.round(img.width * r));
    const h = Math.max(1, Math.round(img.height * r));
    const W = Math.max(32, Math.ceil(w / 32) * 32);
    const H = Math.max(32, Math.ceil(h / 32) * 32);
    const resized = await resizeRgb(img, w, h);
    const buf = this.#input.take(3 * W * H);
    writeChw(resized, 'BGR', 'raw', buf, 0, { width: W, height: H, value: 0 });
    const out = await this.#model.run({ [this.#model.inputName]: float32Tensor(buf, [1, 3, H, W]) });
    const faces: FaceDetection[] = [];
    for (const s of STRIDES) {
      const cls = out[`cls_${s}`]!.data as Float32Array;
      const obj = out[`obj_${s}`]!.data as Float32Array;
      const bbox = out[`bbox_${s}`]!.data as Float32Array;
      const kps = out[`kps_${s}`]!.data as Float32Array;
      const cols = W / s;
      const rows = H / s;
      for (let rr = 0; rr < rows; rr++) {
        for (let c = 0; c < cols; c++) {
          const idx = rr * cols + c;
          const score = Math.sqrt(Math.min(1, Math.max(0, cls[idx]!)) * Math.min(1, Math.max(0, obj[idx]!)));
          if (score < opts.scoreThreshold) continue;
          const cx = (c + bbox[idx * 4]!) * s;
          const cy = (rr + bbox[idx * 4 + 1]!) * s;
          const bw = Math.exp(bbox[idx * 4 + 2]!) * s;
          const bh = Math.exp(bbox[idx * 4 + 3]!) * s;
          const landmarks: Point[] = [];
          for (let n = 0; n < 5; n++) landmarks.push({ x: (kps[idx * 10 + 2 * n]! + c) * s / r, y: (kps[idx * 10 + 2 * n + 1]! + rr) * s / r });
          const box = {
            xmin: Math.max(0, (cx - bw / 2) / r),
            ymin: Math.max(0, (cy - bh / 2) / r),
            xmax: Math.min(img.width, (cx + bw / 2) / r),
            ymax: Math.min(img.height, (cy + bh / 2) / r),
          };
          if (Math.min(box.xmax - box.xmin, box.ymax - box.ymin) < opts.minSize) continue;
          faces.push({ box, score, landmarks });
        }
      }
    }
    return nms(faces, 0.3, 5000);
  }
}

/** ArcFace 112×112 template. */
const TEMPLATE: readonly Point[] = [
  { x: 38.2946, y: 51.6963 },
  { x: 73.5318, y: 51.5014 },
  { x: 56.0252, y: 71.7366 },
  { x: 41.5493, y: 92.3655 },
  { x: 70.7299, y: 92.2041 },
];

/** Similarity transform (least squares) taking template points to image points: src = A·dst + t. */
export interface Similarity {
  a: number;
  b: number;
  tx: number;
  ty: number;
}

export function estimateSimilarity(dst: readonly Point[], src: readonly Point[]): Similarity {
  const n = dst.length;
  let dmx = 0, dmy = 0, smx = 0, smy = 0;
  for (let i = 0; i < n; i++) {
    dmx += dst[i]!.x; dmy += dst[i]!.y; smx += src[i]!.x; smy += src[i]!.y;
  }
  dmx /= n; dmy /= n; smx /= n; smy /= n;
  let num1 = 0, num2 = 0, den = 0;
  for (let i = 0; i < n; i++) {
    const dx = dst[i]!.x - dmx, dy = dst[i]!.y - dmy, sx = src[i]!.x - smx, sy = src[i]!.y - smy;
    num1 += dx * sx + dy * sy;
    num2 += dx * sy - dy * sx;
    den += dx * dx + dy * dy;
  }
  const a = den > 0 ? num1 / den : 1;
  const b = den > 0 ? num2 / den : 0;
  return { a, b, tx: smx - (a * dmx - b * dmy), ty: smy - (b * dmx + a * dmy) };
}

/** Warps the face to the 112×112 ArcFace template with bilinear sampling (edge pixels replicate). */
export function alignFace(img: RgbImage, landmarks: readonly Point[], size = 112): RgbImage {
  const scale = size / 112;
  const dst = TEMPLATE.map((p) => ({ x: p.x * scale, y: p.y * scale }));
  const { a, b, tx, ty } = estimateSimilarity(dst, landmarks);
  const out = new Uint8Array(size * size * 3);
  const W = img.width, H = img.height, src = img.data;
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      const x = Math.min(W - 1, Math.max(0, a * u - b * v + tx));
      const y = Math.min(H - 1, Math.max(0, b * u + a * v + ty));
      const x0 = Math.floor(x), y0 = Math.floor(y);
      const x1 = Math.min(W - 1, x0 + 1), y1 = Math.min(H - 1, y0 + 1);
      const fx = x - x0, fy = y - y0;
      const o = (v * size + u) * 3;
      for (let c = 0; c < 3; c++) {
        const p00 = src[(y0 * W + x0) * 3 + c]!, p01 = src[(y0 * W + x1) * 3 + c]!;
        const p10 = src[(y1 * W + x0) * 3 + c]!, p11 = src[(y1 * W + x1) * 3 + c]!;
        out[o + c] = Math.round((p00 * (1 - fx) + p01 * fx) * (1 - fy) + (p10 * (1 - fx) + p11 * fx) * fy);
      }
    }
  }
  return { width: size, height: size, data: out };
}

/** MobileFaceNet (batch 1): aligned 112×112 RGB → 128-d unit vector; the flipped face is added (as upstream evaluates). */
export class FaceEmbedder {
  readonly #model: ModelSession;
  readonly #buf = new Float32Array(3 * 112 * 112);
  constructor(model: ModelSession) {
    this.#model = model;
  }

  async #raw(face: RgbImage): Promise<Float32Array> {
    writeChw(face, 'RGB', 'imagenet', this.#buf);
    const out = await this.#model.run({ [this.#model.inputName]: float32Tensor(this.#buf, [1, 3, 112, 112]) });
    return new Float32Array(out['output0']!.data as Float32Array);
  }

  async embed(aligned: RgbImage): Promise<Float32Array> {
    const v = await this.#raw(aligned);
    const f = await this.#raw(flipHorizontal(aligned));
    for (let i = 0; i < v.length; i++) v[i] = v[i]! + f[i]!;
    return normalise(v);
  }
}
