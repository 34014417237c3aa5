// @ts-check
/**
 * Memory: what Familiar remembers beyond identity. Sightings (the store's visits, and the comings and goings
 * reported live), reminders (create from a sentence, cancel, and each one as it fires), unknown visitors (name
 * them to enrol them, or dismiss them) and a person's preferences (the lists, edited, or added to from a
 * free-form comment).
 *
 * @typedef {import('./app.js').Session} Session
 * @typedef {import('../../contracts/src/protocol.ts').SceneChangeEvent} SceneChangeEvent
 * @typedef {import('../../contracts/src/protocol.ts').ReminderFiredEvent} ReminderFiredEvent
 * @typedef {import('../../contracts/src/protocol.ts').WireSighting} WireSighting
 * @typedef {import('../../contracts/src/protocol.ts').WireTrigger} WireTrigger
 * @typedef {import('../../contracts/src/protocol.ts').WireUnknown} WireUnknown
 * @typedef {import('../../contracts/src/protocol.ts').WirePreferences} WirePreferences
 * @typedef {import('../../contracts/src/protocol.ts').SightingsResult} SightingsResult
 * @typedef {import('../../contracts/src/protocol.ts').TriggerResult} TriggerResult
 * @typedef {import('../../contracts/src/protocol.ts').TriggersListResult} TriggersListResult
 * @typedef {import('../../contracts/src/protocol.ts').UnknownsListResult} UnknownsListResult
 * @typedef {import('../../contracts/src/protocol.ts').PreferencesResult} PreferencesResult
 * @typedef {import('../../contracts/src/protocol.ts').PreferencesCommentResult} PreferencesCommentResult
 * @typedef {import('../../contracts/src/protocol.ts').ConceptResult} ConceptResult
 */
import { quietly } from './client.js';
import { byId, clock, confirmDialog, errorMessage, h, soon, timeAgo, toast } from './dom.js';

/** Live entries kept on the page (comings and goings, fired reminders). */
const MAX_ENTRIES = 200;
/** Visits asked of the store at a time. */
const SIGHTINGS_LIMIT = 50;
/** A burst of scene events refreshes the sightings once, this long after the last one. */
const REFRESH_DEBOUNCE_MS = 1000;
/** The sightings filter's value for "unknown people" (concept_id null). */
const UNKNOWN_PEOPLE = 'unknown';


/** The time of day, with the date in front when it is not today. @param {number} at */
function when(at) {
  const d = new Date(at);
  return d.toDateString() === new Date().toDateString() ? clock(at) : `${d.toLocaleDateString()} ${clock(at)}`;
}

/** @param {number} at */
const timeEl = (at) => h('time', { datetime: new Date(at).toISOString(), text: when(at) });

/** @param {number} ms */
function duration(ms) {
  const min = Math.round(ms / 60_000);
  return min < 1 ? '' : min < 60 ? `for ${min} min` : `for ${Math.round(min / 6) / 10} h`;
}

/** @param {string} text one item per line */
const lines = (text) => text.split('\n').map((s) => s.trim()).filter(Boolean);

/** @param {Session} session */
export function createMemory(session) {
  const timeline = byId('timeline');
  const sightings = byId('sightings');
  const who = /** @type {HTMLSelectElement} */ (byId('sightings-who'));
  const reminderForm = /** @type {HTMLFormElement} */ (byId('reminder-form'));
  const reminderText = /** @type {HTMLInputElement} */ (byId('reminder-text'));
  const reminderStatus = byId('reminder-status');
  const reminders = byId('reminders');
  const fired = byId('fired');
  const unknowns = byId('unknowns');
  const person = /** @type {HTMLSelectElement} */ (byId('prefs-person'));
  const prefsStatus = byId('prefs-status');
  const likesInput = /** @type {HTMLTextAreaElement} */ (byId('prefs-likes-input'));
  const dislikesInput = /** @type {HTMLTextAreaElement} */ (byId('prefs-dislikes-input'));
  const comment = /** @type {HTMLTextAreaElement} */ (byId('prefs-comment'));
  let visible = false;
  /** Reminders created from this page: a viewer may cancel those (the server checks whose they are). */
  const mine = new Set();

  /** @param {string} what @param {unknown} err */
  function failed(what, err) {
    if (!quietly(err)) toast(`${what}: ${errorMessage(err)}`, 'error');
  }

  /** @param {HTMLElement} el @param {string} text @param {boolean} [error] */
  function say(el, text, error = false) {
    el.textContent = text;
    el.classList.toggle('error', error);
  }

  // ------------------------------------------------------------------ sightings

  /** @param {WireSighting} s */
  function sightingItem(s) {
    const name = (s.concept_id && session.conceptById(s.concept_id)?.name) || s.name || 'Someone unknown';
    const facts = [s.ongoing ? 'still there' : duration(s.last_seen - s.first_seen), s.with_others.length ? `with ${s.with_others.join(', ')}` : ''].filter(Boolean).join(', ');
    return h(
      'li',
      { class: `sighting${s.ongoing ? ' ongoing' : ''}`, 'data-concept': s.concept_id ?? '' },
      timeEl(s.ongoing ? s.first_seen : s.last_seen),
      ' ',
      h('strong', { text: name }),
      ` ${s.ongoing ? 'in' : 'was in'} the ${s.room} (${s.camera_id})${facts ? `, ${facts}` : ''}`,
    );
  }

  async function loadSightings() {
    const filter = who.value;
    try {
      /** @type {SightingsResult} */
      const res = await session.client.request({
        type: 'memory/sightings',
        limit: SIGHTINGS_LIMIT,
        ...(filter === UNKNOWN_PEOPLE ? { concept_id: null } : filter ? { concept_id: filter } : {}),
      });
      if (who.value !== filter) return;
      sightings.replaceChildren(...res.sightings.map(sightingItem));
      byId('sightings-empty').hidden = res.sightings.length > 0;
    } catch (err) {
      failed('Could not load the sightings', err);
    }
  }

  const sightingsRefresh = soon(() => {
    if (visible) void loadSightings();
  }, REFRESH_DEBOUNCE_MS);

  function renderWho() {
    const previous = who.value;
    const concepts = [...session.concepts].sort((a, b) => a.name.localeCompare(b.name));
    who.replaceChildren(
      h('option', { value: '', text: 'Everyone' }),
      h('option', { value: UNKNOWN_PEOPLE, text: 'Unknown people' }),
      ...concepts.map((c) => h('option', { value: c.id, text: c.name })),
    );
    who.value = [...who.options].some((o) => o.value === previous) ? previous : '';
    if (who.value !== previous && visible) void loadSightings();
  }

  who.addEventListener('change', () => void loadSightings());

  // ------------------------------------------------------------------ reminders

  /** @param {WireTrigger} t */
  function reminderItem(t) {
    const canCancel = session.role === 'control' || mine.has(t.id) || session.isMember(t.created_by);
    const condition = `${t.once ? 'Next time' : 'Every time'} ${t.name} ${t.room ? `is in the ${t.room}` : 'shows up'}`;
    const history = t.fired_count ? `fired ${t.fired_count} time${t.fired_count === 1 ? '' : 's'}${t.last_fired_at ? `, last ${timeAgo(t.last_fired_at)}` : ''}` : 'not fired yet';
    return h(
      'li',
      { class: 'reminder', 'data-trigger': t.id, 'data-concept': t.concept_id },
      h('div', { class: 'grow' }, h('p', {}, h('strong', { text: `${condition}:` }), ' ', t.message), h('p', { class: 'hint', text: `For ${t.created_by} · ${history}` })),
      canCancel &&
        h('button', {
          type: 'button',
          class: 'cancel danger',
          'aria-label': `Cancel the reminder about ${t.name}: ${t.message}`,
          text: 'Cancel',
          onclick: () => void cancelReminder(t),
        }),
    );
  }

  async function loadReminders() {
    try {
      /** @type {TriggersListResult} */
      const res = await session.client.request({ type: 'triggers/list' });
      const list = [...res.triggers].sort((a, b) => b.created_at - a.created_at);
      reminders.replaceChildren(...list.map(reminderItem));
      byId('reminders-empty').hidden = list.length > 0;
    } catch (err) {
      failed('Could not load the reminders', err);
    }
  }

  /** A fired reminder's count went up, or a one-off reminder is gone. */
  const remindersRefresh = soon(() => void loadReminders(), REFRESH_DEBOUNCE_MS);

  /** @param {WireTrigger} t */
  async function cancelReminder(t) {
    try {
      await session.client.request({ type: 'triggers/cancel', trigger_id: t.id });
      mine.delete(t.id);
      toast(`Reminder about ${t.name} cancelled.`);
      await loadReminders();
      reminderText.focus();
    } catch (err) {
      toast(`Could not cancel the reminder: ${errorMessage(err)}`, 'error');
    }
  }

  reminderForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = reminderText.value.trim();
    if (!text) return say(reminderStatus, 'Write the reminder first.', true);
    const submit = /** @type {HTMLButtonElement} */ (byId('reminder-submit'));
    submit.disabled = true;
    say(reminderStatus, 'Adding…');
    try {
      /** @type {TriggerResult} */
      const { trigger: t } = await session.client.request({ type: 'triggers/add', text });
      mine.add(t.id);
      reminderText.value = '';
      say(reminderStatus, `OK: ${t.once ? 'the next time' : 'every time'} ${t.name} ${t.room ? `is in the ${t.room}` : 'shows up'}, Familiar will say "${t.message}"`);
      await loadReminders();
    } catch (err) {
      say(reminderStatus, `Not added: ${errorMessage(err)}`, true);
      reminderText.focus();
    } finally {
      submit.disabled = false;
    }
  });

  // ------------------------------------------------------------------ unknown visitors

  /** @param {WireUnknown} u */
  function unknownItem(u) {
    const inputId = `${u.id}-name`;
    const facts = `last seen ${timeAgo(u.last_seen)}${u.last_camera_id ? ` (${u.last_camera_id})` : ''} · ${u.view_count} face view${u.view_count === 1 ? '' : 's'} gathered`;
    /** @type {HTMLElement | false} */
    let controls = false;
    if (session.role === 'control') {
      const input = /** @type {HTMLInputElement} */ (h('input', { id: inputId, maxlength: 64, autocomplete: 'off', required: true }));
      controls = h(
        'form',
        {
          class: 'row',
          onsubmit: (/** @type {SubmitEvent} */ ev) => {
            ev.preventDefault();
            void nameUnknown(u, input.value.trim());
          },
        },
        h('div', { class: 'field grow' }, h('label', { for: inputId, text: `Name for ${u.id}` }), input),
        h('button', { type: 'submit', class: 'primary', text: 'Name', 'aria-label': `Name ${u.id}` }),
        h('button', { type: 'button', class: 'danger', text: 'Dismiss', 'aria-label': `Dismiss ${u.id}`, onclick: () => void dismissUnknown(u) }),
      );
    }
    return h('li', { class: 'unknown', 'data-unknown': u.id }, h('p', {}, h('strong', { text: u.summary })), h('p', { class: 'hint', text: facts }), controls);
  }

  async function loadUnknowns() {
    try {
      /** @type {UnknownsListResult} */
      const res = await session.client.request({ type: 'unknowns/list' });
      const list = [...res.unknowns].sort((a, b) => b.last_seen - a.last_seen);
      unknowns.replaceChildren(...list.map(unknownItem));
      byId('unknowns-empty').hidden = list.length > 0;
    } catch (err) {
      failed('Could not load the unknown visitors', err);
    }
  }

  /** @param {WireUnknown} u @param {string} name */
  async function nameUnknown(u, name) {
    if (!name) return;
    try {
      /** @type {ConceptResult} */
      const res = await session.client.request({ type: 'unknowns/name', unknown_id: u.id, name });
      toast(`${u.id} is enrolled as ${res.concept.name}.`);
      await Promise.all([session.refreshConcepts(), loadUnknowns()]);
      byId('unknown-title').focus();
    } catch (err) {
      toast(`Could not name ${u.id}: ${errorMessage(err)}`, 'error');
    }
  }

  /** @param {WireUnknown} u */
  async function dismissUnknown(u) {
    const yes = await confirmDialog({
      title: `Dismiss ${u.id}?`,
      body: `Familiar will erase the ${u.view_count} face view${u.view_count === 1 ? '' : 's'} it gathered of ${u.id}. If they come again they start as a new unknown visitor.`,
      confirm: `Dismiss ${u.id}`,
    });
    if (!yes) return;
    try {
      await session.client.request({ type: 'unknowns/dismiss', unknown_id: u.id });
      toast(`${u.id} is dismissed.`);
      await loadUnknowns();
      byId('unknown-title').focus();
    } catch (err) {
      toast(`Could not dismiss ${u.id}: ${errorMessage(err)}`, 'error');
    }
  }

  // ------------------------------------------------------------------ preferences

  /** @param {WirePreferences} p */
  function renderPreferences(p) {
    /** @param {import('../../contracts/src/protocol.ts').WirePreference[]} items */
    const chips = (items) =>
      items.length
        ? items.map((a) => h('li', { class: `chip ${a.source}`, title: a.source === 'extracted' ? 'from a comment' : 'edited' }, a.text, a.source === 'extracted' ? h('span', { class: 'visually-hidden', text: ' (from a comment)' }) : null))
        : [h('li', { class: 'hint', text: 'Nothing yet' })];
    byId('prefs-likes').replaceChildren(...chips(p.likes));
    byId('prefs-dislikes').replaceChildren(...chips(p.dislikes));
    likesInput.value = p.likes.map((a) => a.text).join('\n');
    dislikesInput.value = p.dislikes.map((a) => a.text).join('\n');
  }

  async function loadPreferences() {
    const id = person.value;
    if (!id) return;
    try {
      /** @type {PreferencesResult} */
      const res = await session.client.request({ type: 'preferences/get', concept_id: id });
      if (person.value === id) renderPreferences(res.preferences);
    } catch (err) {
      failed('Could not load the preferences', err);
    }
  }

  function renderPersons() {
    const previous = person.value;
    const persons = session.concepts.filter((c) => c.kind === 'person').sort((a, b) => a.name.localeCompare(b.name));
    person.replaceChildren(...persons.map((c) => h('option', { value: c.id, text: c.name })));
    if (persons.some((c) => c.id === previous)) person.value = previous;
    byId('prefs-empty').hidden = persons.length > 0;
    byId('prefs-view').hidden = persons.length === 0;
    for (const form of ['prefs-form', 'comment-form']) for (const el of /** @type {HTMLFormElement} */ (byId(form)).elements) /** @type {HTMLInputElement} */ (el).disabled = persons.length === 0;
    showEditor();
    if (person.value !== previous) {
      prefsStatus.textContent = '';
      if (visible) void loadPreferences();
    }
  }

  /** A person's preferences are edited by the control role or by that person's own token (the server checks too). */
  function showEditor() {
    const chosen = session.conceptById(person.value);
    byId('prefs-editor').hidden = !chosen || !(session.role === 'control' || session.isMember(chosen.name));
  }

  person.addEventListener('change', () => {
    showEditor();
    prefsStatus.textContent = '';
    void loadPreferences();
  });

  byId('prefs-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const id = person.value;
    const name = session.conceptById(id)?.name ?? 'their';
    try {
      /** @type {PreferencesResult} */
      const res = await session.client.request({ type: 'preferences/set', concept_id: id, likes: lines(likesInput.value), dislikes: lines(dislikesInput.value) });
      if (person.value === id) renderPreferences(res.preferences);
      say(prefsStatus, `Saved ${name}'s preferences.`);
    } catch (err) {
      say(prefsStatus, `Not saved: ${errorMessage(err)}`, true);
    }
  });

  byId('comment-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const id = person.value;
    const text = comment.value.trim();
    if (!id || !text) return;
    const submit = /** @type {HTMLButtonElement} */ (byId('comment-submit'));
    submit.disabled = true;
    say(prefsStatus, 'Reading the comment…');
    try {
      /** @type {PreferencesCommentResult} */
      const res = await session.client.request({ type: 'preferences/comment', concept_id: id, comment: text });
      if (person.value === id) renderPreferences(res.preferences);
      const { likes, dislikes } = res.extracted;
      const by = res.extractor === 'lvlm' ? 'the vision-language model' : 'simple rules';
      const found = [likes.length && `likes ${likes.join(', ')}`, dislikes.length && `dislikes ${dislikes.join(', ')}`].filter(Boolean).join('; ');
      say(prefsStatus, found ? `Found (read by ${by}): ${found}.` : `No likes or dislikes found in that comment (read by ${by}).`);
      comment.value = '';
    } catch (err) {
      say(prefsStatus, `Not added: ${errorMessage(err)}`, true);
    } finally {
      submit.disabled = false;
    }
  });

  return {
    show() {
      visible = true;
      void loadSightings();
      void loadReminders();
      void loadUnknowns();
      void loadPreferences();
    },
    hide() {
      visible = false;
    },
    /** @param {'cameras' | 'concepts'} what */
    update(what) {
      if (what !== 'concepts') return;
      renderWho();
      renderPersons();
    },
    /** @param {SceneChangeEvent} e */
    scene(e) {
      // "moved" arrives with nearly every frame of someone walking about: the timeline is about comings and goings.
      if (e.change === 'moved') return;
      const name = (e.concept_id && session.conceptById(e.concept_id)?.name) || e.name || `Someone unknown${e.concept_kind && e.concept_kind !== 'person' ? ` (${e.concept_kind})` : ''}`;
      const verb = e.change === 'appeared' ? 'appeared in' : 'left';
      timeline.prepend(h('li', { class: `sighting ${e.change}`, 'data-concept': e.concept_id ?? '' }, timeEl(e.at), ' ', h('strong', { text: name }), ` ${verb} the ${e.room} (${e.camera_id})`));
      while (timeline.childElementCount > MAX_ENTRIES) timeline.lastElementChild?.remove();
      byId('timeline-empty').hidden = true;
      if (visible) sightingsRefresh.schedule();
    },
    /** A reminder fired (app.js has announced it). @param {ReminderFiredEvent} e */
    reminder(e) {
      fired.prepend(h('li', { class: 'fired', 'data-trigger': e.trigger_id }, timeEl(e.at), ' ', h('span', { text: e.text }), h('span', { class: 'hint', text: ` (for ${e.created_by})` })));
      while (fired.childElementCount > MAX_ENTRIES) fired.lastElementChild?.remove();
      byId('fired-empty').hidden = true;
      // Its count went up, or a one-off reminder is gone.
      if (visible) remindersRefresh.schedule();
    },
    reset() {
      visible = false;
      sightingsRefresh.cancel();
      remindersRefresh.cancel();
      mine.clear();
      for (const list of [timeline, sightings, reminders, fired, unknowns, person]) list.replaceChildren();
      for (const id of ['timeline-empty', 'fired-empty']) byId(id).hidden = false;
      for (const id of ['sightings-empty', 'reminders-empty', 'unknowns-empty']) byId(id).hidden = true;
      for (const el of [reminderStatus, prefsStatus]) say(el, '');
      byId('prefs-likes').replaceChildren();
      byId('prefs-dislikes').replaceChildren();
      reminderText.value = comment.value = likesInput.value = dislikesInput.value = '';
    },
  };
}
