// @ts-check
/**
 * Ask: a question about a camera's view (or a photo), the answer streamed into a live region as it arrives,
 * then who it was grounded on, who was not in view, and who answered.
 *
 * @typedef {import('./app.js').Session} Session
 * @typedef {import('../../contracts/src/protocol.ts').AskResult} AskResult
 */
import { ProtocolError } from './client.js';
import { byId, cameraOptions, clock, colourByName, errorMessage, h, percent, swatch, timeAgo, toBase64 } from './dom.js';
import { MESSAGE_PHOTO_BYTES, photoBytes } from './household.js';

/** @param {Session} session */
export function createAsk(session) {
  const form = /** @type {HTMLFormElement} */ (byId('ask-form'));
  const camera = /** @type {HTMLSelectElement} */ (byId('ask-camera'));
  const image = /** @type {HTMLInputElement} */ (byId('ask-image'));
  const question = /** @type {HTMLTextAreaElement} */ (byId('ask-question'));
  const captionFirst = /** @type {HTMLInputElement} */ (byId('ask-caption-first'));
  const submit = /** @type {HTMLButtonElement} */ (byId('ask-submit'));
  const stop = /** @type {HTMLButtonElement} */ (byId('ask-stop'));
  const log = byId('chat-log');
  /** @type {number | null} */
  let asking = null;
  /** The conversation the next question continues (follow-ups like "and before that?"); null: a new one. */
  /** @type {string | null} */
  let conversation = null;

  function renderCameras() {
    cameraOptions(camera, session.cameras, h('option', { value: '', text: 'The default camera' }));
  }

  function renderModel() {
    byId('ask-model').textContent = session.lvlm.configured
      ? `Answers come from the vision-language model ${session.lvlm.model ?? ''}, shown the picture with everyone Familiar recognised in it.`
      : 'No vision-language model is configured: Familiar answers from what it recognises and remembers.';
  }

  /**
   * @param {AskResult} r
   * @returns {HTMLElement}
   */
  function details(r) {
    const parts = [];
    const where = r.room ? `${r.room}${r.camera_id ? ` (${r.camera_id})` : ''}` : 'your photo';
    parts.push(
      h('p', { class: 'source', text: `${r.source === 'lvlm' ? 'Answered by the vision-language model' : 'Answered from recognition and memory'} · about ${where}${r.captured_at ? ` at ${clock(r.captured_at)}` : ''}` }),
    );
    if (r.grounded_on.length) {
      parts.push(
        h(
          'div',
          { class: 'grounded' },
          h('span', { class: 'grounded-title', text: 'Grounded on:' }),
          h(
            'ul',
            { class: 'chips', 'aria-label': 'Grounded on' },
            ...r.grounded_on.map((g) =>
              h('li', { class: 'chip', 'data-concept': g.concept_id }, swatch(colourByName(g.colour)), h('strong', { text: g.name }), ` ${g.kind} · ${g.colour} box · ${percent(g.confidence)}`),
            ),
          ),
        ),
      );
    }
    for (const n of r.not_in_view) {
      const seen = n.last_seen ? `last seen ${timeAgo(n.last_seen.at)} in the ${n.last_seen.room} (${n.last_seen.camera_id})` : 'never seen';
      parts.push(h('p', { class: 'not-in-view', text: `${n.name} is not in view: ${seen}.` }));
    }
    if (r.lvlm_error) parts.push(h('p', { class: 'hint', text: `The vision-language model could not answer (${r.lvlm_error.code}: ${r.lvlm_error.message}).` }));
    return h('div', { class: 'answer-details' }, ...parts);
  }

  /** @param {boolean} on */
  function setAsking(on) {
    submit.disabled = on;
    stop.hidden = !on;
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = question.value.trim();
    if (!text || asking !== null) return;
    const file = image.files?.[0];
    const about = file ? `your photo ${file.name}` : camera.value ? (session.cameras.find((c) => c.id === camera.value)?.room ?? camera.value) : 'the default camera';
    log.append(h('article', { class: 'msg you' }, h('p', { class: 'who', text: `You, about ${about}` }), h('p', { class: 'text', text })));
    const answer = h('p', { class: 'text answer' });
    const reply = h('article', { class: 'msg familiar', 'aria-busy': 'true' }, h('p', { class: 'who', text: 'Familiar' }), answer, h('p', { class: 'hint thinking', text: 'Thinking…' }));
    log.append(reply);
    reply.scrollIntoView({ block: 'nearest' });
    question.value = '';
    setAsking(true);
    try {
      /** @type {import('../../contracts/src/protocol.ts').CommandInput<'ask'>} */
      const command = {
        type: 'ask',
        question: text,
        ...(file ? { image: toBase64(await photoBytes(file, MESSAGE_PHOTO_BYTES)) } : camera.value ? { camera_id: camera.value } : {}),
        ...(captionFirst.checked && { mode: /** @type {const} */ ('caption_first') }),
        ...(conversation !== null && { conversation_id: conversation }),
      };
      const started = session.client.start(command, {
        onEvent: (e) => {
          if (e.kind !== 'delta') return;
          reply.querySelector('.thinking')?.remove();
          answer.append(e.text);
          reply.scrollIntoView({ block: 'nearest' });
        },
      });
      asking = started.id;
      /** @type {AskResult} */
      const r = await started.result;
      conversation = r.conversation_id;
      reply.querySelector('.thinking')?.remove();
      answer.textContent = r.answer;
      reply.append(details(r));
      image.value = '';
    } catch (err) {
      reply.querySelector('.thinking')?.remove();
      const stopped = err instanceof ProtocolError && err.code === 'CANCELLED';
      reply.append(h('p', { class: stopped ? 'hint' : 'error', text: stopped ? 'Stopped.' : `No answer: ${errorMessage(err)}` }));
    } finally {
      reply.setAttribute('aria-busy', 'false');
      asking = null;
      setAsking(false);
    }
  });

  question.addEventListener('keydown', (ev) => {
    // Enter asks, Shift+Enter starts a new line (not while an input method is composing).
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      form.requestSubmit();
    }
  });

  byId('ask-new').addEventListener('click', () => {
    conversation = null;
    log.append(h('p', { class: 'hint', text: 'New conversation: earlier questions are no longer taken into account.' }));
    question.focus();
  });

  stop.addEventListener('click', () => {
    if (asking !== null) session.client.request({ type: 'ask/cancel', ask_id: asking }).catch(() => {});
  });

  return {
    show() {},
    hide() {},
    /** @param {'cameras' | 'concepts'} what */
    update(what) {
      if (what === 'cameras') {
        renderCameras();
        renderModel();
      }
    },
    reset() {
      log.replaceChildren();
    },
  };
}
