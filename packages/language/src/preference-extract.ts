import { foldText } from './mentions.ts';

/** Liked and disliked attributes found in a comment. */
export interface ExtractedPreferences {
  likes: string[];
  dislikes: string[];
}

type Polarity = 'like' | 'dislike' | 'neutral';

interface Cue {
  polarity: Polarity;
  /** "prefer X to Y": X liked, Y disliked. */
  prefer: boolean;
  start: number;
  end: number;
}

const MAX_INPUT = 5000;
const MAX_ITEMS = 20;
const MAX_ITEM_LENGTH = 300;

// Where a bare verb may start a statement: the start of a clause, or after a subject or an adverb. Keeps
// "it looks like rain" and "people like us" from reading as likes.
const GATE = String.raw`(?<=^|[,:]\s*|\b(?:and|but|or|though|i|we|you|he|she|they|also|really|truly|absolutely|totally|definitely|still|just|do|does|did|would|'d|kinda|genuinely|actually|quite|so|too|both|all|always|generally|usually|especially|personally|particularly|secretly|rather)\s+)`;
const NEGATION = String.raw`\b(?:do\s+not|don't|dont|does\s+not|doesn't|doesnt|did\s+not|didn't|never|would\s+not|wouldn't|won't|can't|cannot)\s+(?:really\s+|much\s+|particularly\s+|ever\s+|actually\s+)?`;
const BE = String.raw`\b(?:am|'m|is|'s|are|'re)\s+`;

/** Each alternative is one capture group; its index picks the polarity. */
const CUES: ReadonlyArray<{ polarity: Polarity; prefer?: boolean; source: string }> = [
  { polarity: 'dislike', source: String.raw`${NEGATION}(?:like|love|enjoy|care\s+for|want|appreciate)\b` },
  { polarity: 'neutral', source: String.raw`${NEGATION}(?:hate|dislike|mind)\b` },
  { polarity: 'dislike', source: String.raw`\b(?:can't|cannot|can\s+not)\s+(?:stand|bear)\b` },
  { polarity: 'dislike', source: String.raw`(?:${BE})?\bnot\s+(?:a\s+)?(?:big\s+|huge\s+|great\s+)?fan\s+of\b` },
  { polarity: 'dislike', source: String.raw`${BE}(?:sick|tired)\s+of\b` },
  { polarity: 'like', source: String.raw`${BE}(?:a\s+)?(?:big\s+|huge\s+|great\s+)?fan\s+of\b` },
  { polarity: 'like', source: String.raw`${BE}(?:really\s+|very\s+|quite\s+)?(?:fond\s+of|into|keen\s+on|crazy\s+about|mad\s+about)\b` },
  { polarity: 'like', source: String.raw`\bmy\s+favou?rites?(?:\s+[\p{L}-]+){0,2}\s+(?:is|are)\b` },
  { polarity: 'dislike', source: String.raw`${GATE}(?:hate|dislike|detest|loathe|despise|abhor)\b|\b(?:hates|dislikes|detests|loathes|despises|abhors)\b` },
  { polarity: 'like', prefer: true, source: String.raw`${GATE}prefer\b|\bprefers\b` },
  { polarity: 'like', source: String.raw`${GATE}(?:like|love|enjoy|adore)\b|\b(?:likes|loves|enjoys|adores)\b` },
  { polarity: 'dislike', source: String.raw`(?<=^|[,:]\s*|\b(?:and|but)\s+)(?:please\s+)?no\s+(?:more\s+)?(?=\p{L})` },
];
const CUE_RE = new RegExp(CUES.map((c) => `(${c.source})`).join('|'), 'giu');

const PREFER_SPLIT = /\s+(?:to|over|rather\s+than|instead\s+of|more\s+than)\s+/i;
const BUT_NOT = /,?\s+but\s+not\s+/i;
const CUT = /\s+(?:because|since|as\s+long\s+as|so\s+that|but|though|although|except|unless)\b|\s+[-–—]\s+/i;
const TRAILING = /(?:[\s,;:–—-]+|\s+(?:and|or|but|also|too|as\s+well|very\s+much|so\s+much|a\s+lot|a\s+great\s+deal|please|though|either|anymore|any\s+more|really|honestly|i|we|in\s+general|generally|at\s+all))$/i;
const LEADING = /^(?:[\s,;:–—-]+|it\s+(?:when|if)\s+|that\s+|the\s+fact\s+that\s+)/i;
const LIST_SEPARATOR = /(\s*,\s*(?:and\s+|or\s+)?|\s+(?:and|or|&)\s+|\s*&\s*)/i;
const CONTINUATION = /^(?:when|while|if|especially|in|on|at|with|without|during|after|before|for|from|of|by|around|near|under|over)\b/i;
const ADJECTIVE_SUFFIX = /(?:y|ful|ous|ive|al|ic|ish|less|able|ible|ant|ent|ed)$/i;
const ADJECTIVES = new Set(['warm', 'cold', 'hot', 'cool', 'bright', 'dark', 'soft', 'loud', 'quiet', 'big', 'small', 'clean', 'calm', 'dim', 'light', 'fresh', 'sweet', 'spicy', 'strong', 'mild', 'long', 'short', 'slow', 'fast', 'old', 'new', 'plain', 'rich', 'black', 'white', 'red', 'green', 'blue', 'pink', 'cosy', 'cozy']);
const EMPTY_ITEMS = new Set(['it', 'that', 'this', 'them', 'those', 'these', 'everything', 'anything', 'something', 'things', 'stuff', 'one', 'you', 'him', 'her', 'so', 'much']);

/**
 * A deterministic fallback for turning a comment into liked and disliked attributes (the LVLM-based
 * extractor is preferred where available). Understands "I like/love/enjoy/adore/prefer X", "I'm a fan
 * of / into / fond of X", "I hate/dislike/detest/can't stand X", negations ("I don't like X" → disliked;
 * "I don't mind X" → neither), "no X please", "prefer X to Y", "X but not Y", and lists with commas and
 * "and" ("tea, coffee and cake"), keeping each attribute's own wording:
 * "I like the lights dim in the evening, hate clutter on the table" →
 * likes ["the lights dim in the evening"], dislikes ["clutter on the table"].
 */
export function extractPreferences(comment: string): ExtractedPreferences {
  const out: ExtractedPreferences = { likes: [], dislikes: [] };
  if (typeof comment !== 'string') return out;
  const text = comment.slice(0, MAX_INPUT).replace(/[’‘`]/g, "'").replace(/\s+/g, ' ');
  for (const sentence of text.split(/[.!?;\n]+/)) {
    const cues = findCues(sentence.trim());
    cues.forEach((cue, i) => {
      if (cue.polarity === 'neutral') return;
      const s = sentence.trim();
      const object = s.slice(cue.end, cues[i + 1]?.start ?? s.length);
      for (const [polarity, phrase] of split(cue, object)) for (const item of items(phrase)) add(out, polarity, item);
    });
  }
  return out;
}

function findCues(sentence: string): Cue[] {
  // Same-length lower case, so offsets found in it apply to the original.
  const lower = [...sentence].map((c) => (c.toLowerCase().length === c.length ? c.toLowerCase() : c)).join('');
  const cues: Cue[] = [];
  CUE_RE.lastIndex = 0;
  for (let m = CUE_RE.exec(lower); m !== null; m = CUE_RE.exec(lower)) {
    const group = m.slice(1).findIndex((g) => g !== undefined);
    const spec = CUES[group]!;
    cues.push({ polarity: spec.polarity, prefer: spec.prefer === true, start: m.index, end: m.index + m[0].length });
    if (m[0].length === 0) CUE_RE.lastIndex++;
  }
  return cues;
}

/** The phrase(s) a cue governs, with their polarity: "prefer X to Y" and "X but not Y" yield two. */
function split(cue: Cue, object: string): Array<['like' | 'dislike', string]> {
  const polarity = cue.polarity as 'like' | 'dislike';
  const opposite = polarity === 'like' ? 'dislike' : 'like';
  const trimmed = object.trim();
  if (cue.prefer) {
    const m = PREFER_SPLIT.exec(trimmed);
    if (m !== null && m.index > 0) return [[polarity, trimmed.slice(0, m.index)], [opposite, trimmed.slice(m.index + m[0].length)]];
  }
  const but = BUT_NOT.exec(trimmed);
  if (but !== null) return [[polarity, trimmed.slice(0, but.index)], [opposite, trimmed.slice(but.index + but[0].length)]];
  return [[polarity, trimmed]];
}

function clean(phrase: string): string {
  let p = phrase;
  const cut = CUT.exec(p);
  if (cut !== null) p = p.slice(0, cut.index);
  for (let prev = ''; prev !== p; ) {
    prev = p;
    p = p.replace(LEADING, '').replace(TRAILING, '');
  }
  return p.trim();
}

function isAdjective(word: string): boolean {
  return !/\s/.test(word) && (ADJECTIVES.has(word.toLowerCase()) || (word.length > 3 && ADJECTIVE_SUFFIX.test(word)));
}

/** A phrase split into list items, keeping "warm, cosy rooms" and "the lights, especially at night" whole. */
function items(phrase: string): string[] {
  const cleaned = clean(phrase);
  if (cleaned.length === 0) return [];
  const parts = cleaned.split(LIST_SEPARATOR);
  const out: string[] = [];
  let current = parts[0]!;
  for (let i = 1; i < parts.length; i += 2) {
    const separator = parts[i]!;
    const next = parts[i + 1] ?? '';
    // "warm, cosy rooms": a lone adjective before a longer phrase modifies it rather than being an item.
    const modifies = isAdjective(current.trim()) && /\s/.test(next.trim());
    if (CONTINUATION.test(next) || modifies) current += separator + next;
    else {
      out.push(current);
      current = next;
    }
  }
  out.push(current);
  return out.map((s) => clean(s)).filter((s) => s.length > 0 && s.length <= MAX_ITEM_LENGTH && !EMPTY_ITEMS.has(s.toLowerCase()));
}

function add(out: ExtractedPreferences, polarity: 'like' | 'dislike', item: string): void {
  const key = foldText(item);
  const [mine, other] = polarity === 'like' ? [out.likes, out.dislikes] : [out.dislikes, out.likes];
  // The later statement wins when the same thing is both liked and disliked.
  const at = other.findIndex((o) => foldText(o) === key);
  if (at >= 0) other.splice(at, 1);
  if (!mine.some((o) => foldText(o) === key) && mine.length < MAX_ITEMS) mine.push(item);
}
