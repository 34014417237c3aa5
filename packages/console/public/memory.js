// @ts-check
/**
 * Memory: what protocol 1 offers, a timeline of who and what came and went (live scene events since the page
 * opened). The sightings history, reminders, unknown visitors and preferences sections in index.html stay
 * hidden until the protocol has commands for them.
 *
 * @typedef {import('./app.js').Session} Session
 * @typedef {import('../../contracts/src/protocol.ts').SceneChangeEvent} SceneChangeEvent
 */
import { byId, clock, h } from './dom.js';

/** Entries kept on the page. */
const MAX_ENTRIES = 200;

/** @param {Session} session */
export function createMemory(session) {
  const list = byId('timeline');

  return {
    show() {},
    hide() {},
    update() {},
    /** @param {SceneChangeEvent} e */
    scene(e) {
      // "moved" arrives with nearly every frame of someone walking about: the timeline is about comings and goings.
      if (e.change === 'moved') return;
      const name = (e.concept_id && session.conceptById(e.concept_id)?.name) || e.name || `Someone unknown${e.concept_kind && e.concept_kind !== 'person' ? ` (${e.concept_kind})` : ''}`;
      const verb = e.change === 'appeared' ? 'appeared in' : 'left';
      list.prepend(
        h(
          'li',
          { class: `sighting ${e.change}`, 'data-concept': e.concept_id ?? '' },
          h('time', { datetime: new Date(e.at).toISOString(), text: clock(e.at) }),
          ' ',
          h('strong', { text: name }),
          ` ${verb} the ${e.room} (${e.camera_id})`,
        ),
      );
      while (list.childElementCount > MAX_ENTRIES) list.lastElementChild?.remove();
      byId('timeline-empty').hidden = true;
    },
    reset() {
      list.replaceChildren();
      byId('timeline-empty').hidden = false;
    },
  };
}
