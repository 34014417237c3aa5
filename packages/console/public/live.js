// @ts-check
/**
 * Live view: each camera's latest frame with coloured, named boxes, kept current by scene events (boxes move
 * at once) and snapshots (the picture itself), plus the camera's frame rate and counters. The control role can
 * correct a box ("not Billy", "this is Anna") from the list under the frame or by clicking the box.
 *
 * @typedef {import('./app.js').Session} Session
 * @typedef {import('../../contracts/src/protocol.ts').WireCameraStats} WireCameraStats
 * @typedef {import('../../contracts/src/protocol.ts').WireSceneEntity} WireSceneEntity
 * @typedef {import('../../contracts/src/protocol.ts').SceneChangeEvent} SceneChangeEvent
 * @typedef {import('../../contracts/src/protocol.ts').SnapshotResult} SnapshotResult
 */
import { ProtocolError, quietly } from './client.js';
import { createCorrect } from './correct.js';
import { UNKNOWN_COLOUR, byId, errorMessage, h, jpegBlob, paintBox, percent, placeBox, swatch, timeAgo } from './dom.js';

/** A new picture at least this often while the view is on screen. */
const REFRESH_MS = 2000;
/** Scene events ask for a new picture, but never more often than this per camera. */
const MIN_INTERVAL_MS = 700;

/**
 * @typedef {object} Card
 * @property {WireCameraStats} stats
 * @property {HTMLElement} root
 * @property {HTMLElement} title
 * @property {HTMLElement} frame
 * @property {HTMLImageElement} img
 * @property {HTMLElement} overlay
 * @property {HTMLElement} waiting
 * @property {HTMLElement} list
 * @property {HTMLElement} statsList
 * @property {HTMLElement} error
 * @property {number} width  frame pixels, from the last snapshot
 * @property {number} height
 * @property {Map<string, WireSceneEntity>} entities
 * @property {string | null} url  object URL of the picture shown
 * @property {boolean} inFlight
 * @property {number} lastFetch
 * @property {ReturnType<typeof setTimeout> | null} timer
 * @property {string} shown  what the boxes and the list show, to leave them be (and the focus on their buttons) when a new snapshot changes nothing
 */

/** @param {WireSceneEntity | SceneChangeEvent} e */
function entityKey(e) {
  return e.track_id ?? e.concept_id ?? `unknown:${e.box ? `${Math.round(e.box.xmin)},${Math.round(e.box.ymin)}` : ''}`;
}

/** @param {Session} session */
export function createLive(session) {
  const grid = byId('cameras');
  /** @type {Map<string, Card>} */
  const cards = new Map();
  let visible = false;
  /** @type {ReturnType<typeof setInterval> | null} */
  let ticker = null;
  const correct = createCorrect(session);

  /** @param {Card} card @param {WireSceneEntity} e */
  const openCorrection = (card, e) => correct.open({ cameraId: card.stats.id, room: card.stats.room, entity: e, img: card.img, width: card.width, height: card.height });

  /** @param {WireCameraStats} stats */
  function makeCard(stats) {
    const titleId = `camera-${stats.id}-title`;
    const img = /** @type {HTMLImageElement} */ (h('img', { alt: '', decoding: 'async' }));
    const overlay = h('div', { class: 'boxes', 'aria-hidden': 'true' });
    const waiting = h('p', { class: 'waiting', text: 'Waiting for the first frame…' });
    const frame = h('div', { class: 'frame' }, img, overlay, waiting);
    const title = h('h2', { id: titleId });
    const list = h('ul', { class: 'in-view', 'aria-label': 'In view' });
    const statsList = h('dl', { class: 'stats' });
    const error = h('p', { class: 'error', hidden: true });
    const root = h('article', { class: 'camera card', 'data-camera': stats.id, 'aria-labelledby': titleId }, h('header', {}, title), frame, list, statsList, error);
    /** @type {Card} */
    const card = { stats, root, title, frame, img, overlay, waiting, list, statsList, error, width: 0, height: 0, entities: new Map(), url: null, inFlight: false, lastFetch: 0, timer: null, shown: '' };
    img.addEventListener('load', () => {
      img.classList.add('loaded');
      waiting.hidden = true;
    });
    return card;
  }

  /** @param {Card} card */
  function renderStats(card) {
    const s = card.stats;
    card.title.replaceChildren(s.room, ' ', h('span', { class: 'camera-id', text: `(${s.id})` }), ' ', h('span', { class: `state state-${s.state}`, text: s.state }));
    const item = (/** @type {string} */ label, /** @type {string} */ value, /** @type {string} */ key) => [h('dt', { text: label }), h('dd', { 'data-stat': key, text: value })];
    card.statsList.replaceChildren(
      ...item('Frame rate', `${s.fps.toFixed(1)} fps`, 'fps'),
      ...item('Dropped', String(s.frames_dropped), 'dropped'),
      ...item('Processed', String(s.frames_processed), 'processed'),
      ...item('Last frame', s.last_frame_at === null ? 'never' : timeAgo(s.last_frame_at), 'last'),
    );
    card.error.hidden = !s.last_error;
    card.error.textContent = s.last_error ?? '';
  }

  /** @param {Card} card */
  function renderEntities(card) {
    const control = session.role === 'control';
    const entities = [...card.entities.values()]
      .sort((a, b) => b.confidence - a.confidence)
      .map((e) => {
        const concept = e.concept_id ? session.conceptById(e.concept_id) : undefined;
        return { e, name: concept?.name ?? e.name ?? 'Unknown', kind: concept?.kind ?? e.concept_kind, colour: e.concept_id ? session.colourOf(e.concept_id) : UNKNOWN_COLOUR };
      });
    const shown = JSON.stringify([control, card.width, card.height, card.stats.room, entities.map(({ e, name, kind, colour }) => [e.concept_id, name, kind, colour.name, e.box, e.confidence])]);
    if (shown === card.shown) return;
    card.shown = shown;
    const focused = card.list.contains(document.activeElement) ? document.activeElement?.getAttribute('aria-label') : null;
    const boxes = [];
    const items = [];
    for (const { e, name, kind, colour } of entities) {
      if (card.width > 0) {
        const box = h('div', { class: `box${e.concept_id ? '' : ' unknown'}`, 'data-name': name }, h('span', { class: 'label', text: `${name} ${percent(e.confidence)}` }));
        paintBox(box, colour);
        placeBox(box, e.box, card.width, card.height);
        // A shortcut for pointers; keyboards and screen readers use the list's button.
        if (control) box.addEventListener('click', () => openCorrection(card, e));
        boxes.push(box);
      }
      items.push(
        h(
          'li',
          { 'data-name': name },
          swatch(colour),
          h('strong', { text: name }),
          ` · ${kind ?? 'not recognised'} · ${percent(e.confidence)}`,
          control && card.width > 0 && h('button', { type: 'button', class: 'correct quiet', 'aria-label': `Correct ${e.concept_id ? name : 'this unknown'}`, 'aria-haspopup': 'dialog', text: 'Correct…', onclick: () => openCorrection(card, e) }),
        ),
      );
    }
    card.overlay.replaceChildren(...boxes);
    card.list.replaceChildren(...(items.length ? items : [h('li', { class: 'hint', text: 'Nobody and nothing recognised' })]));
    // Someone moved while a keyboard user was on their button: keep the focus there.
    if (focused) /** @type {HTMLElement | null} */ (card.list.querySelector(`button[aria-label="${CSS.escape(focused)}"]`))?.focus();
    card.img.alt = `Latest frame from the ${card.stats.room}${entities.length ? `, showing ${entities.map(({ e, name }) => (e.concept_id ? name : 'someone unknown')).join(', ')}` : ''}`;
  }

  /** @param {Card} card */
  async function fetchSnapshot(card) {
    if (card.inFlight) return;
    card.inFlight = true;
    card.lastFetch = Date.now();
    try {
      /** @type {SnapshotResult} */
      const snap = await session.client.request({ type: 'camera/snapshot', camera_id: card.stats.id });
      const url = URL.createObjectURL(jpegBlob(snap.jpeg));
      const previous = card.url;
      card.url = url;
      card.width = snap.width;
      card.height = snap.height;
      card.img.width = snap.width;
      card.img.height = snap.height;
      card.img.src = url;
      if (previous) card.img.addEventListener('load', () => URL.revokeObjectURL(previous), { once: true });
      card.entities = new Map(snap.entities.map((e) => [entityKey(e), e]));
      card.root.dataset.capturedAt = String(snap.captured_at);
      renderEntities(card);
    } catch (err) {
      if (err instanceof ProtocolError && err.code === 'NOT_FOUND') card.waiting.textContent = 'Waiting for the first frame…';
      else if (!quietly(err)) card.waiting.textContent = `No picture: ${errorMessage(err)}`;
    } finally {
      card.inFlight = false;
    }
  }

  /** A new picture soon, at most one per MIN_INTERVAL_MS. @param {Card} card */
  function want(card) {
    if (!visible || document.hidden || card.timer) return;
    const wait = Math.max(0, card.lastFetch + MIN_INTERVAL_MS - Date.now());
    card.timer = setTimeout(() => {
      card.timer = null;
      void fetchSnapshot(card);
    }, wait);
  }

  function syncCameras() {
    const ids = new Set(session.cameras.map((c) => c.id));
    for (const [id, card] of cards) {
      if (ids.has(id)) continue;
      card.root.remove();
      if (card.url) URL.revokeObjectURL(card.url);
      cards.delete(id);
    }
    for (const stats of session.cameras) {
      let card = cards.get(stats.id);
      if (!card) {
        card = makeCard(stats);
        cards.set(stats.id, card);
        grid.append(card.root);
        want(card);
      }
      card.stats = stats;
      renderStats(card);
    }
    byId('live-empty').hidden = session.cameras.length > 0;
  }

  return {
    show() {
      visible = true;
      for (const card of cards.values()) want(card);
      ticker ??= setInterval(() => {
        for (const card of cards.values()) if (Date.now() - card.lastFetch >= REFRESH_MS) want(card);
      }, REFRESH_MS / 2);
    },
    hide() {
      visible = false;
      if (ticker) clearInterval(ticker);
      ticker = null;
    },
    /** @param {'cameras' | 'concepts'} what */
    update(what) {
      if (what === 'cameras') syncCameras();
      else for (const card of cards.values()) renderEntities(card);
    },
    /** @param {SceneChangeEvent} e */
    scene(e) {
      const card = cards.get(e.camera_id);
      if (!card) return;
      if (e.change === 'left' || e.box) {
        const key = entityKey(e);
        card.entities.delete(key);
        // One box per concept, whichever key the snapshot filed it under (a backend may not report track ids).
        if (e.concept_id) for (const [k, v] of card.entities) if (v.concept_id === e.concept_id) card.entities.delete(k);
        if (e.change !== 'left' && e.box) {
          card.entities.set(key, { ...(e.track_id !== undefined && { track_id: e.track_id }), concept_id: e.concept_id, name: e.name, concept_kind: e.concept_kind, box: e.box, confidence: e.confidence });
        }
      }
      renderEntities(card);
      want(card);
    },
    reset() {
      this.hide();
      for (const card of cards.values()) if (card.url) URL.revokeObjectURL(card.url);
      cards.clear();
      grid.replaceChildren();
    },
  };
}
