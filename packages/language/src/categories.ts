import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FamiliarError, type ConceptKind } from '@familiar/contracts';
import { extractMentions, tokenize, type Mention, type NamedConcept, type Token } from './mentions.ts';

/**
 * Pets and objects asked about by their species or category rather than their name ("where is the cat?",
 * "is the dog here?", "where are my keys?"). The words come from one lexicon, lexicon/en.json; the rules:
 *
 * - **What a concept is.** A pet or object belongs to the first lexicon category, among the categories of its
 *   kind, whose word appears in its context ("our cavalier king charles spaniel" → dog; "the tabby cat" → cat);
 *   only when the context names none, in its name ("my keys" → key). A person belongs to none. The first word
 *   wins, so "our beagle, scared of the cat" is a dog. Its category words (generic and types, all of them) are
 *   remembered, so "the spaniel" finds it and "the poodle" does not.
 * - **What a question refers to.** A determiner ("the", "our", "my", …) right before one or more category words
 *   ("the cat", "the tabby cat", "our golden retriever", "the dogs"); the phrase must end there — end of text,
 *   punctuation, a possessive, one of the lexicon's `after` words, or a verb in -ing or -ed of five letters or
 *   more ("the dog is", "the cat sleeping", "the dog chewed") — so "the cat food" and "the dog bed" refer to nothing. Enrolled names come first: a word inside
 *   a name mention is the name ("Kitty" the cat, "Piggy" the piggy bank), never a category word.
 * - **Which concepts.** The last word is the head ("the cat toy" is a toy); a generic word ("dog", "puppy")
 *   takes every concept of its category, a type ("beagle", "tabby") only those whose context or name says so.
 *   A reference may match one concept, several or none; `unclassified` lists the concepts of that kind whose
 *   description names no category at all, so an answer can say it does not know what they are.
 */

/** One category reference in a text. */
export interface CategoryReference {
  /** UTF-16 offsets of the category words (without the determiner). */
  start: number;
  end: number;
  /** The word as the answers say it, singular and plural, and its indefinite form: "cat", "cats", "a cat". */
  word: string;
  plural: string;
  a: string;
  /** Asked in the plural ("where are the dogs?"). */
  many: boolean;
  kind: ConceptKind;
  /** The enrolled concepts it refers to, in the order given. */
  conceptIds: string[];
  /** Concepts of that kind whose context and name name no category (they might be one). */
  unclassified: string[];
}

interface Term {
  category: number;
  generic: boolean;
  word: string;
  plural: string;
  a: string;
}

/** One way to say a term: its folded words, singular or plural. */
interface Form {
  term: Term;
  words: string[];
  plural: boolean;
}

interface Lexicon {
  determiners: ReadonlySet<string>;
  after: ReadonlySet<string>;
  kinds: readonly ConceptKind[];
  /** Forms by their first folded word. */
  forms: ReadonlyMap<string, readonly Form[]>;
}

type Entry = string | { term: string; a: string; plural: string };

const LEXICON_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'lexicon', 'en.json');
const KINDS: readonly ConceptKind[] = ['person', 'pet', 'object'];
const ENTRY = /^(an?)\s+([^|]+?)\s*(?:\|\s*(.+?))?\s*$/;

/** The regular English plural of a (possibly multi-word) noun: "dog" → "dogs", "puppy" → "puppies", "box" → "boxes". */
function regularPlural(noun: string): string {
  if (/[^aeiou]y$/i.test(noun)) return `${noun.slice(0, -1)}ies`;
  if (/(?:s|x|z|ch|sh)$/i.test(noun)) return `${noun}es`;
  return `${noun}s`;
}

function folded(text: string): string[] {
  return tokenize(text).map((t) => t.folded);
}

function broken(why: string): FamiliarError {
  return new FamiliarError('INTERNAL', `lexicon/en.json: ${why}`);
}

function parseEntry(entry: Entry, category: number, generic: boolean): Term {
  if (typeof entry === 'object' && entry !== null && typeof entry.term === 'string' && typeof entry.a === 'string' && typeof entry.plural === 'string') {
    return { category, generic, word: entry.term, plural: entry.plural, a: entry.a };
  }
  const m = typeof entry === 'string' ? ENTRY.exec(entry) : null;
  if (m === null) throw broken(`bad entry ${JSON.stringify(entry)} (expected "a word", "an word|plural" or {term, a, plural})`);
  const word = m[2]!;
  return { category, generic, word, plural: m[3] ?? regularPlural(word), a: `${m[1]} ${word}` };
}

function loadLexicon(): Lexicon {
  const raw = JSON.parse(readFileSync(LEXICON_FILE, 'utf8')) as { determiners?: unknown; after?: unknown; categories?: unknown };
  const words = (v: unknown, what: string): string[] => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw broken(`${what} must be a list of words`);
    return v.flatMap(folded);
  };
  if (!Array.isArray(raw.categories)) throw broken('categories must be a list');
  const kinds: ConceptKind[] = [];
  const forms = new Map<string, Form[]>();
  raw.categories.forEach((c: { kind?: unknown; words?: unknown; types?: unknown }, category) => {
    if (!KINDS.includes(c.kind as ConceptKind) || !Array.isArray(c.words) || !Array.isArray(c.types) || c.words.length === 0) throw broken(`category ${category} needs a kind, words and types`);
    kinds.push(c.kind as ConceptKind);
    const terms = [...(c.words as Entry[]).map((e) => parseEntry(e, category, true)), ...(c.types as Entry[]).map((e) => parseEntry(e, category, false))];
    for (const term of terms) {
      for (const [text, plural] of [[term.word, false], [term.plural, true]] as const) {
        const w = folded(text);
        if (w.length === 0) throw broken(`empty term in category ${category}`);
        const list = forms.get(w[0]!) ?? [];
        // "fish|fish": one form, read as the singular.
        if (!list.some((f) => f.term === term && f.words.join(' ') === w.join(' '))) list.push({ term, words: w, plural });
        forms.set(w[0]!, list);
      }
    }
  });
  return { determiners: new Set(words(raw.determiners, 'determiners')), after: new Set(words(raw.after, 'after')), kinds, forms };
}

let lexicon: Lexicon | undefined;
function getLexicon(): Lexicon {
  lexicon ??= loadLexicon();
  return lexicon;
}

/** Every form that starts at token `i` (all lengths), skipping tokens a name already took. */
function formsAt(tokens: readonly Token[], i: number, lex: Lexicon, taken?: ReadonlySet<number>): Form[] {
  const out: Form[] = [];
  for (const f of lex.forms.get(tokens[i]!.folded) ?? []) {
    if (i + f.words.length > tokens.length) continue;
    if (!f.words.every((w, k) => tokens[i + k]!.folded === w && !taken?.has(i + k))) continue;
    out.push(f);
  }
  return out;
}

/** What the household's description says a concept is: its category and the category words it uses. */
interface Classified {
  category: number | undefined;
  terms: Set<Term>;
}

function classify(c: NamedConcept, lex: Lexicon): Classified {
  const out: Classified = { category: undefined, terms: new Set() };
  if (c.kind === undefined || c.kind === 'person') return out;
  // The context says what it is; the name only when the context does not.
  for (const source of [c.context ?? '', c.name]) {
    const tokens = tokenize(source);
    for (let i = 0; i < tokens.length; i++) {
      for (const f of formsAt(tokens, i, lex)) {
        if (lex.kinds[f.term.category] !== c.kind) continue;
        out.category ??= f.term.category;
        if (f.term.category === out.category) out.terms.add(f.term);
      }
    }
  }
  return out;
}

/** The longest forms at token `i` (several when one word is in several categories). */
function longestAt(tokens: readonly Token[], i: number, lex: Lexicon, taken: ReadonlySet<number>): Form[] {
  const all = formsAt(tokens, i, lex, taken);
  const longest = Math.max(0, ...all.map((f) => f.words.length));
  return all.filter((f) => f.words.length === longest);
}

/** Whether the category phrase ends before token `j`: "the dog is", "the dog?", "the dog's", not "the dog food". */
function phraseEnds(text: string, tokens: readonly Token[], j: number, lex: Lexicon, taken: ReadonlySet<number>): boolean {
  if (j >= tokens.length || taken.has(j)) return true;
  if (/\S/.test(text.slice(tokens[j - 1]!.end, tokens[j]!.start))) return true;
  const next = tokens[j]!.folded;
  return lex.after.has(next) || (next.length > 4 && /(?:ing|ed)$/.test(next));
}

/**
 * The pets and objects a text refers to by species or category ("the cat", "our dogs", "my keys"), in text
 * order, skipping words that are part of an enrolled name. See the rules at the top of this file.
 */
export function categoryReferences(text: string, concepts: readonly NamedConcept[]): CategoryReference[] {
  if (typeof text !== 'string' || text.length === 0) return [];
  const lex = getLexicon();
  const tokens = tokenize(text);
  const names = extractMentions(text, concepts);
  const taken = new Set<number>();
  tokens.forEach((t, i) => {
    if (names.some((m) => t.start < m.end && m.start < t.end)) taken.add(i);
  });
  let classified: Map<NamedConcept, Classified> | undefined;
  const classOf = (c: NamedConcept): Classified => {
    classified ??= new Map(concepts.map((x) => [x, classify(x, lex)]));
    return classified.get(c)!;
  };

  const refs: CategoryReference[] = [];
  for (let i = 0; i < tokens.length - 1; i++) {
    if (taken.has(i) || !lex.determiners.has(tokens[i]!.folded)) continue;
    // "the tabby cat", "our golden retriever": consecutive category words; the last one is the head.
    const phrase: Form[][] = [];
    let j = i + 1;
    while (j < tokens.length) {
      const at = longestAt(tokens, j, lex, taken);
      if (at.length === 0) break;
      phrase.push(at);
      j += at[0]!.words.length;
    }
    if (phrase.length === 0 || !phraseEnds(text, tokens, j, lex, taken)) continue;
    const head = phrase.at(-1)!;
    const categories = new Set(head.map((f) => f.term.category));
    // Words of the head's categories ("tabby" in "the tabby cat") narrow it; others ("cat" in "the cat toy") do not.
    const words = phrase.flatMap((at) => at.filter((f) => categories.has(f.term.category)));
    const matches = (c: NamedConcept): boolean => {
      const cl = classOf(c);
      if (cl.category === undefined || !categories.has(cl.category)) return false;
      return words.every((f) => f.term.category !== cl.category || f.term.generic || cl.terms.has(f.term));
    };
    const said = words.find((f) => !f.term.generic) ?? head[0]!;
    const kinds = new Set([...categories].map((k) => lex.kinds[k]!));
    refs.push({
      start: tokens[i + 1]!.start,
      end: tokens[j - 1]!.end,
      word: said.term.word,
      plural: said.term.plural,
      a: said.term.a,
      many: head[0]!.plural,
      kind: lex.kinds[head[0]!.term.category]!,
      conceptIds: concepts.filter(matches).map((c) => c.id),
      unclassified: concepts.filter((c) => c.kind !== undefined && kinds.has(c.kind) && classOf(c).category === undefined).map((c) => c.id),
    });
    i = j - 1;
  }
  return refs;
}

/**
 * Name mentions, then a category reference that means exactly one concept ("when the dog comes in", with one
 * dog enrolled) as a mention of it, in text order. For parsers that need one concept per phrase.
 */
export function mentionsWithCategories(text: string, concepts: readonly NamedConcept[]): Mention[] {
  const out = extractMentions(text, concepts);
  for (const r of categoryReferences(text, concepts)) {
    if (r.conceptIds.length !== 1) continue;
    const c = concepts.find((x) => x.id === r.conceptIds[0])!;
    out.push({ conceptId: c.id, name: c.name, ...(c.kind !== undefined && { kind: c.kind }), start: r.start, end: r.end });
  }
  return out.sort((a, b) => a.start - b.start);
}
