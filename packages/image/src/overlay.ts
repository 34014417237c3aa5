import { existsSync } from 'node:fs';
import sharp, { type OverlayOptions as SharpOverlay } from 'sharp';
import { FamiliarError, type Box, type RgbImage } from '@familiar/contracts';
import { decodeImage, type ImageLimits } from './decode.ts';
import { clampBox } from './ops.ts';

/** A named overlay colour. */
export interface OverlayColour {
  /** Plain English name the prompt uses ("the green box"). */
  name: string;
  rgb: { r: number; g: number; b: number };
}

/**
 * PeKit's eight box colours, in PeKit's order. Values are saturated and far apart so a JPEG-compressed
 * box still reads as its colour, both to a model and to a test sampling pixels.
 */
export const OVERLAY_PALETTE: readonly OverlayColour[] = [
  { name: 'green', rgb: { r: 0, g: 200, b: 0 } },
  { name: 'blue', rgb: { r: 0, g: 80, b: 255 } },
  { name: 'purple', rgb: { r: 150, g: 0, b: 210 } },
  { name: 'orange', rgb: { r: 255, g: 140, b: 0 } },
  { name: 'pink', rgb: { r: 255, g: 80, b: 200 } },
  { name: 'gray', rgb: { r: 128, g: 128, b: 128 } },
  { name: 'yellow', rgb: { r: 255, g: 230, b: 0 } },
  { name: 'red', rgb: { r: 230, g: 0, b: 0 } },
];

/** DejaVu Sans as installed by Debian/Ubuntu `fonts-dejavu-core`: present on every machine CI sets up. */
const DEFAULT_LABEL_FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf';

/** One box to draw. */
export interface OverlayItem {
  box: Box;
  /** Drawn as the label; any text (it is escaped). */
  label: string;
}

export interface OverlayOptions {
  /** Draw a name label above each box (default true). */
  labels?: boolean;
  /** TrueType font file for labels (default {@link DEFAULT_LABEL_FONT}). */
  fontFile?: string;
  /** Family name inside `fontFile` (default 'DejaVu Sans'); Pango picks the face by this name. */
  fontFamily?: string;
  /** Resize so the long side is at most this before drawing (LVLMs downscale anyway; smaller uploads are faster). */
  maxSide?: number;
  jpegQuality?: number;
  /** Limits for decoding when the input is encoded bytes. */
  limits?: ImageLimits;
}

/** A box as drawn: which colour it got, and where it ended up in the output image's pixels. */
export interface OverlayBox {
  label: string;
  colour: string;
  /** In output pixels (after any resize), clamped to the image. */
  box: Box;
}

export interface OverlayResult {
  jpeg: Uint8Array;
  width: number;
  height: number;
  /** Same order as the input items; items whose box lies outside the image are left out. */
  boxes: OverlayBox[];
}

const MAX_LABEL_CHARS = 48;

/**
 * Throws TOOL_MISSING unless the label font exists. Call at start-up: without the file Pango would fall
 * back to whatever fontconfig finds, or draw empty boxes ("tofu"), and nobody would notice.
 */
export function assertLabelFont(fontFile: string = DEFAULT_LABEL_FONT): void {
  if (!existsSync(fontFile)) {
    throw new FamiliarError(
      'TOOL_MISSING',
      `the overlay label font ${fontFile} is missing; install it with "apt-get install fonts-dejavu-core" or point the label font setting at another TrueType file`,
    );
  }
}

/** Escapes text for Pango markup (the XML subset sharp's text input parses). */
export function escapeMarkup(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function labelText(label: string): string {
  const flat = label.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return flat.length > MAX_LABEL_CHARS ? `${flat.slice(0, MAX_LABEL_CHARS - 1)}…` : flat;
}

/** Colour of the i-th box; wraps after eight (the prompt then names boxes by colour *and* label). */
function overlayColour(index: number): OverlayColour {
  return OVERLAY_PALETTE[index % OVERLAY_PALETTE.length]!;
}

function fillRect(img: RgbImage, x0: number, y0: number, x1: number, y1: number, c: OverlayColour['rgb']): void {
  const xa = Math.max(0, x0), ya = Math.max(0, y0), xb = Math.min(img.width, x1), yb = Math.min(img.height, y1);
  for (let y = ya; y < yb; y++) {
    let o = (y * img.width + xa) * 3;
    for (let x = xa; x < xb; x++, o += 3) {
      img.data[o] = c.r;
      img.data[o + 1] = c.g;
      img.data[o + 2] = c.b;
    }
  }
}

async function renderLabel(text: string, font: { file: string; family: string }, sizePx: number, light: boolean): Promise<{ png: Buffer; width: number; height: number }> {
  const fg = light ? '#000000' : '#ffffff';
  // sharp's text input takes Pango markup: the label must be escaped or a name like "<b>Al" breaks rendering.
  // At 72 dpi a point is a pixel, so the size in the font description is in pixels.
  const { data, info } = await sharp({
    text: { text: `<span foreground="${fg}">${escapeMarkup(text)}</span>`, fontfile: font.file, font: `${font.family} ${sizePx}`, rgba: true, dpi: 72 },
  })
    .png()
    .toBuffer({ resolveWithObject: true });
  return { png: data, width: info.width, height: info.height };
}

/**
 * Draws one coloured box per item (PeKit's visual prompt) with an optional name label, and encodes JPEG.
 * Colours follow {@link OVERLAY_PALETTE} in item order, so callers can say "the green box" in a prompt.
 */
export async function renderOverlay(source: RgbImage | Uint8Array, items: readonly OverlayItem[], options: OverlayOptions = {}): Promise<OverlayResult> {
  const fontFile = options.fontFile ?? DEFAULT_LABEL_FONT;
  const withLabels = options.labels ?? true;
  if (withLabels) assertLabelFont(fontFile);

  let img: RgbImage;
  let scale = 1;
  if (source instanceof Uint8Array) {
    const decoded = await decodeImage(source, { ...(options.limits ? { limits: options.limits } : {}), ...(options.maxSide ? { maxSide: options.maxSide } : {}) });
    img = { ...decoded.image, data: new Uint8Array(decoded.image.data) };
    scale = 1 / decoded.scale;
  } else {
    const long = Math.max(source.width, source.height);
    if (options.maxSide && long > options.maxSide) {
      const w = Math.max(1, Math.round((source.width * options.maxSide) / long));
      const h = Math.max(1, Math.round((source.height * options.maxSide) / long));
      const { data } = await sharp(source.data, { raw: { width: source.width, height: source.height, channels: 3 } })
        .resize(w, h, { fit: 'fill' })
        .raw()
        .toBuffer({ resolveWithObject: true });
      img = { width: w, height: h, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
      scale = w / source.width;
    } else {
      // Copy: the caller's frame may be shared with the pipeline.
      img = { width: source.width, height: source.height, data: new Uint8Array(source.data) };
    }
  }

  const long = Math.max(img.width, img.height);
  const thickness = Math.max(3, Math.round(long / 200));
  const fontPx = Math.max(12, Math.round(long / 40));
  const boxes: OverlayBox[] = [];
  const placed: { colour: OverlayColour; box: Box; label: string }[] = [];
  items.forEach((item, i) => {
    const scaled = { xmin: item.box.xmin * scale, ymin: item.box.ymin * scale, xmax: item.box.xmax * scale, ymax: item.box.ymax * scale };
    const b = clampBox(scaled, img.width, img.height);
    if (!b) return;
    const colour = overlayColour(i);
    placed.push({ colour, box: b, label: labelText(item.label) });
    boxes.push({ label: item.label, colour: colour.name, box: b });
  });

  for (const { colour, box } of placed) {
    const t = Math.min(thickness, Math.floor((box.xmax - box.xmin) / 2) || 1, Math.floor((box.ymax - box.ymin) / 2) || 1);
    fillRect(img, box.xmin, box.ymin, box.xmax, box.ymin + t, colour.rgb);
    fillRect(img, box.xmin, box.ymax - t, box.xmax, box.ymax, colour.rgb);
    fillRect(img, box.xmin, box.ymin, box.xmin + t, box.ymax, colour.rgb);
    fillRect(img, box.xmax - t, box.ymin, box.xmax, box.ymax, colour.rgb);
  }

  const composites: SharpOverlay[] = [];
  if (withLabels) {
    for (const { colour, box, label } of placed) {
      if (!label) continue;
      const { r, g, b } = colour.rgb;
      const light = 0.299 * r + 0.587 * g + 0.114 * b > 150;
      const text = await renderLabel(label, { file: fontFile, family: options.fontFamily ?? 'DejaVu Sans' }, fontPx, light);
      const pad = Math.max(2, Math.round(fontPx / 6));
      const w = Math.min(img.width, text.width + 2 * pad);
      const h = Math.min(img.height, text.height + 2 * pad);
      // Above the box when there is room, else just inside its top edge.
      const top = box.ymin - h >= 0 ? box.ymin - h : Math.min(box.ymin, img.height - h);
      const left = Math.max(0, Math.min(box.xmin, img.width - w));
      fillRect(img, left, top, left + w, top + h, colour.rgb);
      const tw = Math.min(text.width, w - pad);
      const th = Math.min(text.height, h - pad);
      const png = tw < text.width || th < text.height ? await sharp(text.png).extract({ left: 0, top: 0, width: tw, height: th }).png().toBuffer() : text.png;
      composites.push({ input: png, left: left + pad, top: top + pad });
    }
  }

  let pipeline = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
  if (composites.length > 0) pipeline = pipeline.composite(composites);
  // 4:4:4: chroma subsampling would smear thin coloured lines into the background and blur the colour cue.
  const out = await pipeline.jpeg({ quality: options.jpegQuality ?? 85, chromaSubsampling: '4:4:4' }).toBuffer();
  return { jpeg: new Uint8Array(out.buffer, out.byteOffset, out.byteLength), width: img.width, height: img.height, boxes };
}
