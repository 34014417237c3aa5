import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FamiliarError, type Box, type RgbImage } from '@familiar/contracts';
import { decodeImage } from './decode.ts';
import { OVERLAY_PALETTE, assertLabelFont, escapeMarkup, renderOverlay } from './overlay.ts';

const DATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/data');
const DOG = path.join(DATA, 'myvlm/billy_dog/billy_dog_6.jpg'); // 942×942

function pixel(img: RgbImage, x: number, y: number): { r: number; g: number; b: number } {
  const o = (y * img.width + x) * 3;
  return { r: img.data[o]!, g: img.data[o + 1]!, b: img.data[o + 2]! };
}

function near(a: { r: number; g: number; b: number }, b: { r: number; g: number; b: number }, tol = 40): boolean {
  return Math.abs(a.r - b.r) <= tol && Math.abs(a.g - b.g) <= tol && Math.abs(a.b - b.b) <= tol;
}

/** Fraction of sampled points along the four edges (1 px inside) whose colour matches. */
function edgeMatch(img: RgbImage, box: Box, colour: { r: number; g: number; b: number }): number {
  const inset = 1;
  let hits = 0, n = 0;
  for (let i = 0; i <= 20; i++) {
    const x = Math.round(box.xmin + inset + ((box.xmax - box.xmin - 2 * inset - 1) * i) / 20);
    const y = Math.round(box.ymin + inset + ((box.ymax - box.ymin - 2 * inset - 1) * i) / 20);
    for (const p of [pixel(img, x, box.ymax - 1 - inset), pixel(img, box.xmin + inset, y), pixel(img, box.xmax - 1 - inset, y)]) {
      n++;
      if (near(p, colour)) hits++;
    }
  }
  return hits / n;
}

describe('renderOverlay', () => {
  it('draws each box in its palette colour on a real photo and names the colours', async () => {
    const jpeg = await readFile(DOG);
    const items = [
      { box: { xmin: 60, ymin: 80, xmax: 900, ymax: 900 }, label: 'Billy' },
      { box: { xmin: 100, ymin: 120, xmax: 420, ymax: 480 }, label: 'Collar' },
    ];
    const out = await renderOverlay(jpeg, items);
    expect(out.boxes.map((b) => b.colour)).toEqual(['green', 'blue']);
    const decoded = (await decodeImage(out.jpeg)).image;
    expect([decoded.width, decoded.height]).toEqual([942, 942]);
    expect(edgeMatch(decoded, out.boxes[0]!.box, OVERLAY_PALETTE[0]!.rgb)).toBeGreaterThan(0.9);
    expect(edgeMatch(decoded, out.boxes[1]!.box, OVERLAY_PALETTE[1]!.rgb)).toBeGreaterThan(0.9);
    // The original photo has no such green there: the colour comes from the overlay.
    const original = (await decodeImage(jpeg)).image;
    expect(edgeMatch(original, out.boxes[0]!.box, OVERLAY_PALETTE[0]!.rgb)).toBeLessThan(0.2);
  });

  it('draws a legible label: white text on the box colour above the box', async () => {
    const jpeg = await readFile(DOG);
    const out = await renderOverlay(jpeg, [{ box: { xmin: 200, ymin: 300, xmax: 700, ymax: 800 }, label: 'Billy' }]);
    const img = (await decodeImage(out.jpeg)).image;
    // Scan the strip just above the box: label background (green) and glyph pixels (white) must both be there.
    let green = 0, white = 0;
    for (let y = 300 - 28; y < 298; y++) {
      for (let x = 200; x < 300; x++) {
        const p = pixel(img, x, y);
        if (near(p, OVERLAY_PALETTE[0]!.rgb)) green++;
        if (p.r > 200 && p.g > 200 && p.b > 200) white++;
      }
    }
    expect(green).toBeGreaterThan(500);
    expect(white).toBeGreaterThan(50);
  });

  it('escapes markup in labels (names are user input) and survives hostile text', async () => {
    expect(escapeMarkup(`<span foreground="red">&'`)).toBe('&lt;span foreground=&quot;red&quot;&gt;&amp;&apos;');
    const img: RgbImage = { width: 200, height: 120, data: new Uint8Array(200 * 120 * 3).fill(90) };
    const out = await renderOverlay(img, [{ box: { xmin: 10, ymin: 40, xmax: 190, ymax: 110 }, label: '</span><b>Bob & "Al"\u0000\n' }]);
    expect(out.boxes).toHaveLength(1);
    expect((await decodeImage(out.jpeg)).image.width).toBe(200);
  });

  it('scales boxes with maxSide, skips boxes outside the image and wraps the palette after eight', async () => {
    const img: RgbImage = { width: 1000, height: 500, data: new Uint8Array(1000 * 500 * 3).fill(30) };
    const items = Array.from({ length: 9 }, (_, i) => ({ box: { xmin: i * 100, ymin: 100, xmax: i * 100 + 90, ymax: 400 }, label: `c${i}` }));
    items.push({ box: { xmin: 2000, ymin: 0, xmax: 2100, ymax: 50 }, label: 'outside' });
    const out = await renderOverlay(img, items, { maxSide: 500, labels: false });
    expect([out.width, out.height]).toEqual([500, 250]);
    expect(out.boxes).toHaveLength(9);
    expect(out.boxes[8]!.colour).toBe('green');
    expect(out.boxes[1]!.box).toEqual({ xmin: 50, ymin: 50, xmax: 95, ymax: 200 });
    const decoded = (await decodeImage(out.jpeg)).image;
    expect(edgeMatch(decoded, out.boxes[3]!.box, OVERLAY_PALETTE[3]!.rgb)).toBeGreaterThan(0.8);
  });

  it('refuses to render labels without the font (TOOL_MISSING with an apt hint)', async () => {
    expect(() => assertLabelFont()).not.toThrow();
    const img: RgbImage = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3) };
    const err = await renderOverlay(img, [{ box: { xmin: 1, ymin: 1, xmax: 30, ymax: 30 }, label: 'x' }], { fontFile: '/nonexistent/font.ttf' }).catch((e) => e);
    expect(err).toBeInstanceOf(FamiliarError);
    expect(err.code).toBe('TOOL_MISSING');
    expect(err.message).toContain('fonts-dejavu-core');
  });
});
