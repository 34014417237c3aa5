/**
 * Recognises the questions that memory answers instead of the view (deterministic, English). Deliberately
 * narrow: a question wrongly taken for a reminder request loses its answer, while a reminder request
 * missed here is only answered like any other question.
 */

const POLITE = String.raw`^(?:(?:hey|hi|ok|okay)\b[^,]*,\s*)?(?:(?:please|kindly)\s+|(?:could|can|would|will)\s+you\s+(?:please\s+)?)*`;
const ACTION = String.raw`(?:remind|tell|notify|alert|warn|ping)\s+(?:me|us)|let\s+(?:me|us)\s+know`;
const MARKER = String.raw`(?:every\s+time|each\s+time|whenever|any\s*time|(?:the\s+)?next\s+time|as\s+soon\s+as|the\s+moment|if|when|once)`;
/** "remind me (to call the doctor) when Grandma arrives", "tell me when Billy comes into the living room" */
const ACTION_FIRST = new RegExp(`${POLITE}(?:${ACTION})\\b(?:\\s+to\\s+[^?]+?)?\\s+${MARKER}\\s+\\S`, 'i');
/** "if Grandma shows up, remind me to call the doctor", "every time Anna arrives, say hello" */
const CONDITION_FIRST = new RegExp(`${POLITE}${MARKER}\\s+(?!(?:did|do|does|was|were|is|are|has|have|had)\\b)[^?]+?,?\\s+(?:then\\s+)?(?:${ACTION}|say|greet|announce)\\b`, 'i');

/** A request to be reminded when a concept appears, rather than a question. */
export function isReminderRequest(text: string): boolean {
  const s = text.replace(/\s+/g, ' ').trim();
  if (s.length === 0 || s.length > 1000) return false;
  return ACTION_FIRST.test(s) || CONDITION_FIRST.test(s);
}

const MENTION = /\b(?:mention(?:ed)?|talk(?:ed)?\s+about|spoke\s+(?:about|of)|brought\s+up|said\s+(?:something\s+|anything\s+)?about)\b/i;
const LAST = /\b(?:last|latest|most\s+recent(?:ly)?|previous)\b/i;

/** "What was I doing when I last mentioned Grandma?", "When did I last talk about Billy?" */
export function isLastMentionQuestion(text: string): boolean {
  return text.length <= 1000 && MENTION.test(text) && LAST.test(text);
}
