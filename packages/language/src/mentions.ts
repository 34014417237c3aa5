import type { ConceptKind } from '@familiar/contracts';

/** What mention matching needs of a concept (a ConceptSummary fits). */
export interface NamedConcept {
  id: string;
  name: string;
  /** Breaks ties between concepts of the same name: person, then pet, then object. */
  kind?: ConceptKind;
  /** The household's description ("our beagle, 9 years old"): what species or category a pet or object is. */
  context?: string;
}

/** One occurrence of an enrolled name in a text. */
export interface Mention {
  conceptId: string;
  name: string;
  kind?: ConceptKind;
  /** UTF-16 offsets of the name in the original text (a possessive "'s" is not included). */
  start: number;
  end: number;
}

/** A word of a text: its folded form and where it is in the original. */
export interface Token {
  folded: string;
  start: number;
  end: number;
}

const WORD_CHAR = /^[\p{L}\p{N}]+$/u;
const MARKS = /\p{M}/gu;
const KIND_RANK: Record<ConceptKind, number> = { person: 0, pet: 1, object: 2 };
const MAX_TEXT = 100_000;

/** Case- and diacritic-insensitive form of a string: "Zoë" and "ZOE" both fold to "zoe". */
export function foldText(s: string): string {
  return s.normalize('NFKD').replace(MARKS, '').toLowerCase();
}

/**
 * The words of a text (runs of letters and digits after folding). Apostrophes, hyphens and other
 * punctuation separate words, so "Billy's" is the words "billy" and "s" and a name matches whole words only.
 */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let current: Token | undefined;
  let i = 0;
  for (const ch of text.slice(0, MAX_TEXT)) {
    const folded = foldText(ch);
    if (folded.length > 0 && WORD_CHAR.test(folded)) {
      if (current === undefined) current = { folded: '', start: i, end: i };
      current.folded += folded;
      current.end = i + ch.length;
    } else if (folded.length === 0 && /\p{M}/u.test(ch)) {
      // A combining mark on its own (decomposed text) folds to '' and belongs to the word it follows.
      if (current !== undefined) current.end = i + ch.length;
    } else {
      if (current !== undefined) tokens.push(current);
      current = undefined;
    }
    i += ch.length;
  }
  if (current !== undefined) tokens.push(current);
  return tokens;
}

interface Candidate {
  words: string[];
  concept: NamedConcept;
}

function candidatesOf(concepts: readonly NamedConcept[]): Candidate[] {
  const out: Candidate[] = [];
  for (const concept of concepts) {
    const words = tokenize(concept.name).map((t) => t.folded);
    if (words.length > 0) out.push({ words, concept });
  }
  // Longest names first, so "Anna Maria" wins over "Anna"; then by kind so a person outranks a pet of the same name.
  return out.sort((a, b) => b.words.length - a.words.length || rank(a.concept) - rank(b.concept));
}

function rank(c: NamedConcept): number {
  return c.kind === undefined ? 3 : KIND_RANK[c.kind];
}

/**
 * Which enrolled names a text mentions, in text order: whole words, case- and diacritic-insensitive,
 * possessives included ("Billy's bowl" mentions Billy), the longest name winning where names overlap.
 * When several concepts share a name, each gets a mention at the same span (persons first).
 */
export function extractMentions(text: string, concepts: readonly NamedConcept[]): Mention[] {
  if (typeof text !== 'string' || text.length === 0) return [];
  const tokens = tokenize(text);
  const candidates = candidatesOf(concepts);
  const mentions: Mention[] = [];
  for (let i = 0; i < tokens.length; ) {
    let length = 0;
    for (const c of candidates) {
      if (length > 0 && c.words.length < length) break;
      if (c.words.length > tokens.length - i) continue;
      if (!c.words.every((w, k) => tokens[i + k]!.folded === w)) continue;
      length = c.words.length;
      const m: Mention = { conceptId: c.concept.id, name: c.concept.name, start: tokens[i]!.start, end: tokens[i + length - 1]!.end };
      if (c.concept.kind !== undefined) m.kind = c.concept.kind;
      mentions.push(m);
    }
    i += Math.max(1, length);
  }
  return mentions;
}

/** The distinct concept ids a text mentions, in order of first mention. */
export function mentionedIds(text: string, concepts: readonly NamedConcept[]): string[] {
  return [...new Set(extractMentions(text, concepts).map((m) => m.conceptId))];
}

/**
 * Replaces every whole-word occurrence of the names (matched like {@link extractMentions}) with
 * `replacement`: "Grandma's cake" → "someone's cake". Used when a concept is forgotten.
 */
export function redactNames(text: string, names: readonly string[], replacement = 'someone'): string {
  const mentions = extractMentions(
    text,
    names.map((name, i) => ({ id: String(i), name })),
  );
  if (mentions.length === 0) return text;
  let out = '';
  let at = 0;
  for (const m of mentions) {
    if (m.start < at) continue;
    out += text.slice(at, m.start) + replacement;
    at = m.end;
  }
  return out + text.slice(at);
}

/** Whether the text mentions any of the names. */
export function mentionsAny(text: string, names: readonly string[]): boolean {
  return extractMentions(
    text,
    names.map((name, i) => ({ id: String(i), name })),
  ).length > 0;
}
