// @ts-check
/**
 * Household: who and what Familiar knows (thumbnail, name, kind, context, views, threshold, where and when
 * last seen), and for the control role enrolling (photos from files, drag and drop, or a camera frame), editing and
 * forgetting.
 *
 * @typedef {import('./app.js').Session} Session
 * @typedef {import('../../contracts/src/types.ts').ConceptKind} ConceptKind
 * @typedef {import('../../contracts/src/protocol.ts').WireConcept} WireConcept
 * @typedef {import('../../contracts/src/protocol.ts').ConceptResult} ConceptResult
 * @typedef {import('../../contracts/src/protocol.ts').LastSeenResult} LastSeenResult
 * @typedef {import('../../contracts/src/protocol.ts').ThumbnailResult} ThumbnailResult
 * @typedef {import('../../contracts/src/protocol.ts').SceneChangeEvent} SceneChangeEvent
 */
import { ProtocolError } from './client.js';
import { createCapture } from './capture.js';
import { byId, canvasJpeg, confirmDialog, errorMessage, h, swatch, timeAgo, toBase64, toast } from './dom.js';

/** The server's default `server.maxImagesPerMessage`. */
const MAX_PHOTOS = 8;
/**
 * Photo bytes per message (an enrolment's photos together, an ask's image): base64 makes them a third larger,
 * and the server's default `server.maxMessageBytes` (16 MiB) closes a connection that sends more.
 */
export const MESSAGE_PHOTO_BYTES = 9 * 1024 * 1024;
/** Photos up to this size, in a format every Familiar decodes, are sent as they are (EXIF and all). */
const SEND_AS_IS_BYTES = 3 * 1024 * 1024;
/** Larger photos are scaled down in the browser first, to at most this side, smaller until they fit. */
const MAX_SIDE = 2048;
const MIN_SIDE = 512;
const AS_IS_TYPES = ['image/jpeg', 'image/png', 'image/webp'];
/** A concept's last sighting is asked again after this long (scene events keep it current meanwhile). */
const LAST_SEEN_TTL_MS = 60_000;
/** memory/last_seen and concepts/thumbnail requests in flight at once: a large household stays under the server's rate limit. */
const FETCH_CONCURRENCY = 3;
/** "5 min ago" moves on while the view is on screen. */
const LAST_SEEN_TICK_MS = 15_000;

/**
 * Where and when a concept was last seen; null: never.
 * @typedef {{ room: string, cameraId: string, at: number, ongoing: boolean, answer: string | null } | null} LastSeen
 */

/** @param {LastSeen | undefined} seen */
function lastSeenText(seen) {
  if (seen === undefined) return '…';
  if (seen === null) return 'not seen yet';
  const where = `the ${seen.room} (${seen.cameraId})`;
  return seen.ongoing ? `in ${where} now` : `${timeAgo(seen.at)} in ${where}`;
}

/**
 * @typedef {object} TrayPhoto
 * @property {Blob} blob
 * @property {string} label
 * @property {string} url  object URL of the thumbnail
 */

/**
 * A photo's bytes as Familiar should receive them: as they are when small enough, else re-encoded as JPEG,
 * scaled down until they fit in `maxBytes`.
 * @param {Blob} blob
 * @param {number} maxBytes
 * @returns {Promise<Uint8Array>}
 */
export async function photoBytes(blob, maxBytes) {
  if (blob.size <= Math.min(SEND_AS_IS_BYTES, maxBytes) && AS_IS_TYPES.includes(blob.type)) return new Uint8Array(await blob.arrayBuffer());
  const bitmap = await createImageBitmap(blob, { imageOrientation: 'from-image' });
  try {
    for (let side = MAX_SIDE; ; side = Math.round(side * 0.75)) {
      const scale = Math.min(1, side / Math.max(bitmap.width, bitmap.height));
      const canvas = document.createElement('canvas');
      canvas.width = Math.max(1, Math.round(bitmap.width * scale));
      canvas.height = Math.max(1, Math.round(bitmap.height * scale));
      canvas.getContext('2d')?.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      const jpeg = await canvasJpeg(canvas, 0.9, 'photo');
      if (jpeg.size <= maxBytes || side <= MIN_SIDE) return new Uint8Array(await jpeg.arrayBuffer());
    }
  } finally {
    bitmap.close();
  }
}

/** @param {WireConcept} c */
function thresholdText(c) {
  const parts = Object.entries(c.thresholds).map(([space, t]) => `${Number(t).toFixed(2)} (${space})`);
  return parts.length ? parts.join(', ') : 'not calibrated';
}

/** @param {Session} session */
export function createHousehold(session) {
  const list = byId('concepts');
  const form = /** @type {HTMLFormElement} */ (byId('enrol-form'));
  const nameInput = /** @type {HTMLInputElement} */ (byId('enrol-name'));
  const kindInput = /** @type {HTMLSelectElement} */ (byId('enrol-kind'));
  const contextInput = /** @type {HTMLTextAreaElement} */ (byId('enrol-context'));
  const fileInput = /** @type {HTMLInputElement} */ (byId('enrol-photos'));
  const dropzone = byId('dropzone');
  const tray = byId('tray');
  const progress = /** @type {HTMLProgressElement} */ (byId('enrol-progress'));
  const status = byId('enrol-status');
  const submit = /** @type {HTMLButtonElement} */ (byId('enrol-submit'));
  /** @type {TrayPhoto[]} */
  let photos = [];
  let busy = false;
  let visible = false;
  /** @type {Map<string, { seen: LastSeen, fetched: number }>} */
  const lastSeen = new Map();
  /** @type {Set<string>} */
  const fetching = new Set();
  /** Each concept's thumbnail as a data: URL; null: it has none (embeddings-only mode). Asked once a session. */
  /** @type {Map<string, string | null>} */
  const thumbs = new Map();
  /** @type {ReturnType<typeof setInterval> | null} */
  let ticker = null;

  // ------------------------------------------------------------------ the list

  function render() {
    const concepts = [...session.concepts].sort((a, b) => a.name.localeCompare(b.name));
    const control = session.role === 'control';
    list.replaceChildren(
      ...concepts.map((c) => {
        const colour = session.colourOf(c.id);
        const headingId = `concept-${c.id}-name`;
        return h(
          'li',
          { class: 'concept card', 'data-concept': c.id, 'aria-labelledby': headingId },
          h('div', { class: 'concept-head' }, thumbImage(c.id), h('h2', { id: headingId }, swatch(colour, `${colour.name} in the live view`), c.name, ' ', h('span', { class: `badge kind-${c.kind}`, text: c.kind }))),
          c.context ? h('p', { class: 'context', text: c.context }) : h('p', { class: 'context hint', text: 'No context yet.' }),
          h(
            'dl',
            { class: 'facts' },
            h('dt', { text: 'Views' }),
            h('dd', { 'data-fact': 'views', text: String(c.view_count) }),
            h('dt', { text: 'Threshold' }),
            h('dd', { 'data-fact': 'threshold', text: thresholdText(c) }),
            h('dt', { text: 'Last seen' }),
            h('dd', { 'data-fact': 'last-seen', text: lastSeenText(lastSeen.get(c.id)?.seen) }),
            h('dt', { text: 'Enrolled' }),
            h('dd', { text: new Date(c.created_at).toLocaleDateString() }),
          ),
          control &&
            h(
              'div',
              { class: 'actions' },
              h('button', { type: 'button', class: 'edit', 'aria-label': `Edit ${c.name}`, onclick: () => edit(c), text: 'Edit' }),
              h('button', { type: 'button', class: 'forget danger', 'aria-label': `Forget ${c.name}`, onclick: () => void forget(c), text: 'Forget' }),
            ),
        );
      }),
    );
    byId('concepts-empty').hidden = concepts.length > 0;
    if (visible) {
      void refreshLastSeen();
      void refreshThumbs();
    }
  }

  /**
   * Runs `fn` over `ids`, a few at a time. Protocol errors (forgotten meanwhile, the connection went) leave
   * that id to be asked again next time.
   * @param {'thumbnail' | 'last-seen'} what
   * @param {string[]} ids
   * @param {(id: string) => Promise<void>} fn
   */
  async function fetchEach(what, ids, fn) {
    for (const id of ids) fetching.add(`${what}:${id}`);
    const queue = [...ids];
    const worker = async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        try {
          await fn(id);
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
        } finally {
          fetching.delete(`${what}:${id}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(FETCH_CONCURRENCY, queue.length) }, worker));
  }

  // ------------------------------------------------------------------ thumbnails

  /** @param {string} id */
  function thumbImage(id) {
    const src = thumbs.get(id);
    return src ? h('img', { class: 'thumb', src, alt: '', width: 56, height: 56 }) : null;
  }

  async function refreshThumbs() {
    const due = session.concepts.filter((c) => !thumbs.has(c.id) && !fetching.has(`thumbnail:${c.id}`)).map((c) => c.id);
    await fetchEach('thumbnail', due, async (id) => {
      /** @type {ThumbnailResult} */
      const res = await session.client.request({ type: 'concepts/thumbnail', concept_id: id });
      thumbs.set(id, res.jpeg && `data:image/jpeg;base64,${res.jpeg}`);
      const head = list.querySelector(`[data-concept="${CSS.escape(id)}"] .concept-head`);
      const img = thumbImage(id);
      if (head && img && !head.querySelector('.thumb')) head.prepend(img);
    });
  }

  // ------------------------------------------------------------------ last seen

  /**
   * Rewrites a concept's "last seen" fact in place: re-rendering the card would take the focus off its buttons.
   * @param {Element} dd
   * @param {string} id
   */
  function renderLastSeenOf(dd, id) {
    const entry = lastSeen.get(id);
    dd.textContent = lastSeenText(entry?.seen);
    if (entry?.seen?.answer) dd.setAttribute('title', entry.seen.answer);
    else dd.removeAttribute('title');
  }

  function renderLastSeen() {
    for (const dd of list.querySelectorAll('[data-fact="last-seen"]')) renderLastSeenOf(dd, dd.closest('[data-concept]')?.getAttribute('data-concept') ?? '');
  }

  /** Asks memory/last_seen for the concepts not known or not asked for a while, a few at a time. */
  async function refreshLastSeen() {
    const now = Date.now();
    const due = session.concepts.filter((c) => !fetching.has(`last-seen:${c.id}`) && now - (lastSeen.get(c.id)?.fetched ?? 0) > LAST_SEEN_TTL_MS).map((c) => c.id);
    await fetchEach('last-seen', due, async (id) => {
      /** @type {LastSeenResult} */
      const res = await session.client.request({ type: 'memory/last_seen', concept_id: id });
      const s = res.sighting;
      lastSeen.set(id, { seen: s && { room: s.room, cameraId: s.camera_id, at: s.last_seen, ongoing: s.ongoing, answer: res.answer }, fetched: Date.now() });
    });
    renderLastSeen();
  }

  // ------------------------------------------------------------------ edit and forget

  /** @param {WireConcept} c */
  function edit(c) {
    const dialog = /** @type {HTMLDialogElement} */ (byId('edit-dialog'));
    const name = /** @type {HTMLInputElement} */ (byId('edit-name'));
    const context = /** @type {HTMLTextAreaElement} */ (byId('edit-context'));
    const error = byId('edit-error');
    byId('edit-title').textContent = `Edit ${c.name}`;
    name.value = c.name;
    context.value = c.context;
    error.textContent = '';
    dialog.showModal();
    name.focus();
    const editForm = /** @type {HTMLFormElement} */ (byId('edit-form'));
    /** @param {SubmitEvent} ev */
    const onSubmit = async (ev) => {
      const submitter = /** @type {HTMLButtonElement | null} */ (ev.submitter);
      if (submitter?.value !== 'save') return cleanup();
      ev.preventDefault();
      const patch = {
        ...(name.value.trim() !== c.name && { name: name.value.trim() }),
        ...(context.value !== c.context && { context: context.value }),
      };
      if (!name.value.trim()) return void (error.textContent = 'The name cannot be empty.');
      if (Object.keys(patch).length === 0) return void dialog.close('unchanged');
      try {
        /** @type {ConceptResult} */
        const res = await session.client.request({ type: 'concepts/update', concept_id: c.id, ...patch });
        dialog.close('saved');
        toast(`Saved ${res.concept.name}.`);
        await session.refreshConcepts();
      } catch (err) {
        error.textContent = errorMessage(err);
      }
    };
    const cleanup = () => editForm.removeEventListener('submit', onSubmit);
    editForm.addEventListener('submit', onSubmit);
    dialog.addEventListener('close', cleanup, { once: true });
  }

  /** @param {WireConcept} c */
  async function forget(c) {
    const yes = await confirmDialog({
      title: `Forget ${c.name}?`,
      body: `Familiar will erase ${c.name}'s photos, views, sightings and everything it was told about them. This cannot be undone.`,
      confirm: `Forget ${c.name}`,
    });
    if (!yes) return;
    try {
      await session.client.request({ type: 'concepts/forget', concept_id: c.id });
      toast(`${c.name} is forgotten.`);
      await session.refreshConcepts();
      nameInput.closest('details')?.querySelector('summary')?.focus();
    } catch (err) {
      toast(`Could not forget ${c.name}: ${errorMessage(err)}`, 'error');
    }
  }

  // ------------------------------------------------------------------ the photo tray

  function renderTray() {
    tray.replaceChildren(
      ...photos.map((p, i) =>
        h(
          'li',
          {},
          h('img', { src: p.url, alt: '' }),
          h('span', { class: 'tray-label', text: p.label }),
          h('button', { type: 'button', class: 'remove quiet', 'aria-label': `Remove photo ${i + 1} (${p.label})`, text: '×', onclick: () => removePhoto(i) }),
        ),
      ),
    );
  }

  /** Shows the tray as it now is, and how many photos it holds. @param {string} [note] after that */
  function trayChanged(note = '') {
    renderTray();
    status.textContent = `${photos.length} photo${photos.length === 1 ? '' : 's'} ready.${note}`;
  }

  /** @param {number} i */
  function removePhoto(i) {
    const [p] = photos.splice(i, 1);
    if (p) URL.revokeObjectURL(p.url);
    trayChanged();
  }

  /**
   * @param {Blob} blob
   * @param {string} label
   */
  function addPhoto(blob, label) {
    if (photos.length >= MAX_PHOTOS) {
      status.textContent = `At most ${MAX_PHOTOS} photos at once; ${label} was left out.`;
      return false;
    }
    photos.push({ blob, label, url: URL.createObjectURL(blob) });
    return true;
  }

  /** @param {Iterable<File>} files */
  function addFiles(files) {
    let added = 0;
    let skipped = 0;
    for (const f of files) {
      if (!f.type.startsWith('image/')) skipped++;
      else if (addPhoto(f, f.name)) added++;
    }
    const note = skipped ? ` ${skipped} file${skipped === 1 ? ' was' : 's were'} not an image.` : '';
    // Nothing added or skipped: the tray is as it was, and an "At most" message stays.
    if (added || skipped) trayChanged(note);
  }

  fileInput.addEventListener('change', () => {
    addFiles(fileInput.files ?? []);
    fileInput.value = '';
  });
  for (const type of ['dragenter', 'dragover']) {
    dropzone.addEventListener(type, (ev) => {
      ev.preventDefault();
      dropzone.classList.add('dragging');
    });
  }
  dropzone.addEventListener('dragleave', () => dropzone.classList.remove('dragging'));
  dropzone.addEventListener('drop', (ev) => {
    ev.preventDefault();
    dropzone.classList.remove('dragging');
    addFiles(/** @type {DragEvent} */ (ev).dataTransfer?.files ?? []);
  });

  // A refused photo leaves the tray as it was and its "At most" message in view.
  const capture = createCapture(session, (blob, label) => {
    if (addPhoto(blob, label)) trayChanged();
  });
  byId('capture-open').addEventListener('click', () => capture.open());

  // ------------------------------------------------------------------ enrolling

  /** @param {number | null} value percent, null: working, no way to tell how far */
  function setProgress(value) {
    progress.hidden = false;
    if (value === null) progress.removeAttribute('value');
    else progress.value = value;
  }

  /** @param {boolean} on */
  function setBusy(on) {
    busy = on;
    submit.disabled = on;
    form.setAttribute('aria-busy', String(on));
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (busy) return;
    status.classList.remove('error');
    const name = nameInput.value.trim();
    if (!name) {
      status.textContent = 'Give a name.';
      status.classList.add('error');
      nameInput.focus();
      return;
    }
    if (photos.length === 0) {
      status.textContent = 'Add at least one photo.';
      status.classList.add('error');
      return;
    }
    setBusy(true);
    try {
      // Preparing (reading, scaling down) is the first 30 %, sending the next 60 %, the server the rest.
      const encoded = [];
      for (const [i, p] of photos.entries()) {
        status.textContent = `Preparing photo ${i + 1} of ${photos.length}…`;
        setProgress((30 * i) / photos.length);
        encoded.push(toBase64(await photoBytes(p.blob, MESSAGE_PHOTO_BYTES / photos.length)));
      }
      const total = encoded.reduce((n, s) => n + s.length, 0);
      const { result } = session.client.start({ type: 'concepts/enrol', name, kind: /** @type {ConceptKind} */ (kindInput.value), context: contextInput.value, photos: encoded });
      let uploaded = false;
      const watch = setInterval(() => {
        const sent = Math.max(0, total - session.client.bufferedAmount);
        if (!uploaded && sent < total) {
          setProgress(30 + (60 * sent) / total);
          status.textContent = `Uploading ${photos.length} photo${photos.length === 1 ? '' : 's'}… ${Math.round((100 * sent) / total)} %`;
          return;
        }
        if (!uploaded) {
          uploaded = true;
          setProgress(null);
          status.textContent = `Familiar is learning ${name}…`;
        }
      }, 50);
      try {
        /** @type {ConceptResult} */
        const res = await result;
        setProgress(100);
        status.textContent = `${res.concept.name} is enrolled from ${res.concept.view_count} view${res.concept.view_count === 1 ? '' : 's'}.`;
        toast(`${res.concept.name} is enrolled.`);
        for (const p of photos) URL.revokeObjectURL(p.url);
        photos = [];
        renderTray();
        form.reset();
        await session.refreshConcepts();
      } finally {
        clearInterval(watch);
      }
    } catch (err) {
      status.textContent = `Not enrolled: ${errorMessage(err)}`;
      status.classList.add('error');
    } finally {
      setBusy(false);
      setTimeout(() => {
        if (!busy) progress.hidden = true;
      }, 1500);
    }
  });

  return {
    show() {
      visible = true;
      ticker ??= setInterval(renderLastSeen, LAST_SEEN_TICK_MS);
      void session.refreshConcepts();
    },
    hide() {
      visible = false;
      if (ticker) clearInterval(ticker);
      ticker = null;
    },
    /** @param {'cameras' | 'concepts'} what */
    update(what) {
      if (what === 'concepts') render();
    },
    /** Comings and goings keep "last seen" current without asking. @param {SceneChangeEvent} e */
    scene(e) {
      if (!e.concept_id) return;
      const fetched = lastSeen.get(e.concept_id)?.fetched ?? 0;
      lastSeen.set(e.concept_id, { seen: { room: e.room, cameraId: e.camera_id, at: e.at, ongoing: e.change !== 'left', answer: null }, fetched });
      const dd = visible && list.querySelector(`[data-concept="${CSS.escape(e.concept_id)}"] [data-fact="last-seen"]`);
      if (dd) renderLastSeenOf(dd, e.concept_id);
    },
    reset() {
      this.hide();
      lastSeen.clear();
      thumbs.clear();
      for (const p of photos) URL.revokeObjectURL(p.url);
      photos = [];
      renderTray();
      list.replaceChildren();
      status.textContent = '';
    },
  };
}
