import type { Box, ConceptKind, Match, MentionRecallInfo, ReminderEvent, SightingInfo, TriggerInfo } from '@familiar/contracts';
import type { LastSeen } from './backend.ts';
import { sanitiseText, PROMPT_LIMITS } from './prompt.ts';

/** Why the built-in responder answers instead of the LVLM; decides the closing sentence. */
export type GroundedReason = 'no-lvlm' | 'lvlm-failed' | 'absent-only';

/** Left / in the middle / right of the picture, by the box centre. */
export function horizontalPosition(box: Box, width: number): string {
  const cx = (box.xmin + box.xmax) / 2 / Math.max(1, width);
  if (cx < 1 / 3) return 'on the left';
  if (cx > 2 / 3) return 'on the right';
  return 'in the middle';
}

/** "just now", "5 minutes ago", "3 hours ago", "2 days ago". */
export function timeAgo(at: number, now: number): string {
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 60) return 'just now';
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'} ago`;
  if (s < 3600) return plural(Math.round(s / 60), 'minute');
  if (s < 86_400) return plural(Math.round(s / 3600), 'hour');
  return plural(Math.round(s / 86_400), 'day');
}

/** "about 5 minutes", "about 2 hours"; null under a minute (too short to be worth saying). */
function visitDuration(ms: number): string | null {
  const s = Math.round(ms / 1000);
  if (s < 60) return null;
  const about = (n: number, unit: string) => `about ${n} ${unit}${n === 1 ? '' : 's'}`;
  if (s < 3600) return about(Math.round(s / 60), 'minute');
  if (s < 86_400) return about(Math.round(s / 3600), 'hour');
  return about(Math.round(s / 86_400), 'day');
}

function name(text: string): string {
  return sanitiseText(text, PROMPT_LIMITS.name);
}

function listJoin(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

/** A last sighting with, when memory keeps visits, when that visit began and who else was there. */
export interface LastVisit extends LastSeen {
  firstSeen?: number | undefined;
  withOthers?: readonly string[] | undefined;
}

/** ", for about 3 minutes, with Billy and Mochi" (parts only when known). */
function visitDetails(visit: LastVisit, ongoing = false): string {
  let text = '';
  const duration = visit.firstSeen !== undefined ? visitDuration(visit.at - visit.firstSeen) : null;
  if (duration) text += `, for ${duration}${ongoing ? ' so far' : ''}`;
  const others = (visit.withOthers ?? []).map(name).filter(Boolean);
  if (others.length > 0) text += `, with ${listJoin(others)}`;
  return text;
}

/** The honest answer about an enrolled concept that is not in view: never a guess, last seen from memory. */
export function notInViewSentence(conceptName: string, lastSeen: LastVisit | null, now: number): string {
  const n = name(conceptName);
  if (!lastSeen) return `I don't see ${n} right now, and I have not seen ${n} yet.`;
  return `I don't see ${n} right now. ${lastSawSentence(n, lastSeen, now)}`;
}

/** "I last saw Billy 5 minutes ago in the hallway (camera hall), for about 2 minutes, with Anna." */
function lastSawSentence(n: string, visit: LastVisit, now: number): string {
  return `I last saw ${n} ${timeAgo(visit.at, now)} in the ${name(visit.room)} (camera ${name(visit.cameraId)})${visitDetails(visit)}.`;
}

/** A sighting as the last-visit shape the sentences use. */
export function sightingVisit(s: SightingInfo): LastVisit {
  return { cameraId: s.cameraId, room: s.room, at: s.lastSeen, box: s.box, firstSeen: s.firstSeen, withOthers: s.withOthers };
}

/** memory/last_seen: where and when, how long, and with whom; or that it is there right now. */
export function lastSeenAnswer(conceptName: string, sighting: SightingInfo | null, now: number): string {
  const n = name(conceptName);
  if (!sighting) return `I have not seen ${n} yet.`;
  const visit = sightingVisit(sighting);
  if (!sighting.ongoing) return lastSawSentence(n, visit, now);
  return `${n} is in the ${name(sighting.room)} (camera ${name(sighting.cameraId)}) right now${visitDetails(visit, true)}.`;
}

/**
 * "What was I doing when I last mentioned Grandma?": who said what and when, where the speaker was then
 * and who was around. `you` is true when the speaker is the one asking.
 */
export function lastMentionAnswer(conceptName: string, recall: MentionRecallInfo | null, speakerName: string | null, you: boolean, now: number): string {
  const n = name(conceptName);
  if (!recall) return `I have no record of anyone mentioning ${n}.`;
  const who = you ? 'You' : speakerName ? name(speakerName) : 'Someone';
  const sentences = [`${who} last mentioned ${n} ${timeAgo(recall.note.at, now)}: ${JSON.stringify(sanitiseText(recall.note.text, PROMPT_LIMITS.note))}.`];
  const inView = recall.inView.map(name).filter((x) => x && x !== n && x !== (speakerName && name(speakerName)));
  const withInView = inView.length > 0 ? `, with ${listJoin(inView)} in view` : '';
  const seen = recall.speakerSeen;
  if (seen) {
    sentences.push(`At the time ${you ? 'you were' : `${who} was`} in the ${name(seen.room)} (camera ${name(seen.cameraId)})${withInView}.`);
  } else {
    const { room, cameraId } = recall.note;
    if (room && cameraId) sentences.push(`It was said in the ${name(room)} (camera ${name(cameraId)})${withInView}.`);
    else if (inView.length > 0) sentences.push(`${listJoin(inView)} ${inView.length === 1 ? 'was' : 'were'} in view then.`);
    sentences.push(`I did not see ${you ? 'you' : who === 'Someone' ? 'the speaker' : who} on a camera then, so I can't say more about what ${you ? 'you were' : 'they were'} doing.`);
  }
  return sentences.join(' ');
}

/** "Reminder: Grandma came into the living room 5 minutes ago — Remember to call the doctor." */
export function reminderSentence(r: ReminderEvent, now: number): string {
  return `Reminder: ${name(r.name)} came into the ${name(r.room)} ${timeAgo(r.at, now)} — ${sanitiseText(r.message, PROMPT_LIMITS.note)}`;
}

/** The confirmation of a reminder created from a question. */
export function triggerConfirmation(t: TriggerInfo): string {
  const when = `${t.once ? 'the next time' : 'every time'} ${name(t.name)} ${t.room ? `is in the ${name(t.room)}` : 'shows up'}`;
  return `OK, ${when} I'll tell you: ${JSON.stringify(sanitiseText(t.message, PROMPT_LIMITS.note))}`;
}

const KIND_NOUN: Record<ConceptKind, [string, string]> = { person: ['person', 'people'], pet: ['pet', 'pets'], object: ['object', 'objects'] };

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
}

/**
 * The answer Familiar gives from recognition and memory alone (no LVLM): who/what is in view and where in
 * the picture, how many of each kind, and where absent concepts were last seen. It says plainly that it
 * cannot describe more.
 */
export function groundedAnswer(input: GroundedInput): string {
  const sentences: string[] = input.absent.map((a) => notInViewSentence(a.name, a.lastSeen, input.now));
  if (input.reason === 'absent-only') return sentences.join(' ');

  const where = input.room ? ` in the ${name(input.room)}` : ' in this picture';
  if (input.mentionedInView.length > 0) {
    for (const m of input.mentionedInView) sentences.push(`${name(m.name)} is in view${where}, ${horizontalPosition(m.box, input.imageWidth)}.`);
  } else if (input.matches.length === 0) {
    sentences.push(`I don't recognise anyone or anything I know${where} right now.`);
  } else {
    const counts = (['person', 'pet', 'object'] as const)
      .map((k) => ({ k, n: input.matches.filter((m) => m.kind === k).length }))
      .filter((c) => c.n > 0)
      .map((c) => `${c.n} ${KIND_NOUN[c.k][c.n === 1 ? 0 : 1]}`);
    const who = input.matches.map((m) => `${name(m.name)} ${horizontalPosition(m.box, input.imageWidth)}`);
    sentences.push(`I can see ${listJoin(counts)} I know${where}: ${listJoin(who)}.`);
  }
  sentences.push(
    input.reason === 'no-lvlm'
      ? "I can't describe more than that: no vision-language model is configured."
      : "I can't describe more than that right now: the vision-language model is not available.",
  );
  return sentences.join(' ');
}
