import type { Box, ConceptKind, Match } from '@familiar/contracts';
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

function name(text: string): string {
  return sanitiseText(text, PROMPT_LIMITS.name);
}

/** The honest answer about an enrolled concept that is not in view: never a guess, last seen from memory. */
export function notInViewSentence(conceptName: string, lastSeen: LastSeen | null, now: number): string {
  const n = name(conceptName);
  if (!lastSeen) return `I don't see ${n} right now, and I have not seen ${n} yet.`;
  return `I don't see ${n} right now. I last saw ${n} ${timeAgo(lastSeen.at, now)} in the ${name(lastSeen.room)} (camera ${name(lastSeen.cameraId)}).`;
}

function listJoin(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
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
  absent: readonly { name: string; lastSeen: LastSeen | null }[];
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
