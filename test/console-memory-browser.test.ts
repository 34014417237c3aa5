/**
 * The console's memory features end to end in headless Chromium (Debian's package, driven by playwright-core):
 * the real dialogue server serves the console on a loopback port over the static backend (real photos, the
 * real trigger and preference parsers of @familiar/memory). Thumbnails and "last seen" in Household; on the Memory page the
 * sightings, reminders set, cancelled and fired by a replayed frame, unknown visitors named and dismissed, a
 * person's preferences edited and read out of a comment; "not Billy" / "this is Piggy" from the live view;
 * a viewer gets none of the control-only controls. Screenshots go to test/artifacts/console/.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import type { UnknownSummary } from '@familiar/contracts';
import { createConsoleHandler } from '../packages/console/src/index.ts';
import { CONTROL_TOKEN, VIEWER_TOKEN, startHarness, type Harness } from './support/dialogue-harness.ts';
import { ANNA_TOKEN, MEMBER_TOKENS } from './support/members.ts';
import { dataFile } from './support/static-backend.ts';
import { CHROMIUM, HAVE_CHROMIUM, HeadlessBrowser, commandFromPage, consoleBase, poll, reportIfNoChromium, shot, signIn, unlabelledControls } from './support/browser.ts';

// Page globals used inside page.evaluate (this repo's tsconfig has no DOM lib); nothing of this is emitted.
declare const document: any;

reportIfNoChromium('console-memory-browser');

const HOUR = 3600_000;
let h: Harness;
let base: string;
let browser: HeadlessBrowser;

/** An unknown visitor as the memory's face clustering would have gathered it. */
function unknown(id: string, visits: number, viewCount: number): UnknownSummary {
  return { id, firstSeen: Date.now() - 48 * HOUR, lastSeen: Date.now() - 2 * HOUR, visits, visitsLast7Days: visits, daysLast7Days: Math.min(visits, 2), viewCount, lastCameraId: 'hall' };
}

beforeAll(async () => {
  if (!HAVE_CHROMIUM) return;
  // No LVLM: preference comments are read by the deterministic rules, so what is extracted is known.
  h = await startHarness({ chatModel: null, httpHandler: createConsoleHandler(), server: { port: 0, tokens: MEMBER_TOKENS } });
  h.backend.unknownMap.set('unknown-5', unknown('unknown-5', 2, 3));
  // Outside embeddings-only mode the memory keeps a small thumbnail per concept; here Billy has one, nobody else.
  const billyId = h.backend.byName('Billy').id;
  const thumb = new Uint8Array(await sharp(readFileSync(dataFile('myvlm/billy_dog/billy_dog_6.jpg'))).resize(160, 160, { fit: 'inside' }).jpeg({ quality: 80 }).toBuffer());
  Object.assign(h.backend, { thumbnail: async (id: string) => (id === billyId ? thumb : null) });
  base = consoleBase(h.url);
  browser = await HeadlessBrowser.launch();
});

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe.skipIf(!HAVE_CHROMIUM)(`web console memory features in headless Chromium (${CHROMIUM})`, () => {
  it('shows last seen, sightings, reminders, unknown visitors and preferences, and corrects boxes; a viewer gets no control-only controls', async () => {
    const page = await browser.newPage();
    await signIn(page, base, CONTROL_TOKEN);
    const billy = h.backend.byName('Billy');

    // ---- household: where and when each concept was last seen (memory/last_seen)
    await page.getByRole('link', { name: 'Household' }).click();
    const lastSeen = (name: string) => page.locator('.concept', { hasText: name }).locator('[data-fact="last-seen"]');
    await poll(() => lastSeen('Anna').textContent()).toBe('5 min ago in the hallway (hall)');
    expect(await lastSeen('Anna').getAttribute('title')).toBe('I last saw Anna 5 minutes ago in the hallway (camera hall).');
    expect(await lastSeen('Piggy').textContent()).toBe('not seen yet');
    const billyThumb = page.locator('.concept', { hasText: 'Billy' }).locator('img.thumb');
    await billyThumb.waitFor();
    expect(await billyThumb.evaluate((img: any) => img.decode().then(() => [img.naturalWidth, img.naturalHeight]))).toEqual([160, 160]);
    expect(await page.locator('.concept img.thumb').count()).toBe(1);

    // ---- memory: the store's sightings
    await page.getByRole('link', { name: 'Memory' }).click();
    const sightings = page.locator('#sightings li');
    await poll(() => sightings.allTextContents()).toEqual([expect.stringMatching(/Anna was in the hallway \(hall\)$/)]);
    await page.getByLabel('Who', { exact: true }).selectOption({ label: 'Unknown people' });
    await poll(() => page.locator('#sightings-empty').isVisible()).toBe(true);
    await page.getByLabel('Who', { exact: true }).selectOption({ label: 'Everyone' });
    await poll(() => sightings.count()).toBe(1);

    // ---- reminders: two set from sentences, one not understood, one cancelled
    const reminderText = page.getByLabel('New reminder');
    const status = page.locator('#reminder-status');
    await reminderText.fill('if Anna shows up, remind me to call the doctor');
    await page.getByRole('button', { name: 'Add reminder' }).click();
    await poll(() => status.textContent()).toBe('OK: the next time Anna shows up, Familiar will say "Remember to call the doctor."');
    await reminderText.fill('tell me every time Billy comes into the hallway');
    await reminderText.press('Enter');
    await poll(() => page.locator('#reminders li').count()).toBe(2);
    await reminderText.fill('what a nice day');
    await page.getByRole('button', { name: 'Add reminder' }).click();
    await poll(() => status.textContent()).toMatch(/^Not added: not understood as a reminder/);
    expect(await status.getAttribute('class')).toContain('error');
    expect(await page.locator('#reminders li').allTextContents()).toEqual([
      'Every time Billy is in the hallway: Billy is in the hallway.For console · not fired yetCancel',
      'Next time Anna shows up: Remember to call the doctor.For console · not fired yetCancel',
    ]);
    await page.getByRole('button', { name: 'Cancel the reminder about Anna: Remember to call the doctor.' }).click();
    await poll(() => page.locator('#reminders li').count()).toBe(1);
    expect([...h.backend.triggerMap.values()].map((t) => t.name)).toEqual(['Billy']);

    // ---- a replayed frame recognises Billy in the hallway: the reminder fires (announced, listed), the visit is remembered
    await h.backend.replay('hall', ['myvlm/billy_dog/billy_dog_11.jpg'], [{ name: 'Billy', tile: 0, confidence: 0.9 }]);
    await poll(() => page.locator('#fired li').first().textContent()).toMatch(/Reminder: Billy came into the hallway just now — Billy is in the hallway\. \(for console\)$/);
    expect(await page.locator('#toasts .toast.reminder').first().textContent()).toMatch(/^Reminder: Billy came into the hallway/);
    expect(await page.locator('#toasts').getAttribute('aria-live')).toBe('polite');
    expect(await page.locator('#timeline li').first().textContent()).toMatch(/Billy appeared in the hallway \(hall\)$/);
    await poll(() => sightings.first().textContent()).toMatch(/Billy in the hallway \(hall\), still there$/);
    await poll(() => page.locator('#reminders li').first().textContent()).toContain('fired 1 time, last just now');

    // ---- unknown visitors: name one (enrolled as a person), dismiss the other after confirming
    const unknowns = page.locator('#unknowns li');
    await poll(() => unknowns.count()).toBe(2);
    expect(await unknowns.first().locator('strong').textContent()).toBe('unknown-3, seen 4 times this week');
    await page.locator('#unknown-3-name').fill('Grandma');
    await page.getByRole('button', { name: 'Name unknown-3' }).click();
    await poll(() => unknowns.count()).toBe(1);
    expect(h.backend.byName('Grandma')).toMatchObject({ kind: 'person', viewCount: 6 });
    await page.getByRole('button', { name: 'Dismiss unknown-5' }).click();
    const confirm = page.locator('#confirm-dialog');
    await confirm.getByRole('button', { name: 'Dismiss unknown-5' }).click();
    await poll(() => page.locator('#unknowns-empty').isVisible()).toBe(true);
    expect(h.backend.unknownMap.size).toBe(0);

    // ---- preferences: the persons (Grandma, now enrolled, too); edit Anna's lists, then add a comment
    await poll(() => page.locator('#prefs-person option').allTextContents()).toEqual(['Anna', 'Grandma']);
    await page.getByLabel('Person', { exact: true }).selectOption({ label: 'Anna' });
    await poll(() => page.locator('#prefs-likes li').allTextContents()).toEqual(['Nothing yet']);
    await page.locator('#prefs-edit-panel summary').click();
    await page.getByLabel('Likes (one per line)', { exact: true }).fill('jazz\n  warm light \n');
    await page.getByLabel('Dislikes (one per line)').fill('loud music');
    await page.getByRole('button', { name: 'Save preferences' }).click();
    await poll(() => page.locator('#prefs-status').textContent()).toBe("Saved Anna's preferences.");
    expect(await page.locator('#prefs-likes li').allTextContents()).toEqual(['jazz', 'warm light']);
    await page.getByLabel('What did they say?').fill('I like the lights dim in the evening, hate clutter on the table');
    await page.getByRole('button', { name: 'Add comment' }).click();
    await poll(() => page.locator('#prefs-status').textContent()).toBe('Found (read by simple rules): likes the lights dim in the evening; dislikes clutter on the table.');
    expect(await page.locator('#prefs-likes li').allTextContents()).toEqual(['jazz', 'warm light', 'the lights dim in the evening (from a comment)']);
    expect(await page.locator('#prefs-dislikes li').allTextContents()).toEqual(['loud music', 'clutter on the table (from a comment)']);
    const anna = h.backend.byName('Anna');
    expect(h.backend.preferenceMap.get(anna.id)!.likes.map((a) => [a.text, a.source])).toEqual([
      ['jazz', 'edited'],
      ['warm light', 'edited'],
      ['the lights dim in the evening', 'extracted'],
    ]);
    await shot(page, '11-memory');

    // ---- household: Billy's last seen follows the scene events
    await page.getByRole('link', { name: 'Household' }).click();
    await poll(() => lastSeen('Billy').textContent()).toBe('in the hallway (hall) now');
    await shot(page, '12-household-last-seen');

    // ---- live: "not Billy" on Billy's box (keyboard: the list's button), "this is Piggy" on Mochi's box (a click on the box)
    await page.getByRole('link', { name: 'Live' }).click();
    const living = page.locator('[data-camera="living"]');
    await living.locator('.box').nth(1).waitFor();
    // A keyboard user on Billy's button keeps the focus there while the boxes move under the frame.
    await living.getByRole('button', { name: 'Correct Billy' }).focus();
    await h.backend.replay('living', ['myvlm/billy_dog/billy_dog_6.jpg', 'myvlm/my_cat/my_cat_6.jpg'], [
      { name: 'Billy', tile: 0, confidence: 0.93 },
      { name: 'Mochi', tile: 1, confidence: 0.84 },
    ]);
    await poll(() => living.locator('.box .label').allTextContents()).toEqual(['Billy 93 %', 'Mochi 84 %']);
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Correct Billy');
    await page.keyboard.press('Enter');
    const dialog = page.locator('#correct-dialog');
    await dialog.waitFor();
    expect(await dialog.locator('h2').textContent()).toBe('Is this Billy?');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('correct-not');
    await shot(page, '13-correct');
    await dialog.getByRole('button', { name: 'Not Billy' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await poll(async () => h.backend.corrections.length).toBe(1);
    const [billyBox, mochiBox] = h.backend.views.get('living')!.matches.map((m) => m.box);
    expect(h.backend.corrections[0]).toEqual({ conceptId: billy.id, verdict: 'not', cameraId: 'living', box: billyBox });
    await poll(() => page.locator('#toasts').textContent()).toContain('Noted: that is not Billy.');
    await living.locator('.box[data-name="Mochi"]').click();
    await dialog.waitFor();
    expect(await dialog.getByRole('button', { name: 'This is…' }).isDisabled()).toBe(true);
    await dialog.getByLabel('This is…').selectOption({ label: 'Piggy (object)' });
    await dialog.getByRole('button', { name: 'This is Piggy' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await poll(async () => h.backend.corrections.length).toBe(2);
    expect(h.backend.corrections[1]).toEqual({ conceptId: h.backend.byName('Piggy').id, verdict: 'is', cameraId: 'living', box: mochiBox });
    await poll(() => page.locator('#toasts').textContent()).toContain('Noted: that is Piggy (5 views now).');

    // ---- a viewer: no corrections, no naming or dismissing, no preference editing; reminders they set they may cancel
    h.backend.unknownMap.set('unknown-7', unknown('unknown-7', 3, 4));
    const viewer = await browser.newPage();
    await signIn(viewer, base, VIEWER_TOKEN);
    await viewer.locator('[data-camera="living"] .box').nth(1).waitFor();
    expect(await viewer.getByRole('button', { name: /^Correct/ }).count()).toBe(0);
    await viewer.getByRole('link', { name: 'Memory' }).click();
    await poll(() => viewer.locator('#unknowns li').count()).toBe(1);
    expect(await viewer.locator('#unknowns button, #unknowns input').count()).toBe(0);
    expect(await viewer.locator('#prefs-form').isVisible()).toBe(false);
    expect(await viewer.locator('#comment-form').isVisible()).toBe(false);
    await poll(() => viewer.locator('#reminders li').count()).toBe(1);
    expect(await viewer.locator('#reminders button').count()).toBe(0);
    await viewer.getByLabel('New reminder').fill('remind me to feed him when Billy is in the hallway');
    await viewer.getByRole('button', { name: 'Add reminder' }).click();
    await poll(() => viewer.locator('#reminders button').count()).toBe(1);
    expect([...h.backend.triggerMap.values()].find((t) => t.message === 'Remember to feed him.')?.createdBy).toBe('Tom');
    await viewer.getByRole('button', { name: 'Cancel the reminder about Billy: Remember to feed him.' }).click();
    await poll(() => viewer.locator('#reminders li').count()).toBe(1);
    // The server refuses a viewer's correction anyway.
    const refused = await commandFromPage(viewer, h.url, VIEWER_TOKEN, { type: 'concepts/correct', concept_id: billy.id, verdict: 'not', camera_id: 'living' });
    expect(refused).toBe('FORBIDDEN');
    expect(h.backend.corrections.length).toBe(2);

    // ---- on a phone: one column, nothing wider than the screen
    // A member's own viewer token may edit that member's preferences, nobody else's (the server checks too).
    const annaPage = await browser.newPage();
    await signIn(annaPage, base, ANNA_TOKEN);
    await annaPage.getByRole('link', { name: 'Memory' }).click();
    await annaPage.locator('#prefs-person').selectOption({ label: 'Anna' });
    await poll(() => annaPage.locator('#comment-form').isVisible()).toBe(true);
    await annaPage.getByLabel('What did they say?').fill('I love jazz');
    await annaPage.getByRole('button', { name: 'Add comment' }).click();
    await poll(() => annaPage.locator('#prefs-likes').textContent()).toMatch(/jazz/);

    await viewer.setViewportSize({ width: 390, height: 844 });
    expect(await viewer.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await shot(viewer, '14-phone-memory');

    // Every form control on the Memory page has a label.
    expect(await unlabelledControls(page, '#view-memory input, #view-memory select, #view-memory textarea, #correct-dialog select')).toEqual([]);
    expect(browser.problems).toEqual([]);
  });
});
