import { describe, expect, it } from 'vitest';
import { extractMentions, mentionedIds, redactNames, type NamedConcept } from './mentions.ts';
import { extractPreferences } from './preference-extract.ts';
import { parseTriggerRequest } from './trigger-parse.ts';

const CONCEPTS: NamedConcept[] = [
  { id: 'grandma', name: 'Grandma', kind: 'person' },
  { id: 'billy', name: 'Billy', kind: 'pet' },
  { id: 'anna', name: 'Anna', kind: 'person' },
  { id: 'anna-maria', name: 'Anna Maria', kind: 'person' },
  { id: 'zoe', name: 'Zoë', kind: 'person' },
  { id: 'keys', name: 'my keys', kind: 'object' },
  { id: 'max-dog', name: 'Max', kind: 'pet' },
  { id: 'max', name: 'Max', kind: 'person' },
];

describe('extractMentions', () => {
  it('finds whole-word, case- and diacritic-insensitive names, possessives included, with their spans', () => {
    const text = "Billy's bowl is empty; ask ZOE or zoë. Annabel and Billyboy are not enrolled.";
    const m = extractMentions(text, CONCEPTS);
    expect(m.map((x) => x.conceptId)).toEqual(['billy', 'zoe', 'zoe']);
    expect(text.slice(m[0]!.start, m[0]!.end)).toBe('Billy');
    expect(text.slice(m[1]!.start, m[1]!.end)).toBe('ZOE');
    expect(mentionedIds(text, CONCEPTS)).toEqual(['billy', 'zoe']);
  });

  it('prefers the longest name, matches multi-word names across punctuation, and returns every concept sharing a name (persons first)', () => {
    expect(mentionedIds('Anna Maria and Anna came', CONCEPTS)).toEqual(['anna-maria', 'anna']);
    expect(mentionedIds('where are MY KEYS?', CONCEPTS)).toEqual(['keys']);
    const max = extractMentions('Max is hungry', CONCEPTS);
    expect(max.map((x) => x.conceptId)).toEqual(['max', 'max-dog']);
    expect(max[0]!.start).toBe(max[1]!.start);
    // Decomposed "e" + combining diaeresis folds like the precomposed letter.
    expect(mentionedIds('Zoe\u0308 is here', CONCEPTS)).toEqual(['zoe']);
    expect(extractMentions('', CONCEPTS)).toEqual([]);
  });

  it('redacts names (whole words only) for forgetting', () => {
    expect(redactNames("Grandma's cake; GRANDMA said hi to Grandmaster Flash", ['Grandma'])).toBe("someone's cake; someone said hi to Grandmaster Flash");
    expect(redactNames('nothing here', ['Grandma'])).toBe('nothing here');
  });
});

describe('parseTriggerRequest', () => {
  const cases: Array<[string, ReturnType<typeof parseTriggerRequest>]> = [
    ['if Grandma shows up, remind me to call the doctor', { conceptId: 'grandma', name: 'Grandma', message: 'Remember to call the doctor.', once: true }],
    ['tell me when Billy comes into the living room', { conceptId: 'billy', name: 'Billy', message: 'Billy is in the living room.', room: 'living room', once: true }],
    ['every time Anna arrives say hello', { conceptId: 'anna', name: 'Anna', message: 'hello', once: false }],
    ['Whenever Billy is in the kitchen, tell me.', { conceptId: 'billy', name: 'Billy', message: 'Billy is in the kitchen.', room: 'kitchen', once: false }],
    ['Remind me to take my pills when Grandma arrives', { conceptId: 'grandma', name: 'Grandma', message: 'Remember to take your pills.', once: true }],
    ['greet Anna every time she arrives', { conceptId: 'anna', name: 'Anna', message: 'Hello, Anna!', once: false }],
    ['Hey Familiar, when ZOE gets home let me know', { conceptId: 'zoe', name: 'Zoë', message: 'Zoë is here.', once: true }],
    ['Next time Anna Maria comes in, tell her happy birthday', { conceptId: 'anna-maria', name: 'Anna Maria', message: 'happy birthday', once: true }],
    ["as soon as Billy's back, say 'good boy'", { conceptId: 'billy', name: 'Billy', message: 'good boy', once: true }],
    ['When did Grandma arrive?', null],
    ['Billy is a good dog', null],
    ['if Bob shows up remind me to call', null],
    ['Billy gets fed when he is hungry', null],
  ];
  it.each(cases)('%s', (text, expected) => {
    expect(parseTriggerRequest(text, CONCEPTS)).toEqual(expected);
  });

  it('prefers a known room name and rejects oversized or empty input', () => {
    expect(parseTriggerRequest('whenever Billy wanders into the Living Room downstairs, tell me', CONCEPTS, { rooms: ['living room', 'kitchen'] })?.room).toBe('living room');
    expect(parseTriggerRequest('if Billy comes home, tell me', CONCEPTS)?.room).toBeUndefined();
    expect(parseTriggerRequest('x'.repeat(5000), CONCEPTS)).toBeNull();
    expect(parseTriggerRequest('', CONCEPTS)).toBeNull();
  });
});

describe('extractPreferences', () => {
  const cases: Array<[string, { likes: string[]; dislikes: string[] }]> = [
    ['I like the lights dim in the evening, hate clutter on the table', { likes: ['the lights dim in the evening'], dislikes: ['clutter on the table'] }],
    ['I love warm, cosy rooms; hate clutter', { likes: ['warm, cosy rooms'], dislikes: ['clutter'] }],
    ["I don't like loud music and I hate waiting.", { likes: [], dislikes: ['loud music', 'waiting'] }],
    ['I love jazz, blues and soul!', { likes: ['jazz', 'blues', 'soul'], dislikes: [] }],
    ['I prefer tea over coffee', { likes: ['tea'], dislikes: ['coffee'] }],
    ["I don't mind noise. No onions please", { likes: [], dislikes: ['onions'] }],
    ['Please no more reality TV', { likes: [], dislikes: ['reality TV'] }],
    ["I'm a big fan of Italian food but not pizza", { likes: ['Italian food'], dislikes: ['pizza'] }],
    ['Grandma loves tulips and hates the cold', { likes: ['tulips'], dislikes: ['the cold'] }],
    ['I really enjoy coffee in the morning and tea at night', { likes: ['coffee in the morning', 'tea at night'], dislikes: [] }],
    ["I can't stand it when the TV is on all day", { likes: [], dislikes: ['the TV is on all day'] }],
    ['I like dogs because they are loyal', { likes: ['dogs'], dislikes: [] }],
    ['It looks like rain, people like us', { likes: [], dislikes: [] }],
    ['I love it', { likes: [], dislikes: [] }],
    ['I like tea. Actually I hate tea', { likes: [], dislikes: ['tea'] }],
  ];
  it.each(cases)('%s', (comment, expected) => {
    expect(extractPreferences(comment)).toEqual(expected);
  });

  it('never throws on odd input', () => {
    expect(extractPreferences(undefined as unknown as string)).toEqual({ likes: [], dislikes: [] });
    expect(extractPreferences('like like like, hate, no no no').likes.length).toBeLessThanOrEqual(20);
    expect(extractPreferences(`I like ${'tea, '.repeat(3000)}cake`).likes.length).toBeLessThanOrEqual(20);
  });
});
