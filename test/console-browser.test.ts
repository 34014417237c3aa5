/**
 * The web console end to end in headless Chromium (Debian's package, driven by playwright-core): the real
 * dialogue server serves the console and the WebSocket service on one loopback port, over the static backend
 * (real photos) and the fake OpenAI-compatible LVLM. Sign in, watch the live view, enrol from real photos
 * (file input, drag and drop, a camera frame), see the new concept named in a replayed frame, ask and read the
 * streamed answer, edit, forget; a viewer gets no controls. Screenshots go to test/artifacts/console/.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { decodeImage } from '@familiar/image';
import { createConsoleHandler } from '../packages/console/src/index.ts';
import { CONTROL_TOKEN, VIEWER_TOKEN, startHarness, type Harness } from './support/dialogue-harness.ts';
import { FakeLvlmServer } from './support/fake-lvlm.ts';
import { dataFile } from './support/static-backend.ts';
import { CHROMIUM, HAVE_CHROMIUM, HeadlessBrowser, commandFromPage, consoleBase, poll, reportIfNoChromium, shot, signIn, unlabelledControls } from './support/browser.ts';

// The functions handed to page.evaluate run in Chromium. This repo's tsconfig is for Node (no DOM lib), so the
// page globals they use are declared loosely here; nothing of this is emitted.
declare const document: any, DataTransfer: any, DragEvent: any, File: any, sessionStorage: any, localStorage: any;

reportIfNoChromium('console-browser');

const ROBOT = [1, 2, 3, 4].map((i) => dataFile(`myvlm/robot_toy/robot_toy_${i}.jpg`));
let fake: FakeLvlmServer;
let h: Harness;
let base: string;
let browser: HeadlessBrowser;

/** Drops files on an element the way a browser does: a drop event whose DataTransfer holds them. */
async function dropFiles(page: Page, selector: string, files: string[]): Promise<void> {
  const payload = files.map((f) => ({ name: path.basename(f), b64: readFileSync(f).toString('base64') }));
  await page.evaluate(
    ({ selector, payload }) => {
      const dt = new DataTransfer();
      for (const p of payload) dt.items.add(new File([Uint8Array.from(atob(p.b64), (c) => c.charCodeAt(0))], p.name, { type: 'image/jpeg' }));
      const target = document.querySelector(selector)!;
      target.dispatchEvent(new DragEvent('dragenter', { bubbles: true, cancelable: true, dataTransfer: dt }));
      target.dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: dt }));
    },
    { selector, payload },
  );
}

beforeAll(async () => {
  if (!HAVE_CHROMIUM) return;
  fake = await FakeLvlmServer.start();
  fake.setDefault({ kind: 'stream', delayMs: 40 });
  h = await startHarness({ lvlm: { baseUrl: fake.baseUrl, model: 'fake-vl' }, httpHandler: createConsoleHandler() });
  base = consoleBase(h.url);
  const living = h.backend.stats.get('living')!;
  living.fps = 4.8;
  living.counters.dropped = 3;
  browser = await HeadlessBrowser.launch();
});

afterAll(async () => {
  await browser?.close();
  await h?.close();
  await fake?.close();
});

describe.skipIf(!HAVE_CHROMIUM)(`web console in headless Chromium (${CHROMIUM})`, () => {
  it('signs in, shows the live view, enrols, recognises, answers, edits and forgets; a viewer gets no controls', async () => {
    const page = await browser.newPage();

    // ---- sign in: a wrong token is refused with the server's reason, the right one gives the control role
    await page.goto(base);
    await shot(page, '01-login');
    await page.getByLabel('Access token').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await poll(() => page.locator('#login-error').textContent()).toContain('invalid access token');
    await page.getByLabel('Access token').fill(CONTROL_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#nav').waitFor();
    expect(await page.locator('#role-badge').textContent()).toBe('Control');

    // ---- live: both cameras, the living room's frame with Billy and Mochi boxed and named, fps and drops
    const living = page.locator('[data-camera="living"]');
    await living.locator('.box').nth(1).waitFor();
    await living.locator('img.loaded').waitFor();
    expect(await living.locator('.box .label').allTextContents()).toEqual(['Billy 91 %', 'Mochi 84 %']);
    expect(await living.locator('[data-stat="fps"]').textContent()).toBe('4.8 fps');
    expect(await living.locator('[data-stat="dropped"]').textContent()).toBe('3');
    expect(await page.locator('[data-camera="hall"]').count()).toBe(1);
    const natural = await living.locator('img').evaluate((img) => [(img as unknown as { naturalWidth: number }).naturalWidth, (img as unknown as { naturalHeight: number }).naturalHeight]);
    expect(natural).toEqual([960, 480]);
    // The boxes sit where the backend put them, scaled to the displayed frame.
    const frameBox = (await living.locator('.frame').boundingBox())!;
    const billyBox = (await living.locator('.box[data-name="Billy"]').boundingBox())!;
    expect(Math.abs((billyBox.x - frameBox.x) / frameBox.width - (0.06 * 480) / 960)).toBeLessThan(0.01);
    expect(Math.abs(billyBox.width / frameBox.width - ((0.98 - 0.06) * 480) / 960)).toBeLessThan(0.01);
    await shot(page, '02-live');

    // ---- household: the four concepts with views and thresholds
    await page.getByRole('link', { name: 'Household' }).click();
    const billyCard = page.locator('.concept', { hasText: 'Billy' });
    await billyCard.waitFor();
    expect(await page.locator('.concept').count()).toBe(4);
    expect(await billyCard.locator('[data-fact="views"]').textContent()).toBe('4');
    expect(await billyCard.locator('[data-fact="threshold"]').textContent()).toBe('0.60 (object)');

    // ---- enrol Robo from four real photos: three through the file input, one dropped on the drop zone
    await page.locator('#enrol-panel summary').click();
    await page.locator('#enrol-name').fill('Robo');
    await page.locator('#enrol-kind').selectOption('object');
    await page.getByLabel('What should Familiar know?').fill("Tom's wind-up robot; lives on the bookshelf");
    await page.locator('#enrol-photos').setInputFiles(ROBOT.slice(0, 3));
    await dropFiles(page, '#dropzone', ROBOT.slice(3));
    await poll(() => page.locator('#tray li').count()).toBe(4);
    expect(await page.locator('#enrol-status').textContent()).toBe('4 photos ready.');
    await shot(page, '03-household-enrol');
    await page.getByRole('button', { name: 'Enrol', exact: true }).click();
    await poll(() => page.locator('#enrol-status').textContent()).toBe('Robo is enrolled from 4 views.');
    const roboCard = page.locator('.concept', { hasText: 'Robo' });
    await roboCard.waitFor();
    expect(await roboCard.locator('[data-fact="views"]').textContent()).toBe('4');
    expect(await page.locator('#tray li').count()).toBe(0);
    // The server received the photos byte for byte (small JPEGs are sent as they are).
    const robo = h.backend.enrolments.at(-1)!;
    expect(robo).toMatchObject({ name: 'Robo', kind: 'object', context: "Tom's wind-up robot; lives on the bookshelf" });
    expect('photos' in robo && robo.photos.map((p, i) => Buffer.from(p).equals(readFileSync(ROBOT[i]!)))).toEqual([true, true, true, true]);

    // ---- enrol from a camera frame: a drawn rectangle and a picked box, plus a 12-megapixel photo scaled down in the browser
    await page.locator('#enrol-name').fill('Cushion');
    await page.locator('#enrol-kind').selectOption('object');
    await page.getByRole('button', { name: 'Capture from a camera…' }).click();
    const dialog = page.locator('#capture-dialog');
    await dialog.locator('button.pick').nth(1).waitFor();
    await dialog.locator('#capture-frame img').evaluate((img) => (img as unknown as { decode(): Promise<void> }).decode());
    const cap = (await dialog.locator('#capture-frame').boundingBox())!;
    await page.mouse.move(cap.x + cap.width * 0.55, cap.y + cap.height * 0.1);
    await page.mouse.down();
    await page.mouse.move(cap.x + cap.width * 0.7, cap.y + cap.height * 0.5, { steps: 4 });
    await page.mouse.move(cap.x + cap.width * 0.8, cap.y + cap.height * 0.9, { steps: 4 });
    await page.mouse.up();
    expect(await dialog.locator('#capture-status').textContent()).toBe('Selected: the area you drew.');
    await page.getByRole('button', { name: 'Add to photos' }).click();
    await poll(() => page.locator('#tray li').count()).toBe(1);
    await page.getByRole('button', { name: 'Capture from a camera…' }).click();
    await dialog.getByRole('button', { name: 'Pick Mochi' }).click();
    expect(await dialog.getByRole('button', { name: 'Pick Mochi' }).getAttribute('aria-pressed')).toBe('true');
    await shot(page, '04-capture');
    await page.getByRole('button', { name: 'Add to photos' }).click();
    await poll(() => page.locator('#tray .tray-label').allTextContents()).toEqual(['living room: the area you drew', 'living room: Mochi']);
    const big = await sharp(readFileSync(dataFile('myvlm/billy_dog/billy_dog_6.jpg'))).resize(4032, 3024, { fit: 'fill' }).jpeg({ quality: 100, chromaSubsampling: '4:4:4' }).toBuffer();
    expect(big.length).toBeGreaterThan(3 * 1024 * 1024);
    await page.locator('#enrol-photos').setInputFiles({ name: 'phone-photo.jpg', mimeType: 'image/jpeg', buffer: big });
    await page.getByRole('button', { name: 'Enrol', exact: true }).click();
    await poll(() => page.locator('#enrol-status').textContent()).toBe('Cushion is enrolled from 3 views.');
    const cushion = h.backend.enrolments.at(-1)!;
    if (!('photos' in cushion)) throw new Error('expected photos');
    const sizes = await Promise.all(
      cushion.photos.map(async (p) => {
        const { image } = await decodeImage(p);
        return [image.width, image.height];
      }),
    );
    // Drawn: 0.55..0.8 × 0.1..0.9 of 960×480 → 240×384, padded by 10 % each side.
    expect(Math.abs(sizes[0]![0]! - 288)).toBeLessThanOrEqual(6);
    expect(Math.abs(sizes[0]![1]! - 461)).toBeLessThanOrEqual(6);
    // Mochi's box 240×379, padded, clipped at the frame's bottom edge.
    const mochi = h.backend.views.get('living')!.matches[1]!.box;
    expect(Math.abs(sizes[1]![0]! - (mochi.xmax - mochi.xmin) * 1.2)).toBeLessThanOrEqual(3);
    expect(sizes[2]).toEqual([2048, 1536]);

    // ---- the new concept recognised in a replayed frame: the live view names it
    await page.getByRole('link', { name: 'Live' }).click();
    const hall = page.locator('[data-camera="hall"]');
    await hall.locator('img.loaded').waitFor();
    await h.backend.replay('hall', ['myvlm/robot_toy/robot_toy_5.jpg'], [{ name: 'Robo', tile: 0, confidence: 0.86 }]);
    await hall.locator('.box[data-name="Robo"]').waitFor();
    expect(await hall.locator('.box .label').allTextContents()).toEqual(['Robo 86 %']);
    expect(await hall.locator('.in-view').textContent()).toContain('Robo · object · 86 %');
    // …and the picture itself follows: the snapshot of the replayed frame.
    const replayedAt = String(h.backend.views.get('hall')!.capturedAt);
    await poll(() => hall.getAttribute('data-captured-at')).toBe(replayedAt);
    await shot(page, '05-live-replay');

    // ---- memory: the timeline has Robo's arrival
    await page.getByRole('link', { name: 'Memory' }).click();
    expect(await page.locator('#timeline li').first().textContent()).toMatch(/Robo appeared in the hallway \(hall\)$/);
    await shot(page, '10-memory');

    // ---- ask (keyboard: the nav link, Enter, focus lands on the view's heading): a streamed answer from the LVLM
    await page.locator('#nav a[href="#ask"]').focus();
    await page.keyboard.press('Enter');
    await poll(() => page.evaluate(() => document.activeElement?.id)).toBe('ask-title');
    await poll(() => page.locator('#ask-camera option').count()).toBe(3);
    await page.locator('#ask-camera').selectOption('living');
    await page.locator('#ask-question').fill('What is Billy doing?');
    await page.locator('#ask-question').press('Enter');
    const reply = page.locator('.msg.familiar').last();
    // While the answer streams, part of it is already on the page (in the live region) and the reply is busy.
    const partial = await page.waitForFunction(() => {
      const r = [...document.querySelectorAll('.msg.familiar')].at(-1);
      const text = r?.querySelector('.answer')?.textContent ?? '';
      return r?.getAttribute('aria-busy') === 'true' && text.length > 0 ? text : null;
    });
    const partialText = (await partial.jsonValue()) as string;
    await poll(() => reply.getAttribute('aria-busy')).toBe('false');
    const answer = await reply.locator('.answer').textContent();
    expect(answer).toBe(fake.answer);
    expect(partialText.length).toBeLessThan(fake.answer.length);
    expect(fake.answer.startsWith(partialText)).toBe(true);
    expect(await page.locator('#chat-log').getAttribute('aria-live')).toBe('polite');
    expect(await reply.locator('.chip').allTextContents()).toEqual(['Billy pet · green box · 91 %', 'Mochi pet · blue box · 84 %']);
    expect(await reply.locator('.source').textContent()).toMatch(/^Answered by the vision-language model · about living room \(living\)/);
    expect(fake.requests.at(-1)!.userText).toContain('What is Billy doing?');
    // A question about someone absent: the honest answer, with where they were last seen.
    await page.locator('#ask-question').fill('Where is Anna?');
    await page.getByRole('button', { name: 'Ask', exact: true }).click();
    await poll(() => page.locator('.msg.familiar').last().getAttribute('aria-busy')).toBe('false');
    expect(await page.locator('.msg.familiar .not-in-view').last().textContent()).toBe('Anna is not in view: last seen 5 min ago in the hallway (hall).');
    // About a photo instead of a camera: recognised in the upload, answered about it.
    await page.locator('#ask-image').setInputFiles(dataFile('myvlm/billy_dog/billy_dog_11.jpg'));
    await page.locator('#ask-question').fill('Who is this?');
    await page.getByRole('button', { name: 'Ask', exact: true }).click();
    const photoReply = page.locator('.msg.familiar').nth(2);
    await poll(() => photoReply.getAttribute('aria-busy')).toBe('false');
    expect(await photoReply.locator('.chip').allTextContents()).toEqual(['Billy pet · green box · 88 %']);
    expect(await photoReply.locator('.source').textContent()).toBe('Answered by the vision-language model · about your photo');
    // The chat is one conversation: the model was given the earlier turns with this question.
    const history = (fake.requests.at(-1)!.body!.messages as { role: string; content: unknown }[]).map((m) => m.role);
    expect(history).toEqual(['system', 'user', 'assistant', 'user', 'assistant', 'user']);
    expect(fake.requests.at(-1)!.text).toContain('What is Billy doing?');
    expect(await page.locator('.msg.you').nth(2).locator('.who').textContent()).toBe('You, about your photo billy_dog_11.jpg');
    await shot(page, '06-ask');

    // ---- edit Robo's context, then forget Robo (cancel once, then confirm)
    await page.getByRole('link', { name: 'Household' }).click();
    await page.getByRole('button', { name: 'Edit Robo' }).click();
    await page.getByLabel('What Familiar knows').fill('the wind-up robot from Grandma; bookshelf in the hall');
    await page.getByRole('button', { name: 'Save' }).click();
    await poll(() => roboCard.locator('.context').textContent()).toBe('the wind-up robot from Grandma; bookshelf in the hall');
    expect(h.backend.byName('Robo').context).toBe('the wind-up robot from Grandma; bookshelf in the hall');
    await page.getByRole('button', { name: 'Forget Robo' }).click();
    const confirm = page.locator('#confirm-dialog');
    await confirm.waitFor();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('confirm-cancel');
    await shot(page, '07-forget-confirm');
    await page.keyboard.press('Escape');
    await confirm.waitFor({ state: 'hidden' });
    expect(await roboCard.count()).toBe(1);
    await page.getByRole('button', { name: 'Forget Robo' }).click();
    await confirm.getByRole('button', { name: 'Forget Robo' }).click();
    await roboCard.waitFor({ state: 'detached' });
    expect([...h.backend.concepts.values()].map((c) => c.name)).not.toContain('Robo');

    // Every visible form control has a label.
    expect(await unlabelledControls(page)).toEqual([]);

    // ---- a viewer (another tab: its own session) sees no enrol, edit or forget controls; the server refuses them anyway
    const viewer = await browser.newPage();
    await signIn(viewer, base, VIEWER_TOKEN);
    expect(await viewer.locator('#role-badge').textContent()).toBe('Viewer');
    await viewer.getByRole('link', { name: 'Household' }).click();
    await viewer.locator('.concept', { hasText: 'Billy' }).waitFor();
    expect(await viewer.locator('#enrol-panel').isVisible()).toBe(false);
    expect(await viewer.getByRole('button', { name: /^(Edit|Forget) / }).count()).toBe(0);
    await shot(viewer, '08-viewer-household');
    const refused = await commandFromPage(viewer, h.url, VIEWER_TOKEN, { type: 'concepts/forget', concept_id: h.backend.byName('Billy').id });
    expect(refused).toBe('FORBIDDEN');
    expect(h.backend.byName('Billy')).toBeTruthy();

    // ---- on a phone: one column, nothing wider than the screen
    await viewer.setViewportSize({ width: 390, height: 844 });
    await viewer.getByRole('link', { name: 'Live' }).click();
    await viewer.locator('[data-camera="living"] img.loaded').waitFor();
    expect(await viewer.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await shot(viewer, '09-phone-live');

    // ---- Familiar restarts: the console says so, reconnects by itself and carries on
    const port = Number(new URL(base).port);
    const backend = h.backend;
    await h.close();
    await poll(() => viewer.locator('#conn-state').textContent()).toBe('Familiar is restarting… reconnecting');
    h = await startHarness({ backend, server: { port }, lvlm: { baseUrl: fake.baseUrl, model: 'fake-vl' }, httpHandler: createConsoleHandler() });
    await poll(() => viewer.locator('#conn-state').textContent()).toBe('Connected');
    await poll(() => viewer.locator('#toasts').textContent()).toContain('Reconnected.');
    await backend.replay('living', ['myvlm/my_cat/my_cat_7.jpg'], [{ name: 'Mochi', tile: 0, confidence: 0.8 }]);
    await poll(() => viewer.locator('[data-camera="living"] .box .label').allTextContents()).toEqual(['Mochi 80 %']);

    // Sign out: back to the sign-in form, the token forgotten.
    await viewer.getByRole('button', { name: 'Sign out' }).click();
    await viewer.getByLabel('Access token').waitFor();
    expect(await viewer.evaluate(() => sessionStorage.length + localStorage.length)).toBe(0);

    // Nothing went wrong in the pages (CSP violations, script errors) beyond a refused connection while Familiar restarted.
    expect(browser.problems.filter((p) => !/WebSocket connection .* failed/.test(p))).toEqual([]);
  });
});

describe.skipIf(!HAVE_CHROMIUM)('web console over plain http from another machine', () => {
  it('warns that the token would cross the network unencrypted and sends it only when told to', async () => {
    // The page is opened as http://familiar.test:PORT/ (resolved to loopback by Chromium): to the console that is
    // another machine, reached without TLS.
    const remote = await HeadlessBrowser.launch(['--host-resolver-rules=MAP familiar.test 127.0.0.1']);
    try {
      const page = await remote.newPage();
      const base = `http://familiar.test:${new URL(h.url).port}/`;
      await page.goto(base);
      await page.locator('#insecure').waitFor();
      expect(await page.locator('#insecure').textContent()).toMatch(/unencrypted/);
      const before = h.server.connectionCount();
      await page.getByLabel('Access token').fill(CONTROL_TOKEN);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await poll(() => page.locator('#login-error').textContent()).toMatch(/would be sent unencrypted/);
      // Nothing was sent: no connection was even opened.
      expect(h.server.connectionCount()).toBe(before);
      await page.getByLabel('Send my token unencrypted anyway').check();
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('#nav').waitFor({ timeout: 10_000 });
      // Chromium itself notes that an http:// origin other than localhost cannot use COOP: the very point made here.
      expect(remote.problems.filter((p) => !/Cross-Origin-Opener-Policy header has been ignored/.test(p))).toEqual([]);
    } finally {
      await remote.close();
    }
    // Opened on loopback (the other test's pages), no warning is shown.
    const local = await browser.newPage();
    await local.goto(consoleBase(h.url));
    expect(await local.locator('#insecure').isHidden()).toBe(true);
    await local.close();
  });
});
