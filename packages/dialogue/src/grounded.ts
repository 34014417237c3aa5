import type { Box, ConceptKind, Match, MentionRecallInfo, ReminderEvent, SightingInfo, TriggerInfo } from '@familiar/contracts';
import { loadMessages, type Messages } from '@familiar/language';
import type { LastSeen } from './backend.ts';
import { sanitiseText, PROMPT_LIMITS } from './prompt.ts';

/**
 * The built-in responder's sentences. Every word comes from the message catalogue (packages/language/messages),
 * so a translation is a file; the functions here only choose which sentence and fill it in.
 */

/** The English catalogue: the default wherever no other was chosen. */
export const ENGLISH: Messages = loadMessages('en');

/** Why the built-in responder answers instead of the LVLM; decides the closing sentence. */
export type GroundedReason = 'no-lvlm' | 'lvlm-failed' | 'absent-only';

/** Left / in the middle / right of the picture, by the box centre. */
export function horizontalPosition(box: Box, width: number, m: Messages = ENGLISH): string {
  const cx = (box.xmin + box.xmax) / 2 / Math.max(1, width);
  return m.t(cx < 1 / 3 ? 'position.left' : cx > 2 / 3 ? 'position.right' : 'position.middle');
}

function unitOf(s: number): { unit: 'minute' | 'hour' | 'day'; n: number } {
  if (s < 3600) return { unit: 'minute', n: Math.round(s / 60) };
  if (s < 86_400) return { unit: 'hour', n: Math.round(s / 3600) };
  return { unit: 'day', n: Math.round(s / 86_400) };
}

/** "just now", "5 minutes ago", "3 hours ago", "2 days ago". */
export function timeAgo(at: number, now: number, m: Messages = ENGLISH): string {
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 60) return m.t('ago.now');
  const { unit, n } = unitOf(s);
  return m.t(`ago.${unit}.${n === 1 ? 'one' : 'other'}`, { n });
}

/** "about 5 minutes", "about 2 hours"; null under a minute (too short to be worth saying). */
function visitDuration(ms: number, m: Messages = ENGLISH): string | null {
  const s = Math.round(ms / 1000);
  if (s < 60) return null;
  const { unit, n } = unitOf(s);
  return m.t(`duration.${unit}.${n === 1 ? 'one' : 'other'}`, { n });
}

/** A name or room as it may appear in an answer. */
export function safeName(text: string): string {
  return sanitiseText(text, PROMPT_LIMITS.name);
}

/** A last sighting with, when memory keeps visits, when that visit began and who else was there. */
export interface LastVisit extends LastSeen {
  firstSeen?: number | undefined;
  withOthers?: readonly string[] | undefined;
}

/** ", for about 3 minutes, with Billy and Mochi" (parts only when known). */
function visitDetails(visit: LastVisit, m: Messages, ongoing = false): string {
  let text = '';
  const duration = visit.firstSeen !== undefined ? visitDuration(visit.at - visit.firstSeen, m) : null;
  if (duration) text += m.t(ongoing ? 'details.forSoFar' : 'details.for', { duration });
  const others = (visit.withOthers ?? []).map(safeName).filter(Boolean);
  if (others.length > 0) text += m.t('details.with', { others: m.list(others) });
  return text;
}

/** "I last saw Billy 5 minutes ago in the hallway (camera hall), for about 2 minutes, with Anna." */
export function lastSawSentence(conceptName: string, visit: LastVisit, now: number, m: Messages = ENGLISH): string {
  return m.t('lastSaw', { name: safeName(conceptName), ago: timeAgo(visit.at, now, m), room: safeName(visit.room), camera: safeName(visit.cameraId), details: visitDetails(visit, m) });
}

/**
 * The honest answer about an enrolled concept that is not in view: never a guess, last seen from memory.
 * `house`: every camera was looked at, not only one view.
 */
export function notInViewSentence(conceptName: string, lastSeen: LastVisit | null, now: number, m: Messages = ENGLISH, house = false): string {
  const name = safeName(conceptName);
  const prefix = house ? 'house.absent' : 'absent';
  if (!lastSeen) return m.t(`${prefix}.never`, { name });
  return m.t(`${prefix}.lastSaw`, { name, lastSaw: lastSawSentence(conceptName, lastSeen, now, m) });
}

/** A sighting as the last-visit shape the sentences use. */
export function sightingVisit(s: SightingInfo): LastVisit {
  return { cameraId: s.cameraId, room: s.room, at: s.lastSeen, box: s.box, firstSeen: s.firstSeen, withOthers: s.withOthers };
}

/** memory/last_seen: where and when, how long, and with whom; or that it is there right now. */
export function lastSeenAnswer(conceptName: string, sighting: SightingInfo | null, now: number, m: Messages = ENGLISH): string {
  const name = safeName(conceptName);
  if (!sighting) return m.t('lastSeen.never', { name });
  const visit = sightingVisit(sighting);
  if (!sighting.ongoing) return lastSawSentence(conceptName, visit, now, m);
  return m.t('lastSeen.now', { name, room: safeName(sighting.room), camera: safeName(sighting.cameraId), details: visitDetails(visit, m, true) });
}

/**
 * "What was I doing when I last mentioned Grandma?": who said what and when, where the speaker was then,
 * who was around, and what the speaker was doing when that was said. `you` is true when the speaker is the one asking.
 */
export function lastMentionAnswer(conceptName: string, recall: MentionRecallInfo | null, speakerName: string | null, you: boolean, now: number, m: Messages = ENGLISH): string {
  const n = safeName(conceptName);
  if (!recall) return m.t('mention.none', { name: n });
  const who = you ? m.t('mention.you') : speakerName ? safeName(speakerName) : m.t('mention.someone');
  const sentences = [m.t('mention.said', { who, name: n, ago: timeAgo(recall.note.at, now, m), text: JSON.stringify(sanitiseText(recall.note.text, PROMPT_LIMITS.note)) })];
  const inView = recall.inView.map(safeName).filter((x) => x && x !== n && x !== (speakerName && safeName(speakerName)));
  const withInView = inView.length > 0 ? m.t('mention.withInView', { names: m.list(inView) }) : '';
  const seen = recall.speakerSeen;
  if (seen) {
    const where = { room: safeName(seen.room), camera: safeName(seen.cameraId), inView: withInView };
    sentences.push(you ? m.t('mention.whereYou', where) : m.t('mention.whereThey', { ...where, who }));
  } else {
    const { room, cameraId } = recall.note;
    if (room && cameraId) sentences.push(m.t('mention.saidIn', { room: safeName(room), camera: safeName(cameraId), inView: withInView }));
    else if (inView.length > 0) sentences.push(m.t(inView.length === 1 ? 'mention.inViewOne' : 'mention.inViewMany', { names: m.list(inView) }));
  }
  const activity = recall.activity ? sanitiseText(recall.activity, PROMPT_LIMITS.note) : '';
  if (activity) sentences.push(you ? m.t('mention.activityYou', { activity }) : m.t('mention.activityThey', { who, activity }));
  else if (!seen) sentences.push(you ? m.t('mention.notSeenYou') : m.t('mention.notSeenThey', { who: who === m.t('mention.someone') ? m.t('mention.theSpeaker') : who }));
  return sentences.join(' ');
}

/** "Reminder: Grandma came into the living room 5 minutes ago — Remember to call the doctor." */
export function reminderSentence(r: ReminderEvent, now: number, m: Messages = ENGLISH): string {
  return m.t('reminder', { name: safeName(r.name), room: safeName(r.room), ago: timeAgo(r.at, now, m), message: sanitiseText(r.message, PROMPT_LIMITS.note) });
}

/** "the next time Billy is in the kitchen" */
export function triggerCondition(t: Pick<TriggerInfo, 'once' | 'name' | 'room'>, m: Messages = ENGLISH): string {
  const when = m.t(t.once ? 'trigger.once' : 'trigger.every');
  return t.room ? m.t('trigger.inRoom', { when, name: safeName(t.name), room: safeName(t.room) }) : m.t('trigger.showsUp', { when, name: safeName(t.name) });
}

/** The confirmation of a reminder created from a question (or that it already existed). */
export function triggerConfirmation(t: TriggerInfo, m: Messages = ENGLISH): string {
  return m.t(t.merged ? 'trigger.duplicate' : 'trigger.ok', { condition: triggerCondition(t, m), message: JSON.stringify(sanitiseText(t.message, PROMPT_LIMITS.note)) });
}

/** "2 pets and 1 person" for the matches (kinds in a fixed order). */
export function kindCounts(kinds: readonly ConceptKind[], m: Messages = ENGLISH): string {
  return m.list(
    (['person', 'pet', 'object'] as const)
      .map((k) => ({ k, n: kinds.filter((x) => x === k).length }))
      .filter((c) => c.n > 0)
      .map((c) => m.count(`kind.${c.k}`, c.n)),
  );
}

export interface GroundedInput {
  /** Recognised concepts in view, boxes in the image's pixels. */
  matches: readonly Match[];
  imageWidth: number;
  /** Room of the camera; null for an uploaded image. */
  room: string | null;
  /** Mentioned concepts that are in view. */
  mentionedInView: readonly Match[];
  /** Mentioned concepts that are not in view, with their last sighting. */
  absent: readonly { name: string; lastSeen: LastVisit | null }[];
  reason: GroundedReason;
  now: number;
  messages?: Messages;
}

/**
 * The answer Familiar gives from recognition and memory alone (no LVLM): who/what is in view and where in
 * the picture, how many of each kind, and where absent concepts were last seen. It says plainly that it
 * cannot describe more.
 */
export function groundedAnswer(input: GroundedInput): string {
  const m = input.messages ?? ENGLISH;
  const sentences: string[] = input.absent.map((a) => notInViewSentence(a.name, a.lastSeen, input.now, m));
  if (input.reason === 'absent-only') return sentences.join(' ');

  const place = input.room ? m.t('place.room', { room: safeName(input.room) }) : m.t('place.picture');
  if (input.mentionedInView.length > 0) {
    for (const x of input.mentionedInView) sentences.push(m.t('view.inView', { name: safeName(x.name), place, position: horizontalPosition(x.box, input.imageWidth, m) }));
  } else if (input.matches.length === 0) {
    sentences.push(m.t('view.nothing', { place }));
  } else {
    const who = input.matches.map((x) => `${safeName(x.name)} ${horizontalPosition(x.box, input.imageWidth, m)}`);
    sentences.push(m.t('view.see', { counts: kindCounts(input.matches.map((x) => x.kind), m), place, who: m.list(who) }));
  }
  sentences.push(m.t(input.reason === 'no-lvlm' ? 'view.noLvlm' : 'view.lvlmFailed'));
  return sentences.join(' ');
}
