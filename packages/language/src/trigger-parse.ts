import { asksAboutThePast, isPoliteRequest, stripPolite } from './intents.ts';
import { mentionsWithCategories } from './categories.ts';
import { extractMentions, type Mention, type NamedConcept } from './mentions.ts';

/** A trigger request understood from a sentence; feed it (plus createdBy) to {@link TriggerStore.add}. */
export interface ParsedTrigger {
  conceptId: string;
  /** The concept's name as enrolled. */
  name: string;
  /** What to say when it fires, addressed to the person who asked ("Remember to call the doctor."). */
  message: string;
  room?: string;
  once: boolean;
}

export interface TriggerParseOptions {
  /** Known room names (camera config); a mentioned one is preferred over the "in the …" guess. */
  rooms?: readonly string[];
}

const MAX_INPUT = 1000;
const MARKER = /\b(every\s+single\s+time|every\s+time|each\s+time|whenever|any\s*time|(?:the\s+)?next\s+time|as\s+soon\s+as|the\s+moment|if|when|once)\b/i;
const REPEATING = /^(every|each|whenever|any)/i;
const ACTION_START = /\b(remind|tell|say|let\s+(?:me|us)\s+know|alert|notify|ping|warn|greet|announce|give\s+(?:me|us)\s+a\s+shout)\b/i;
const ROOM_AFTER = /\b(?:in|into|inside|to|at|enters|reaches)\s+(?:the\s+|our\s+|my\s+)?([\p{L}\p{N}' -]{2,40}?)(?:\s+(?:again|today|tonight|later|now|please|too))*\s*$/iu;
const NOT_ROOMS = new Set(['home', 'here', 'back', 'door', 'house', 'me', 'us', 'him', 'her', 'them']);

/**
 * Understands requests like "if Grandma shows up, remind me to call the doctor", "tell me when Billy comes
 * into the living room" or "every time Anna arrives say hello" (deterministic, English): the enrolled
 * concept in the condition (by name, or by species when exactly one is enrolled: "when the dog comes in"),
 * the message to say, an optional room and whether it repeats ("every time", "whenever", "each time",
 * "always": repeating; "if", "when", "next time", "as soon as": once). Returns null when the sentence is not
 * such a request or names no enrolled concept; questions ("when did Billy come in?") are not requests.
 */
export function parseTriggerRequest(text: string, concepts: readonly NamedConcept[], options: TriggerParseOptions = {}): ParsedTrigger | null {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_INPUT) return null;
  let s = text.replace(/\s+/g, ' ').trim();
  // "Can you remind me to … when …?" is a request despite its question mark; "when did Billy come in?" is not.
  if (s.endsWith('?') && !isPoliteRequest(s)) return null;
  if (asksAboutThePast(s)) return null;
  s = stripPolite(s.replace(/[.!?]+$/, '').trim());

  const marker = MARKER.exec(s);
  if (marker === null) return null;
  let condition: string;
  let action: string;
  if (marker.index === 0) {
    const rest = s.slice(marker[0].length);
    const comma = rest.indexOf(',');
    const verb = ACTION_START.exec(rest);
    const cut = comma >= 0 ? comma : verb !== null && verb.index > 0 ? verb.index : -1;
    if (cut < 0) return null;
    condition = rest.slice(0, cut);
    action = rest.slice(cut).replace(/^[,\s]+(?:then\s+)?/i, '');
  } else {
    action = s.slice(0, marker.index).replace(/[,\s]+$/, '');
    condition = s.slice(marker.index + marker[0].length);
  }
  condition = condition.trim();
  action = action.trim();
  if (condition.length === 0 || action.length === 0) return null;

  // "greet Anna every time she arrives": the name may sit in the action when the condition has a pronoun.
  // "when the dog comes in": a species or category word counts when exactly one enrolled concept is meant.
  const mention = pick(mentionsWithCategories(condition, concepts)) ?? pick(mentionsWithCategories(action, concepts));
  if (mention === undefined) return null;

  const room = findRoom(condition, mention, options.rooms);
  const message = messageOf(action, mention.name, room);
  if (message === null) return null;
  const once = !REPEATING.test(marker[1]!) && !/\balways\b/i.test(action);
  const out: ParsedTrigger = { conceptId: mention.conceptId, name: mention.name, message, once };
  if (room !== undefined) out.room = room;
  return out;
}

function pick(mentions: readonly Mention[]): Mention | undefined {
  return mentions[0];
}

function findRoom(condition: string, mention: Mention, rooms: readonly string[] | undefined): string | undefined {
  if (rooms !== undefined && rooms.length > 0) {
    const found = extractMentions(
      condition,
      rooms.map((name) => ({ id: name, name })),
    );
    if (found.length > 0) return found[0]!.name;
  }
  // Only what follows the name: "when Billy comes into the living room".
  const after = condition.slice(mention.end);
  const m = ROOM_AFTER.exec(after);
  if (m === null) return undefined;
  const room = m[1]!.trim();
  return NOT_ROOMS.has(room.toLowerCase()) ? undefined : room;
}

const SWAPS: Record<string, string> = { me: 'you', my: 'your', mine: 'yours', myself: 'yourself', i: 'you', "i'm": "you're", am: 'are', us: 'you', our: 'your', ours: 'yours', we: 'you', ourselves: 'yourselves' };

/** First person → second person, so the message speaks to whoever asked ("call my mother" → "call your mother"). */
function toSecondPerson(text: string): string {
  return text.replace(/\b(i'm|i|me|my|mine|myself|us|our|ours|ourselves|we|am)\b/gi, (w) => SWAPS[w.toLowerCase()] ?? w);
}

function unquote(text: string): string {
  return text.replace(/^["'“‘]+|["'”’]+$/g, '').trim();
}

function sentence(text: string): string {
  const t = text.trim().replace(/[.!]+$/, '');
  return t.length === 0 ? t : `${t[0]!.toUpperCase()}${t.slice(1)}.`;
}

function messageOf(action: string, name: string, room: string | undefined): string | null {
  const a = action.replace(/^(?:then|and|please|just|always)\s+/gi, '').trim();
  let m: RegExpExecArray | null;
  if ((m = /^remind\s+(?:me|us|him|her|them|\S+)\s+to\s+(.+)$/i.exec(a)) !== null) return sentence(`remember to ${toSecondPerson(m[1]!)}`);
  if ((m = /^remind\s+(?:me|us)\s+(?:that|about|of)\s+(.+)$/i.exec(a)) !== null) return sentence(`reminder: ${toSecondPerson(m[1]!)}`);
  if ((m = /^(?:tell|inform)\s+(?:me|us)\s+(?:that\s+)?(.+)$/i.exec(a)) !== null && !/^(?:so|about it)$/i.test(m[1]!)) return sentence(toSecondPerson(unquote(m[1]!)));
  if ((m = /^(?:say|announce|tell\s+(?!me\b|us\b)\S+)\s+(?:that\s+)?(.+)$/i.exec(a)) !== null) return unquote(m[1]!);
  if (/^greet\b/i.test(a)) return `Hello, ${name}!`;
  if (/^(?:let\s+(?:me|us)\s+know|tell\s+(?:me|us)|alert\s+(?:me|us)|notify\s+(?:me|us)|ping\s+(?:me|us)|warn\s+(?:me|us)|give\s+(?:me|us)\s+a\s+shout|remind\s+(?:me|us))\b/i.test(a)) {
    return room === undefined ? `${name} is here.` : `${name} is in the ${room}.`;
  }
  return null;
}
