import { describe, expect, it } from 'vitest';
import { chosenCandidate, withChosenName } from './clarify.ts';
import { understand } from './intents.ts';
import type { NamedConcept } from './mentions.ts';

// Two dogs (Billy's context says spaniel, Rex's golden retriever dog), a cat and a person.
const HOUSE: NamedConcept[] = [
  { id: 'anna', name: 'Anna', kind: 'person', context: 'my daughter, 12' },
  { id: 'billy', name: 'Billy', kind: 'pet', context: 'our cavalier king charles spaniel' },
  { id: 'rex', name: 'Rex', kind: 'pet', context: 'a golden retriever dog' },
  { id: 'mochi', name: 'Mochi', kind: 'pet', context: 'the tabby cat' },
];
const DOGS = HOUSE.filter((c) => c.id === 'billy' || c.id === 'rex');
const rooms = ['living room', 'kitchen', 'hallway'];

describe('the reply to "Which dog do you mean: Billy or Rex?"', () => {
  it('is one offered name, whatever its case and punctuation, with a few words of courtesy around it', () => {
    for (const reply of ['Rex', 'rex', 'REX', 'Rex.', 'Rex!', ' rex ', 'Rex?', 'Rex please', 'Rex, please.', 'please, Rex', 'I mean Rex', 'I meant Rex.', 'i mean, rex', "It's Rex", 'it’s rex', 'It is Rex', "That's Rex", 'Rex, thanks', 'Rex thank you!', 'I mean Rex please']) {
      expect(chosenCandidate(reply, DOGS), reply).toBe('rex');
    }
    expect(chosenCandidate('Billy', DOGS)).toBe('billy');
  });

  it('is nothing when it says anything else: another name, both names, a sentence, a possessive', () => {
    for (const reply of ['Mochi', 'Anna', 'Billy and Rex', 'Billy or Rex', 'Rex threw up', "Rex's", 'not Rex', 'the dog', 'the big one', 'Rexy', 'Where is Rex?', 'I mean Rex and Billy', '', '...', 'Rex '.repeat(60)]) {
      expect(chosenCandidate(reply, DOGS), reply).toBeUndefined();
    }
    // A name that was never offered picks nothing, even when it is enrolled.
    expect(chosenCandidate('Mochi', DOGS)).toBeUndefined();
    expect(chosenCandidate('Rex', [])).toBeUndefined();
    // A name two candidates share chooses neither.
    expect(chosenCandidate('Max', [{ id: 'a', name: 'Max', kind: 'pet' }, { id: 'b', name: 'max', kind: 'pet' }])).toBeUndefined();
  });

  it('carries out the sentence as if it had been said with the name', () => {
    expect(withChosenName('The dog threw up on the rug', HOUSE, 'rex')).toBe('Rex threw up on the rug');
    expect(withChosenName('Tell me when the dog comes into the kitchen', HOUSE, 'billy')).toBe('Tell me when Billy comes into the kitchen');
    expect(withChosenName("our little dog's bowl is empty", HOUSE, 'rex')).toBe("Rex's bowl is empty");
    // The result reads as the same statement or reminder, now about the one concept.
    expect(understand('Rex threw up on the rug', { concepts: HOUSE, rooms })).toMatchObject({ intent: 'note', conceptIds: ['rex'] });
    expect(understand('Tell me when Billy comes into the kitchen', { concepts: HOUSE, rooms })).toMatchObject({ intent: 'remind', conceptIds: ['billy'] });
    // Only a candidate of the ambiguous phrase, and only while it is still ambiguous.
    expect(withChosenName('The dog threw up on the rug', HOUSE, 'mochi')).toBeUndefined();
    expect(withChosenName('The dog threw up on the rug', HOUSE.filter((c) => c.id !== 'billy'), 'rex')).toBeUndefined();
    expect(withChosenName('The dogs were walked', HOUSE, 'rex')).toBeUndefined();
    expect(withChosenName('The dog threw up', HOUSE, 'nobody')).toBeUndefined();
  });

  it('is no note by itself: names alone say nothing about them', () => {
    expect(understand('Rex', { concepts: HOUSE, rooms })).toMatchObject({ intent: 'unknown', conceptIds: ['rex'] });
    expect(understand('Billy and Rex.', { concepts: HOUSE, rooms })).toMatchObject({ intent: 'unknown' });
    expect(understand('Rex chewed my slipper', { concepts: HOUSE, rooms })).toMatchObject({ intent: 'note', conceptIds: ['rex'] });
  });
});
