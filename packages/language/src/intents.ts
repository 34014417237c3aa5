import type { AskIntent, ConceptKind } from '@familiar/contracts';
import { categoryReferences, countedCategories, type CategoryReference } from './categories.ts';
import { extractMentions, type NamedConcept } from './mentions.ts';
import { parseTriggerRequest } from './trigger-parse.ts';

/**
 * The one grammar of Familiar's built-in understanding (deterministic, English): what a sentence asks for,
 * which enrolled concepts and which room it names. The ask path, the reminder parser and the question set all
 * go through here, so a sentence is a reminder in one place only. Deliberately ordered: the narrow, costly to
 * get wrong readings first ("tell me when you last saw Billy" is a question about the past, never a reminder).
 */

/** What {@link understand} needs besides the text. */
export interface UnderstandContext {
  concepts: readonly NamedConcept[];
  /** Room names from the camera configuration. */
  rooms?: readonly string[];
}

export interface Understanding {
  intent: AskIntent;
  /** Distinct enrolled concepts named, or referred to by species or category ("the cat"), in text order. */
  conceptIds: string[];
  /**
   * "Where is the cat?": the species or category references, with the concepts each one means (maybe none);
   * for a count, what "how many …" counts ("how many dogs and cats": the dogs, then the cats).
   */
  categories?: CategoryReference[];
  /**
   * note / remind: "the dog threw up" when several dogs are enrolled. The statement or reminder is about one
   * concept and this reference means several, so nothing is stored: the answer asks which one.
   */
  ambiguous?: CategoryReference;
  /** A configured room the sentence names. */
  room?: string;
  /** "who is in the bathroom": a room named that no camera looks at. */
  unknownRoom?: string;
  /** count / roster: the kind asked about ("how many pets"). */
  kind?: ConceptKind;
  /** count: only who is in view now ("how many people are home right now"). */
  now?: boolean;
  /** "Have you seen Tom?", "is Billy here?": the answer starts with yes or no. */
  yesNo?: boolean;
  /** "and Mochi?", "what about Anna?": only a name, to be read like the previous question. */
  elliptic?: boolean;
  /** The sentence with polite openings removed ("could you please remind me…" → "remind me…"). */
  core: string;
}

const MAX_INPUT = 1000;

/** "hey Familiar, could you please …", "can you …", "please …", "do you know …", "tell me …" before a wh-word. */
const POLITE = /^(?:(?:hey|hi|ok|okay)\b[^,]*,\s*)?(?:(?:please|kindly)\s+|(?:could|can|would|will)\s+you\s+(?:please\s+)?)*/i;
const ASK_OPENING = /^(?:(?:do|does)\s+(?:you|anyone)\s+know\s+|(?:tell|show)\s+me\s+|any\s+idea\s+|i\s+(?:wonder|want\s+to\s+know)\s+)(?=(?:where|who|what|how|if|whether)\b)/i;
const POLITE_REQUEST = /^(?:(?:hey|hi|ok|okay)\b[^,]*,\s*)?(?:please\s+)?(?:could|can|would|will)\s+you\b/i;

const ACTION = String.raw`(?:remind|tell|notify|alert|warn|ping)\s+(?:me|us)|let\s+(?:me|us)\s+know`;
const MARKER = String.raw`(?:every\s+time|each\s+time|whenever|any\s*time|(?:the\s+)?next\s+time|as\s+soon\s+as|the\s+moment|if|when|once)`;
/** "remind me (to call the doctor) when Grandma arrives", "tell me when Billy comes into the living room" */
const ACTION_FIRST = new RegExp(`^(?:${ACTION})\\b(?:\\s+to\\s+[^?]+?)?\\s+${MARKER}\\s+\\S`, 'i');
/** "if Grandma shows up, remind me to call the doctor", "every time Anna arrives, say hello" */
const CONDITION_FIRST = new RegExp(`^${MARKER}\\s+(?!(?:did|do|does|was|were|is|are|has|have|had)\\b)[^?]+?,?\\s+(?:then\\s+)?(?:${ACTION}|say|greet|announce)\\b`, 'i');

const MENTION = /\b(?:mention(?:ed)?|talk(?:ed)?\s+about|spoke\s+(?:about|of)|brought\s+up|said\s+(?:something\s+|anything\s+)?about)\b/i;
const LAST = /\b(?:last|latest|most\s+recent(?:ly)?|previous)\b/i;
const LAST_SEEN = /\bwhen\s+was\s+\S+(?:\s+\S+)?\s+(?:here|home|around|seen|in)\s+last\b|\blast\s+(?:saw|seen|see)\b|\blast\s+time\s+you\b|\bwhen\s+did\s+you\s+(?:last\s+)?see\b|\bhave\s+you\s+(?:seen|spotted)\b|\bwhen\s+did\s+\S+(?:\s+\S+)?\s+last\b|\bwhen\s+was\s+\S+(?:\s+\S+)?\s+last\s+(?:here|seen|home|around)\b/i;
const CANCEL = /^(?:cancel|delete|remove|forget|drop|stop|clear|turn\s+off)\b.*\breminders?\b|^(?:don't|do\s+not)\s+remind\b/i;
const REMINDERS = /\breminders?\b/i;
const COUNT = /^how\s+many\b/i;
const COUNT_NOW = /\b(?:right\s+now|now|at\s+the\s+moment|currently|in\s+view|can\s+you\s+see|do\s+you\s+see|are\s+(?:home|here|in))\b/i;
const VISIT_VERB = /\b(?:came|come|been|visited|was\s+in|were\s+in|stopped\s+by|dropped\s+by|was\s+(?:here|home|around)|were\s+(?:here|home|around)|did\s+you\s+see|have\s+you\s+seen|showed\s+up|turned\s+up)\b/i;
const VISIT_TIME = /\b(?:today|tonight|this\s+(?:morning|afternoon|evening)|lately|recently|came\s+by|come\s+by)\b/i;
const SOMEONE = /\b(?:who|anyone|anybody|someone|somebody)\b/i;
const PREFERENCE = /\b(?:like|likes|dislike|dislikes|love|loves|hate|hates|enjoy|enjoys|favou?rite|prefer|prefers)\b/i;
const NOTES = /\bwhat\s+(?:did|has|have)\s+\S+\s+(?:say|said|told\s+you)\s+about\b|\b(?:anything|something)\b.*\b(?:know|remember)\b.*\babout\b|\bwhat\s+do\s+you\s+(?:know|remember)\s+about\b|\bany\s+news\b|\bnews\s+(?:about|on|from)\b|\bnotes?\s+(?:about|on)\b|\bwhat(?:'s|\s+is|\s+has)\s+(?:new|been\s+said)\s+(?:about|with)\b/i;
const ROSTER = /\bwho\s+lives?\s+here\b|\bwho\s+(?:all\s+)?do\s+you\s+know\b|\bwho(?:'s|\s+is|\s+are)\s+in\s+(?:the|our|my|this)\s+(?:family|household|house\s*hold)\b|\bwhat\s+(?:pets|animals|people|objects|things)\s+do\s+(?:we|you|i)\s+(?:have|know)\b|\bwho\s+(?:is|are)\s+(?:the\s+)?(?:family|household)\b|\blist\s+(?:everyone|everybody|the\s+household)\b/i;
const ABOUT = /^(?:tell\s+me\s+(?:something\s+|more\s+|everything\s+)?about|who\s+(?:is|'s)|who's|what\s+(?:is|'s)|what's)\s+/i;
const WHERE = /\bwhere\b|\bwhich\s+room\b/i;
const PRESENCE = /^(?:is|are|isn't|aren't|see|spot)\b|^(?:did|has)\s+\S+(?:\s+\S+)?\s+(?:come|get|arrive|arrived|come\s+back|got)\b|\b(?:can|do)\s+you\s+see\b|\bis\s+\S+(?:\s+\S+)?\s+(?:here|home|around|in|on|at|back|awake)\b/i;
const VIEW = /\bwhat\s+(?:do|can)\s+you\s+see\b|\bwhat(?:'s|\s+is)\s+(?:happening|going\s+on)\b|\bdescribe\b|\bwhat\s+(?:is|are|'s)\s+\S+(?:\s+\S+)?\s+doing\b|\bwhat(?:'s|\s+is)\s+(?:on|in)\s+(?:the\s+|this\s+)?(?:picture|image|photo|camera|screen|view)\b|\bwho\s+(?:is|'s|are)\s+(?:here|there|in\s+view|in\s+(?:the\s+|this\s+)?(?:picture|image|photo|view))\b|\bwho\s+do\s+you\s+see\b/i;
const ROOM_ASK = /\b(?:who|what|anyone|anybody|anything|someone|somebody|describe|see|happening|check|look|show)\b/i;
/** "Is anybody home?", "who is around?", "where is everyone?": everyone in view now, in every room. */
const ANYONE_HOME = /^(?:is\s+|are\s+)?(?:any(?:one|body)|someone|somebody)\s+(?:home|here|around|in)\s*[?.!]*$|^who(?:'s|\s+is|\s+are)\s+(?:home|around|in\s+the\s+house)\b|^where\s+(?:is|are)\s+every(?:one|body)\b/i;
const IN_PLACE = /\b(?:in|into|inside)\s+(?:the|our|my)\s+([\p{L}][\p{L}' -]{1,30}?)\s*(?:right\s+now|now|today|at\s+the\s+moment)?\s*[?.!]*$/iu;
const NOT_PLACES = new Set(['room', 'rooms', 'family', 'household', 'picture', 'image', 'photo', 'view', 'house', 'home', 'world', 'morning', 'evening', 'afternoon']);
const QUESTION_START = /^(?:who|whom|whose|what|when|where|why|how|which|is|are|was|were|do|does|did|can|could|would|will|has|have|had|should|shall|may|any|anything|anyone|anybody|tell|show|describe|list|let)\b/i;
const ELLIPTIC = /^(?:and|what\s+about|how\s+about|and\s+what\s+about)\s+/i;

const KIND_WORDS: ReadonlyArray<{ kind: ConceptKind; re: RegExp }> = [
  { kind: 'pet', re: /\b(?:pets?|animals?|dogs?|cats?|puppy|puppies|kittens?)\b/i },
  { kind: 'person', re: /\b(?:people|persons?|family|members?|humans?|kids|children|adults)\b/i },
  { kind: 'object', re: /\b(?:objects?|things?|items?|belongings)\b/i },
];

function kindOf(text: string): ConceptKind | undefined {
  return KIND_WORDS.find((k) => k.re.test(text))?.kind;
}

/** The sentence without polite openings ("hey, could you please …", "please …"). */
export function stripPolite(text: string): string {
  return text.replace(/\s+/g, ' ').trim().replace(POLITE, '');
}

/** The sentence without polite openings and without "do you know" / "tell me" before a wh-word. */
function politeCore(text: string): string {
  return stripPolite(text).replace(ASK_OPENING, '');
}

/** A polite request ("can you remind me…?") is a request even with a question mark. */
export function isPoliteRequest(text: string): boolean {
  return POLITE_REQUEST.test(text.trim());
}

/** "Tell me when you last saw Billy", "have you seen Tom": about the past, so never a reminder. */
export function asksAboutThePast(text: string): boolean {
  return LAST_SEEN.test(text);
}

/** A request to be reminded when a concept appears, rather than a question (the form alone, names not needed). */
export function isReminderRequest(text: string): boolean {
  if (text.length === 0 || text.length > MAX_INPUT) return false;
  const s = stripPolite(text);
  if (asksAboutThePast(s)) return false;
  return ACTION_FIRST.test(s) || CONDITION_FIRST.test(s);
}

/** "What was I doing when I last mentioned Grandma?", "When did I last talk about Billy?" */
function isLastMentionQuestion(text: string): boolean {
  return text.length <= MAX_INPUT && MENTION.test(text) && LAST.test(text);
}

/** What a text refers to: enrolled names and species or category references, in text order. */
function referencesIn(text: string, concepts: readonly NamedConcept[]): { spans: Array<{ start: number; end: number; ids: string[] }>; categories: CategoryReference[] } {
  const categories = categoryReferences(text, concepts);
  const spans = [...extractMentions(text, concepts).map((m) => ({ start: m.start, end: m.end, ids: [m.conceptId] })), ...categories.map((r) => ({ start: r.start, end: r.end, ids: r.conceptIds }))];
  return { spans: spans.sort((a, b) => a.start - b.start), categories };
}

/** "Billy", "Anna and Tom?", "the cat": nothing but enrolled names or category references (and "and", "the"). */
function onlyNames(text: string, concepts: readonly NamedConcept[]): boolean {
  let rest = text;
  for (const m of referencesIn(text, concepts).spans.reverse()) rest = rest.slice(0, m.start) + rest.slice(m.end);
  return rest.replace(/['’]s\b/g, '').replace(/\b(?:and|the|our|my|your|his|her|their)\b/gi, '').replace(/[\s?.!,]+/g, '') === '';
}

function isQuestion(s: string): boolean {
  return /\?\s*$/.test(s) || QUESTION_START.test(s);
}

/** Reads one sentence. */
export function understand(text: string, ctx: UnderstandContext): Understanding {
  const raw = typeof text === 'string' ? text.slice(0, MAX_INPUT) : '';
  const core = politeCore(raw);
  const refs = referencesIn(core, ctx.concepts);
  const conceptIds = [...new Set(refs.spans.flatMap((s) => s.ids))];
  const rooms = ctx.rooms ?? [];
  const roomHit = extractMentions(core, rooms.map((name) => ({ id: name, name })))[0]?.name;
  const out: Understanding = { intent: 'unknown', conceptIds, core };
  if (refs.categories.length > 0) out.categories = refs.categories;
  if (roomHit !== undefined) out.room = roomHit;
  // "Where is the cat?" asks about someone even when no cat is enrolled (the answer says so).
  const named = refs.spans.length > 0;
  // A statement is about the concepts it names, and "the dog" only when one dog is meant ("the dogs": all of them).
  const statedIds = [...new Set(refs.spans.filter((s) => s.ids.length === 1 || refs.categories.some((r) => r.start === s.start && r.many)).flatMap((s) => s.ids))];
  const set = (intent: AskIntent, extra: Partial<Understanding> = {}): Understanding => Object.assign(out, { intent }, extra);

  if (core.length === 0) return out;
  if (named && isLastMentionQuestion(core)) return set('last_mention');
  if (CANCEL.test(core)) return set('cancel_reminder');
  // A singular species word that means several concepts ("the dog", two dogs): a statement or reminder asks which.
  const ambiguous = refs.categories.find((r) => !r.many && r.conceptIds.length > 1);
  const trigger = parseTriggerRequest(raw, ctx.concepts, { rooms });
  // "Tell me when the dog comes in": no trigger without knowing which dog.
  if (trigger !== null || isReminderRequest(raw)) return set('remind', ambiguous && trigger === null ? { ambiguous } : {});
  if (REMINDERS.test(core) && isQuestion(core)) return set('reminders');
  if (named && LAST_SEEN.test(core)) return set('last_seen', { yesNo: /^(?:have|has|did)\b/i.test(core) });
  if (!named && ANYONE_HOME.test(core)) return set('count', { now: true });
  if (COUNT.test(core)) {
    const now = COUNT_NOW.test(core) && !/\b(?:live|lives|living|do\s+we\s+have|do\s+you\s+know)\b/i.test(core);
    // "How many dogs do we have?": only the dogs; "how many pets": every pet.
    const counted = countedCategories(core, ctx.concepts);
    if (counted.length > 0) {
      const kinds = new Set(counted.map((r) => r.kind));
      return set('count', { categories: counted, ...(kinds.size === 1 && { kind: counted[0]!.kind }), now });
    }
    // Only what "how many" counts: "how many toys does the dog have" is no count of dogs.
    delete out.categories;
    const kind = kindOf(core);
    return set('count', { ...(kind && { kind }), now });
  }
  if (SOMEONE.test(core) && VISIT_VERB.test(core) && VISIT_TIME.test(core)) return set('visitors');
  if (!named && LAST_SEEN.test(core) && SOMEONE.test(core)) return set('visitors');
  if (named && PREFERENCE.test(core) && isQuestion(core)) return set('preferences');
  if (named && NOTES.test(core)) return set('notes');
  if (ROSTER.test(core)) {
    const kind = kindOf(core);
    return set('roster', kind ? { kind } : {});
  }
  if (named && ELLIPTIC.test(core) && referencesIn(core.replace(ELLIPTIC, ''), ctx.concepts).spans.length > 0 && core.replace(ELLIPTIC, '').split(/\s+/).length <= 4) {
    return set('where', { elliptic: true });
  }
  if (named && WHERE.test(core)) return set('where');
  if (named && PRESENCE.test(core)) return set('presence');
  if (named && /\bdoing\b/i.test(core)) return set('view');
  if (named && ABOUT.test(core) && onlyNames(core.replace(ABOUT, ''), ctx.concepts)) return set('roster');
  if (!named && (roomHit !== undefined || IN_PLACE.test(core)) && ROOM_ASK.test(core)) {
    if (roomHit === undefined) {
      const place = IN_PLACE.exec(core)?.[1]?.trim().toLowerCase();
      if (place !== undefined && !NOT_PLACES.has(place)) return set('room', { unknownRoom: place });
    } else return set('room');
  }
  if (VIEW.test(core)) return set('view');
  // "Rex", "Billy and Rex.": names alone say nothing about them (often the answer to "which dog?"), so no note.
  if (named && !isQuestion(core) && onlyNames(core, ctx.concepts)) return out;
  if (ambiguous && !isQuestion(core)) return set('note', { conceptIds: statedIds, ambiguous });
  if (statedIds.length > 0 && !isQuestion(core)) return set('note', { conceptIds: statedIds });
  // A statement about keys nobody enrolled is not understood.
  if (named && isQuestion(core)) return set('view');
  return out;
}
