// @ts-check
/**
 * "Capture from a camera": freezes a camera's current frame, lets the user pick a recognised box or drag a
 * rectangle (or keep the whole frame), and hands back that part of the picture as a JPEG photo for enrolment.
 * The crop is taken from the very frame the user saw, so nobody walking off in between changes what is enrolled.
 *
 * @typedef {import('./app.js').Session} Session
 * @typedef {import('../../contracts/src/protocol.ts').SnapshotResult} SnapshotResult
 * @typedef {import('../../contracts/src/types.ts').Box} Box
 */
import { UNKNOWN_COLOUR, byId, cameraOptions, canvasJpeg, errorMessage, h, jpegBlob, paintBox, placeBox } from './dom.js';

/** Context around the picked box: enrolment finds the object itself; a tight crop would clip it. */
const CROP_PADDING = 0.1;
/** A drag smaller than this (frame pixels) is a click, not a rectangle. */
const MIN_DRAG = 12;

/**
 * @param {Session} session
 * @param {(photo: Blob, label: string) => void} onPhoto
 */
export function createCapture(session, onPhoto) {
  const dialog = /** @type {HTMLDialogElement} */ (byId('capture-dialog'));
  const select = /** @type {HTMLSelectElement} */ (byId('capture-camera'));
  const frame = byId('capture-frame');
  const status = byId('capture-status');
  const add = /** @type {HTMLButtonElement} */ (byId('capture-add'));
  /** @type {{ snap: SnapshotResult, blob: Blob, url: string } | null} */
  let shot = null;
  /** index: which recognised box (-1: a drawn rectangle). */
  /** @type {{ box: Box, label: string, index: number } | null} */
  let picked = null;
  /** @type {HTMLElement | null} */
  let marquee = null;

  function clearShot() {
    if (shot) URL.revokeObjectURL(shot.url);
    shot = null;
    picked = null;
    frame.replaceChildren();
    frame.hidden = true;
    add.disabled = true;
  }

  /** @param {{ box: Box, label: string, index: number } | null} choice */
  function pick(choice) {
    picked = choice;
    for (const b of frame.querySelectorAll('button.pick')) b.setAttribute('aria-pressed', String(choice !== null && b.getAttribute('data-index') === String(choice.index)));
    if (marquee && choice?.index !== -1) marquee.hidden = true;
    status.textContent = choice ? `Selected: ${choice.label}.` : 'Nothing selected: the whole frame will be used.';
  }

  async function take() {
    clearShot();
    status.textContent = 'Taking the current frame…';
    try {
      /** @type {SnapshotResult} */
      const snap = await session.client.request({ type: 'camera/snapshot', ...(select.value && { camera_id: select.value }) });
      const blob = jpegBlob(snap.jpeg);
      shot = { snap, blob, url: URL.createObjectURL(blob) };
      const img = h('img', { src: shot.url, alt: `Frame from the ${snap.room}`, width: snap.width, height: snap.height, draggable: 'false' });
      const boxes = snap.entities.map((e, index) => {
        const name = (e.concept_id && session.conceptById(e.concept_id)?.name) || e.name || `unknown ${e.concept_kind ?? 'someone'}`;
        const colour = e.concept_id ? session.colourOf(e.concept_id) : UNKNOWN_COLOUR;
        const button = h('button', { type: 'button', class: 'pick', 'data-index': index, 'aria-pressed': 'false', 'aria-label': `Pick ${name}` }, h('span', { class: 'label', text: name }));
        paintBox(button, colour);
        placeBox(button, e.box, snap.width, snap.height);
        button.addEventListener('click', () => pick(picked?.index === index ? null : { box: e.box, label: name, index }));
        return button;
      });
      marquee = h('div', { class: 'marquee', hidden: true });
      frame.replaceChildren(img, ...boxes, marquee);
      frame.hidden = false;
      add.disabled = false;
      pick(null);
    } catch (err) {
      status.textContent = `Could not take a frame: ${errorMessage(err)}`;
    }
  }

  // Dragging a rectangle on the frame (pointer: mouse, pen or touch).
  /** @type {{ x: number, y: number, id: number } | null} */
  let drag = null;
  /** @param {PointerEvent} ev */
  const toFrame = (ev) => {
    const r = frame.getBoundingClientRect();
    const s = /** @type {SnapshotResult} */ (shot?.snap);
    return { x: Math.min(Math.max(((ev.clientX - r.left) / r.width) * s.width, 0), s.width), y: Math.min(Math.max(((ev.clientY - r.top) / r.height) * s.height, 0), s.height) };
  };
  /** @param {{x:number,y:number}} a @param {{x:number,y:number}} b @returns {Box} */
  const rect = (a, b) => ({ xmin: Math.min(a.x, b.x), ymin: Math.min(a.y, b.y), xmax: Math.max(a.x, b.x), ymax: Math.max(a.y, b.y) });
  frame.addEventListener('pointerdown', (ev) => {
    if (!shot || (ev.target instanceof Element && ev.target.closest('button'))) return;
    ev.preventDefault();
    drag = { ...toFrame(ev), id: ev.pointerId };
    frame.setPointerCapture(ev.pointerId);
  });
  frame.addEventListener('pointermove', (ev) => {
    if (!drag || !shot || !marquee || ev.pointerId !== drag.id) return;
    marquee.hidden = false;
    placeBox(marquee, rect(drag, toFrame(ev)), shot.snap.width, shot.snap.height);
  });
  frame.addEventListener('pointerup', (ev) => {
    if (!drag || !shot || !marquee || ev.pointerId !== drag.id) return;
    const box = rect(drag, toFrame(ev));
    drag = null;
    if (box.xmax - box.xmin < MIN_DRAG || box.ymax - box.ymin < MIN_DRAG) {
      marquee.hidden = true;
      return;
    }
    placeBox(marquee, box, shot.snap.width, shot.snap.height);
    pick({ box, label: 'the area you drew', index: -1 });
  });

  /** The picked part of the frame (padded), or all of it, as JPEG. */
  async function crop() {
    if (!shot) throw new Error('no frame');
    const bitmap = await createImageBitmap(shot.blob);
    // The JPEG may be smaller than the frame the boxes refer to.
    const sx = bitmap.width / shot.snap.width;
    const sy = bitmap.height / shot.snap.height;
    let { xmin, ymin, xmax, ymax } = picked?.box ?? { xmin: 0, ymin: 0, xmax: shot.snap.width, ymax: shot.snap.height };
    const padX = (xmax - xmin) * CROP_PADDING;
    const padY = (ymax - ymin) * CROP_PADDING;
    xmin = Math.max(0, (xmin - padX) * sx);
    ymin = Math.max(0, (ymin - padY) * sy);
    xmax = Math.min(bitmap.width, (xmax + padX) * sx);
    ymax = Math.min(bitmap.height, (ymax + padY) * sy);
    const canvas = document.createElement('canvas');
    canvas.width = Math.max(1, Math.round(xmax - xmin));
    canvas.height = Math.max(1, Math.round(ymax - ymin));
    canvas.getContext('2d')?.drawImage(bitmap, xmin, ymin, xmax - xmin, ymax - ymin, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    return canvasJpeg(canvas, 0.92, 'crop');
  }

  byId('capture-take').addEventListener('click', () => void take());
  select.addEventListener('change', () => void take());
  add.addEventListener('click', async () => {
    if (!shot) return;
    add.disabled = true;
    try {
      const label = `${shot.snap.room}${picked ? `: ${picked.label}` : ''}`;
      onPhoto(await crop(), label);
      dialog.close('added');
    } catch (err) {
      status.textContent = `Could not cut out the picture: ${errorMessage(err)}`;
      add.disabled = false;
    }
  });
  dialog.addEventListener('close', clearShot);

  return {
    open() {
      cameraOptions(select, session.cameras);
      status.textContent = '';
      dialog.showModal();
      if (session.cameras.length) void take();
      else status.textContent = 'Familiar reports no cameras.';
    },
  };
}
