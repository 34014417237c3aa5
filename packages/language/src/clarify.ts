import { categoryReferences } from './categories.ts';
import { extractMentions, tokenize, type NamedConcept } from './mentions.ts';

/**
 * The answer to a clarifying question. "The dog threw up" with two dogs enrolled is answered "Which dog do you
 * mean: Billy or Rex?"; the household's natural reply is the name. The rule, deliberately small:
 *
 * - **The reply is one offered name and nothing else that means something.** Case, accents and punctuation do
 *   not matter ("Rex", "rex", "Rex.", "Rex!"); around the name only these few words may stand: at the start
 *   "please" and one of "I mean", "I meant", "it's", "it is", "that's", "that is"; at the end "please",
 *   "thanks", "thank you". So "I mean Rex", "it's Rex", "Rex please" are Rex.
 * - **Anything else is no answer**: another name, two names ("Billy and Rex"), a possessive ("Rex's"), a
 *   sentence ("Rex is the one who threw up"), a name two candidates share. The caller then reads the reply as a
 *   new sentence; a name never offered never picks one.
 * - **The answer is carried out as if said with the name**: the first singular species or category phrase that
 *   means several concepts ("the dog", "our little dog"), determiner included, becomes the chosen name ("Rex
 *   threw up on the rug", "tell me when Rex comes into the kitchen").
 */

/** Longer replies are sentences, never a bare name. */
const MAX_REPLY = 200;
const EDGES = /^[\s\p{P}]+|[\s\p{P}]+$/gu;
const LEADING = /^(?:please\b[\s,]*)?(?:(?:i\s+mean|i\s+meant|it['’]s|it\s+is|that['’]s|that\s+is)\b[\s,:]*)?/i;
const TRAILING = /[\s,]*\b(?:please|thanks|thank\s+you)$/i;
const MEANINGFUL = /[\p{L}\p{N}]/u;

/**
 * The candidate a reply to "Which dog do you mean: Billy or Rex?" names (its id), or undefined when the reply is
 * not just one of their names (see the rule above).
 */
export function chosenCandidate(reply: string, candidates: readonly NamedConcept[]): string | undefined {
  if (typeof reply !== 'string' || reply.length > MAX_REPLY || candidates.length === 0) return undefined;
  let s = reply.replace(EDGES, '');
  s = s.replace(LEADING, '').replace(EDGES, '');
  s = s.replace(TRAILING, '').replace(EDGES, '');
  const mentions = extractMentions(s, candidates);
  if (mentions.length !== 1) return undefined;
  const m = mentions[0]!;
  if (MEANINGFUL.test(s.slice(0, m.start) + s.slice(m.end))) return undefined;
  // "Max or Max?": a name two candidates share chooses neither.
  const said = tokenize(s.slice(m.start, m.end)).map((t) => t.folded).join(' ');
  const sharing = candidates.filter((c) => tokenize(c.name).map((t) => t.folded).join(' ') === said);
  return sharing.length === 1 ? m.conceptId : undefined;
}

/**
 * The sentence as if said with the chosen concept's name: its first singular category phrase that means several
 * concepts, one of them `conceptId` ("the dog"), with its determiner, replaced by the name ("Rex threw up").
 * Undefined when the sentence has no such phrase (any more: the household may have changed since).
 */
export function withChosenName(sentence: string, concepts: readonly NamedConcept[], conceptId: string): string | undefined {
  const concept = concepts.find((c) => c.id === conceptId);
  if (concept === undefined || typeof sentence !== 'string') return undefined;
  // The same reference the grammar found ambiguous (intents.ts: the first singular one meaning several).
  const ref = categoryReferences(sentence, concepts).find((r) => !r.many && r.conceptIds.length > 1);
  if (ref === undefined || !ref.conceptIds.includes(conceptId)) return undefined;
  // The determiner is the word right before the phrase ("the", "our", "my").
  const determiner = tokenize(sentence.slice(0, ref.start)).at(-1);
  const from = determiner?.start ?? ref.start;
  return `${sentence.slice(0, from)}${concept.name}${sentence.slice(ref.end)}`;
}
