// @ts-check
/**
 * Correcting a box in the live view (control role): "not Billy" stores that part of the camera's frame as a
 * negative view of Billy, "this is Anna" as one more view of Anna. The dialog keeps the box the user chose,
 * so scene events moving the boxes meanwhile do not change what is sent.
 *
 * @typedef {import('./app.js').Session} Session
 * @typedef {import('../../contracts/src/protocol.ts').WireSceneEntity} WireSceneEntity
 * @typedef {import('../../contracts/src/protocol.ts').CorrectResult} CorrectResult
 */
import { byId, errorMessage, h, toast } from './dom.js';

/** Longest side of the preview of the boxed region, in CSS pixels. */
const PREVIEW_SIDE = 240;

/**
 * @typedef {object} CorrectionTarget
 * @property {string} cameraId
 * @property {string} room
 * @property {WireSceneEntity} entity  as shown when the user chose it
 * @property {HTMLImageElement} img  the frame on screen, for the preview
 * @property {number} width  frame pixels (what the box is in)
 * @property {number} height
 */

/** @param {Session} session */
export function createCorrect(session) {
  const dialog = /** @type {HTMLDialogElement} */ (byId('correct-dialog'));
  const title = byId('correct-title');
  const preview = /** @type {HTMLCanvasElement} */ (byId('correct-preview'));
  const notButton = /** @type {HTMLButtonElement} */ (byId('correct-not'));
  const isButton = /** @type {HTMLButtonElement} */ (byId('correct-is'));
  const select = /** @type {HTMLSelectElement} */ (byId('correct-concept'));
  const status = byId('correct-status');
  /** @type {CorrectionTarget | null} */
  let target = null;

  const currentName = () => (target?.entity.concept_id && session.conceptById(target.entity.concept_id)?.name) || target?.entity.name || null;

  /** @param {CorrectionTarget} t */
  function drawPreview(t) {
    const { box } = t.entity;
    const ctx = preview.getContext('2d');
    // The picture on screen may be smaller than the frame the box is in.
    const sx = t.img.naturalWidth / t.width;
    const sy = t.img.naturalHeight / t.height;
    const w = Math.max(1, (box.xmax - box.xmin) * sx);
    const hgt = Math.max(1, (box.ymax - box.ymin) * sy);
    const scale = Math.min(1, PREVIEW_SIDE / Math.max(w, hgt));
    preview.width = Math.round(w * scale);
    preview.height = Math.round(hgt * scale);
    if (t.img.complete && t.img.naturalWidth > 0) ctx?.drawImage(t.img, box.xmin * sx, box.ymin * sy, w, hgt, 0, 0, preview.width, preview.height);
    preview.setAttribute('aria-label', `The boxed part of the ${t.room} frame`);
  }

  function syncIsButton() {
    const chosen = session.conceptById(select.value);
    isButton.textContent = chosen ? `This is ${chosen.name}` : 'This is…';
    isButton.disabled = !chosen;
  }

  /** @param {boolean} on */
  function busy(on) {
    notButton.disabled = on;
    select.disabled = on;
    if (on) isButton.disabled = true;
    else syncIsButton();
  }

  /**
   * @param {'is' | 'not'} verdict
   * @param {string} conceptId
   */
  async function send(verdict, conceptId) {
    if (!target) return;
    const concept = session.conceptById(conceptId);
    busy(true);
    status.textContent = 'Sending…';
    try {
      /** @type {CorrectResult} */
      const res = await session.client.request({ type: 'concepts/correct', concept_id: conceptId, verdict, camera_id: target.cameraId, box: target.entity.box });
      dialog.close('sent');
      toast(verdict === 'not' ? `Noted: that is not ${res.concept.name}.` : `Noted: that is ${res.concept.name} (${res.views} views now).`);
      await session.refreshConcepts();
    } catch (err) {
      status.textContent = `Not corrected${concept ? ` (${concept.name})` : ''}: ${errorMessage(err)}`;
      busy(false);
    }
  }

  notButton.addEventListener('click', () => {
    if (target?.entity.concept_id) void send('not', target.entity.concept_id);
  });
  isButton.addEventListener('click', () => {
    if (select.value) void send('is', select.value);
  });
  select.addEventListener('change', syncIsButton);
  dialog.addEventListener('close', () => {
    target = null;
  });

  return {
    /** @param {CorrectionTarget} t */
    open(t) {
      target = { ...t, entity: { ...t.entity, box: { ...t.entity.box } } };
      const name = currentName();
      title.textContent = name ? `Is this ${name}?` : 'Who is this?';
      notButton.hidden = !target.entity.concept_id;
      notButton.textContent = `Not ${name}`;
      const others = session.concepts.filter((c) => c.id !== target?.entity.concept_id).sort((a, b) => a.name.localeCompare(b.name));
      select.replaceChildren(h('option', { value: '', text: 'Choose…' }), ...others.map((c) => h('option', { value: c.id, text: `${c.name} (${c.kind})` })));
      status.textContent = '';
      busy(false);
      drawPreview(target);
      dialog.showModal();
      (notButton.hidden ? select : notButton).focus();
    },
  };
}
