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
 * - **Adjectives.** One word the lexicon does not know may stand between the determiner and the category words
 *   ("the little dog", "the black cat"): not a category word (so "the dog bed" stays nothing: "dog" is no
 *   adjective and "bed" does not end the phrase), determiner, `after` word or `not_modifiers` word ("the hot
 *   dog"), with only spaces around it. When some of the matching concepts' descriptions or names use the word,
 *   only those are meant ("the black cat" of a black and a white one).
 * - **Which concepts.** The last word is the head ("the cat toy" is a toy); a generic word ("dog", "puppy")
 *   takes every concept of its category, a type ("beagle", "tabby") only those whose context or name says so,
 *   a kind word ("pets", "animals": a `group` category) every concept of that kind. A reference may match one
 *   concept, several or none; `unclassified` lists the concepts of that kind whose description names no
 *   category at all, so an answer can say it does not know what they are.
 * - **Counting.** "How many" followed by category phrases ("how many dogs", "how many dogs and cats") counts
 *   those categories ({@link countedCategories}); a kind word there ("how many pets") is counted by kind.
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
  /** Words that never stand for an adjective before a category word ("the hot dog", "the neighbour cat"). */
  notModifiers: ReadonlySet<string>;
  kinds: readonly ConceptKind[];
  /** Categories that are a whole kind ("pets", "animals"): every concept of that kind, whatever its species. */
  groups: ReadonlySet<number>;
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
  const raw = JSON.parse(readFileSync(LEXICON_FILE, 'utf8')) as { determiners?: unknown; after?: unknown; not_modifiers?: unknown; categories?: unknown };
  const words = (v: unknown, what: string): string[] => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw broken(`${what} must be a list of words`);
    return v.flatMap(folded);
  };
  if (!Array.isArray(raw.categories)) throw broken('categories must be a list');
  const kinds: ConceptKind[] = [];
  const groups = new Set<number>();
  const forms = new Map<string, Form[]>();
  raw.categories.forEach((c: { kind?: unknown; group?: unknown; words?: unknown; types?: unknown }, category) => {
    if (!KINDS.includes(c.kind as ConceptKind) || !Array.isArray(c.words) || !Array.isArray(c.types) || c.words.length === 0) throw broken(`category ${category} needs a kind, words and types`);
    kinds.push(c.kind as ConceptKind);
    if (c.group === true) groups.add(category);
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
  return {
    determiners: new Set(words(raw.determiners, 'determiners')),
    after: new Set(words(raw.after, 'after')),
    notModifiers: new Set(words(raw.not_modifiers, 'not_modifiers')),
    kinds,
    groups,
    forms,
  };
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
        if (lex.kinds[f.term.category] !== c.kind || lex.groups.has(f.term.category)) continue;
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

/** A category phrase in a text: tokens [start, end), its category words and the unknown adjective before them. */
interface Phrase {
  start: number;
  end: number;
  forms: Form[][];
  /** "little" in "the little dog": one word the lexicon does not know, right before the category words. */
  modifier?: string;
}

/** Reads the phrases of one text against one household. */
class PhraseReader {
  readonly tokens: Token[];
  readonly #lex: Lexicon;
  readonly #taken = new Set<number>();
  #classified: Map<NamedConcept, Classified> | undefined;

  constructor(
    private readonly text: string,
    private readonly concepts: readonly NamedConcept[],
  ) {
    this.#lex = getLexicon();
    this.tokens = tokenize(text);
    const names = extractMentions(text, concepts);
    this.tokens.forEach((t, i) => {
      if (names.some((m) => t.start < m.end && m.start < t.end)) this.#taken.add(i);
    });
  }

  isDeterminer(i: number): boolean {
    return !this.#taken.has(i) && this.#lex.determiners.has(this.tokens[i]!.folded);
  }

  /** Only whitespace between tokens `i` and `i + 1`. */
  #adjacent(i: number): boolean {
    return !/\S/.test(this.text.slice(this.tokens[i]!.end, this.tokens[i + 1]!.start));
  }

  /**
   * "The little dog", "the black cat": one word right before the category words that the lexicon does not know
   * (no category word, determiner, function word or verb of its `after` list, nor one of its `not_modifiers`),
   * with nothing but spaces around it ("the neighbour's dog" is not ours).
   */
  #modifierAt(j: number): boolean {
    if (j + 1 >= this.tokens.length || this.#taken.has(j) || !this.#adjacent(j - 1) || !this.#adjacent(j)) return false;
    const w = this.tokens[j]!.folded;
    return /^\p{L}{2,}$/u.test(w) && !this.#lex.determiners.has(w) && !this.#lex.after.has(w) && !this.#lex.notModifiers.has(w);
  }

  /** The category phrase starting at token `j` (right after a determiner or "how many"), if one does and ends properly. */
  phraseAt(j: number): Phrase | undefined {
    if (j >= this.tokens.length) return undefined;
    let k = j;
    let modifier: string | undefined;
    if (longestAt(this.tokens, j, this.#lex, this.#taken).length === 0) {
      if (!this.#modifierAt(j)) return undefined;
      modifier = this.tokens[j]!.folded;
      k = j + 1;
    }
    // "the tabby cat", "our golden retriever": consecutive category words; the last one is the head.
    const forms: Form[][] = [];
    while (k < this.tokens.length) {
      // A function word or verb ends the phrase even when it is also a category word: "the dog can see you".
      // Punctuation too: "how many dogs, cats …" are two phrases.
      if (forms.length > 0 && (this.#lex.after.has(this.tokens[k]!.folded) || !this.#adjacent(k - 1))) break;
      const at = longestAt(this.tokens, k, this.#lex, this.#taken);
      if (at.length === 0) break;
      forms.push(at);
      k += at[0]!.words.length;
    }
    if (forms.length === 0 || !phraseEnds(this.text, this.tokens, k, this.#lex, this.#taken)) return undefined;
    return { start: j, end: k, forms, ...(modifier !== undefined && { modifier }) };
  }

  /** Whether a phrase names a whole kind ("the pets") rather than a species. */
  isGroup(p: Phrase): boolean {
    return p.forms.at(-1)!.some((f) => this.#lex.groups.has(f.term.category));
  }

  #classOf(c: NamedConcept): Classified {
    this.#classified ??= new Map(this.concepts.map((x) => [x, classify(x, this.#lex)]));
    return this.#classified.get(c)!;
  }

  /** The reference a phrase makes: the concepts it means, how to say it, and who might be one. */
  reference(p: Phrase): CategoryReference {
    const lex = this.#lex;
    const head = p.forms.at(-1)!;
    const categories = new Set(head.map((f) => f.term.category));
    // Words of the head's categories ("tabby" in "the tabby cat") narrow it; others ("cat" in "the cat toy") do not.
    const words = p.forms.flatMap((at) => at.filter((f) => categories.has(f.term.category)));
    const matches = (c: NamedConcept): boolean => {
      if (c.kind === undefined) return false;
      // "the pets": every pet, whatever its species.
      if ([...categories].some((k) => lex.groups.has(k) && lex.kinds[k] === c.kind)) return true;
      const cl = this.#classOf(c);
      if (cl.category === undefined || !categories.has(cl.category)) return false;
      return words.every((f) => f.term.category !== cl.category || f.term.generic || cl.terms.has(f.term));
    };
    let conceptIds = this.concepts.filter(matches).map((c) => c.id);
    // "The black cat": the adjective narrows to those whose description or name uses it, when any does.
    if (p.modifier !== undefined) {
      const described = this.concepts.filter((c) => conceptIds.includes(c.id) && tokenize(`${c.context ?? ''} ${c.name}`).some((t) => t.folded === p.modifier)).map((c) => c.id);
      if (described.length > 0) conceptIds = described;
    }
    const said = words.find((f) => !f.term.generic) ?? head[0]!;
    const kinds = new Set([...categories].filter((k) => !lex.groups.has(k)).map((k) => lex.kinds[k]!));
    return {
      start: this.tokens[p.start]!.start,
      end: this.tokens[p.end - 1]!.end,
      word: said.term.word,
      plural: said.term.plural,
      a: said.term.a,
      many: head[0]!.plural,
      kind: lex.kinds[head[0]!.term.category]!,
      conceptIds,
      unclassified: this.concepts.filter((c) => c.kind !== undefined && kinds.has(c.kind) && this.#classOf(c).category === undefined).map((c) => c.id),
    };
  }
}

/**
 * The pets and objects a text refers to by species or category ("the cat", "our dogs", "my keys", "the little
 * dog") or by kind ("the pets"), in text order, skipping words that are part of an enrolled name. See the rules
 * at the top of this file.
 */
export function categoryReferences(text: string, concepts: readonly NamedConcept[]): CategoryReference[] {
  if (typeof text !== 'string' || text.length === 0) return [];
  const r = new PhraseReader(text, concepts);
  const refs: CategoryReference[] = [];
  for (let i = 0; i < r.tokens.length - 1; i++) {
    if (!r.isDeterminer(i)) continue;
    const p = r.phraseAt(i + 1);
    if (p === undefined) continue;
    refs.push(r.reference(p));
    i = p.end - 1;
  }
  return refs;
}

/**
 * What "how many …" counts by species or category: "how many dogs do we have?" → the dogs; "how many dogs and
 * cats are there?" → the dogs, then the cats (phrases joined by "and", "or" or a comma). Empty when the words
 * after "how many" are no category phrase ("how many dog beds"), or name a kind ("how many pets": counted by kind).
 */
export function countedCategories(text: string, concepts: readonly NamedConcept[]): CategoryReference[] {
  if (typeof text !== 'string' || text.length === 0) return [];
  const r = new PhraseReader(text, concepts);
  const at = r.tokens.findIndex((t, i) => t.folded === 'how' && r.tokens[i + 1]?.folded === 'many');
  if (at < 0) return [];
  const phrases: Phrase[] = [];
  for (let j = at + 2; ; ) {
    const p = r.phraseAt(j);
    if (p === undefined) break;
    phrases.push(p);
    j = p.end;
    const next = r.tokens[j];
    if (next === undefined) break;
    if (next.folded === 'and' || next.folded === 'or') j++;
    else if (!/^\s*,\s*$/.test(text.slice(r.tokens[j - 1]!.end, next.start))) break;
  }
  if (phrases.some((p) => r.isGroup(p))) return [];
  return phrases.map((p) => r.reference(p));
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
