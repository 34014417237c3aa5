// @ts-check
/**
 * Small DOM and formatting helpers. Everything user-provided (names, context, answers) goes into the page as
 * text nodes, never as HTML.
 */

/**
 * Creates an element. Attributes: `class`, `text` (textContent), `on<event>` (listeners), booleans (present
 * when true), anything else as an attribute.
 * @param {string} tag
 * @param {Record<string, unknown>} [attrs]
 * @param {(Node | string | null | undefined | false)[]} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') el.textContent = String(value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), /** @type {EventListener} */ (value));
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) el.append(child);
  return el;
}

/**
 * @param {string} id
 * @returns {HTMLElement}
 */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el;
}

/**
 * PeKit's box colours, the same eight the LVLM is shown (packages/image/src/overlay.ts), with a label text
 * colour that keeps at least 4.5:1 contrast on each.
 */
export const PALETTE = [
  { name: 'green', css: 'rgb(0 200 0)', ink: '#000' },
  { name: 'blue', css: 'rgb(0 80 255)', ink: '#fff' },
  { name: 'purple', css: 'rgb(150 0 210)', ink: '#fff' },
  { name: 'orange', css: 'rgb(255 140 0)', ink: '#000' },
  { name: 'pink', css: 'rgb(255 80 200)', ink: '#000' },
  { name: 'gray', css: 'rgb(128 128 128)', ink: '#000' },
  { name: 'yellow', css: 'rgb(255 230 0)', ink: '#000' },
  { name: 'red', css: 'rgb(230 0 0)', ink: '#fff' },
];

/** For what nobody enrolled. */
export const UNKNOWN_COLOUR = { name: 'white', css: 'rgb(255 255 255)', ink: '#000' };

/**
 * @param {string} name a palette colour name (as in an ask's grounded_on)
 */
export function colourByName(name) {
  return PALETTE.find((c) => c.name === name) ?? UNKNOWN_COLOUR;
}

/** @param {number} x 0..1 */
export function percent(x) {
  return `${Math.round(x * 100)} %`;
}

/**
 * "just now", "5 min ago", "3 h ago", else the date.
 * @param {number} at epoch ms
 * @param {number} [now]
 */
export function timeAgo(at, now = Date.now()) {
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 10) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(at).toLocaleDateString();
}

/** @param {number} at epoch ms */
export function clock(at) {
  return new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** The text of a thrown value, for the user. @param {unknown} err */
export const errorMessage = (err) => (err instanceof Error ? err.message : String(err));

/**
 * A short, polite message in the page's status region (read by screen readers), gone after a while; errors
 * and reminders stay longer.
 * @param {string} text
 * @param {'info' | 'error' | 'reminder'} [tone]
 */
export function toast(text, tone = 'info') {
  const region = byId('toasts');
  const item = h('p', { class: `toast ${tone}`, text });
  region.append(item);
  while (region.childElementCount > 4) region.firstElementChild?.remove();
  setTimeout(() => item.remove(), tone === 'info' ? 5000 : tone === 'error' ? 9000 : 15000);
}

/**
 * Asks a yes/no question in the confirmation dialog. Resolves true only for the confirm button.
 * @param {{ title: string, body: string, confirm: string }} text
 * @returns {Promise<boolean>}
 */
export function confirmDialog(text) {
  const dialog = /** @type {HTMLDialogElement} */ (byId('confirm-dialog'));
  byId('confirm-title').textContent = text.title;
  byId('confirm-body').textContent = text.body;
  byId('confirm-ok').textContent = text.confirm;
  dialog.returnValue = '';
  dialog.showModal();
  // The safe choice has the focus: Enter or Esc never erases anything.
  byId('confirm-cancel').focus();
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true }));
}

/**
 * Bytes → base64 (standard alphabet), in chunks: String.fromCharCode takes a bounded argument list.
 * @param {Uint8Array} bytes
 */
export function toBase64(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** @param {string} b64 */
function fromBase64(b64) {
  const binary = atob(b64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** A JPEG sent as base64 (a snapshot's `jpeg`), as a Blob. @param {string} b64 */
export function jpegBlob(b64) {
  return new Blob([fromBase64(b64)], { type: 'image/jpeg' });
}

/**
 * The canvas's picture as JPEG.
 * @param {HTMLCanvasElement} canvas
 * @param {number} quality 0..1
 * @param {string} what for the error: "could not encode the <what>"
 * @returns {Promise<Blob>}
 */
export function canvasJpeg(canvas, quality, what) {
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error(`could not encode the ${what}`))), 'image/jpeg', quality));
}

/**
 * Runs `fn` once, `ms` after `schedule` is first called; calls while it waits change nothing. `cancel` drops a
 * waiting run.
 * @param {() => void} fn
 * @param {number} ms
 */
export function soon(fn, ms) {
  /** @type {ReturnType<typeof setTimeout> | null} */
  let timer = null;
  return {
    schedule() {
      timer ??= setTimeout(() => {
        timer = null;
        fn();
      }, ms);
    },
    cancel() {
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}

/**
 * Fills a camera <select> ("Hall (hall)"), after `first` if given, and keeps the choice made before when it is
 * still there.
 * @param {HTMLSelectElement} select
 * @param {{ id: string, room: string }[]} cameras
 * @param {HTMLElement} [first] an option before the cameras
 */
export function cameraOptions(select, cameras, first) {
  const previous = select.value;
  select.replaceChildren(...(first ? [first] : []), ...cameras.map((c) => h('option', { value: c.id, text: `${c.room} (${c.id})` })));
  if ([...select.options].some((o) => o.value === previous)) select.value = previous;
}

/**
 * Places `el` over a frame of `width` × `height` pixels at `box`, in percentages so it follows the image's
 * displayed size (CSSOM, which the page's CSP allows, unlike style attributes).
 * @param {HTMLElement} el
 * @param {{xmin:number, ymin:number, xmax:number, ymax:number}} box
 * @param {number} width
 * @param {number} height
 */
export function placeBox(el, box, width, height) {
  const clamp = (/** @type {number} */ v) => Math.min(100, Math.max(0, v));
  const left = clamp((box.xmin / width) * 100);
  const top = clamp((box.ymin / height) * 100);
  el.style.left = `${left}%`;
  el.style.top = `${top}%`;
  el.style.width = `${clamp((box.xmax / width) * 100) - left}%`;
  el.style.height = `${clamp((box.ymax / height) * 100) - top}%`;
  // No room above the box for its label: put the label inside.
  el.classList.toggle('at-top', top < 6);
}

/**
 * Colours a box drawn over a frame and its label (the box's first child).
 * @param {HTMLElement} el
 * @param {{ css: string, ink: string }} colour
 */
export function paintBox(el, colour) {
  el.style.borderColor = colour.css;
  const label = /** @type {HTMLElement} */ (el.firstElementChild);
  label.style.background = colour.css;
  label.style.color = colour.ink;
}

/**
 * A small square of a concept's colour.
 * @param {{ css: string }} colour
 * @param {string} [title]
 */
export function swatch(colour, title) {
  const el = h('span', { class: 'swatch', title });
  el.style.background = colour.css;
  return el;
}
