import { describe, expect, it } from 'vitest';
import { categoryReferences, countedCategories } from './categories.ts';
import { understand } from './intents.ts';
import type { NamedConcept } from './mentions.ts';
import { parseTriggerRequest } from './trigger-parse.ts';

// The question set's household: Billy's context never says "dog", Mochi's says "cat", Piggy is a piggy bank.
const HOUSE: NamedConcept[] = [
  { id: 'sam', name: 'Sam', kind: 'person', context: 'the dad' },
  { id: 'anna', name: 'Anna', kind: 'person', context: 'my daughter, 12' },
  { id: 'billy', name: 'Billy', kind: 'pet', context: 'our cavalier king charles spaniel, not allowed on the sofa' },
  { id: 'mochi', name: 'Mochi', kind: 'pet', context: 'the tabby cat' },
  { id: 'piggy', name: 'Piggy', kind: 'object', context: 'the red piggy bank with the holiday money' },
];
const rooms = ['living room', 'kitchen', 'hallway', 'garden'];
const read = (q: string, concepts: readonly NamedConcept[] = HOUSE) => understand(q, { concepts, rooms });
/** [word, concept ids, unclassified ids] of each reference. */
const refs = (q: string, concepts: readonly NamedConcept[] = HOUSE) => categoryReferences(q, concepts).map((r) => [r.word, r.conceptIds, r.unclassified]);

describe('species and category references', () => {
  it('reads "the cat", "the dog" and their synonyms as the one enrolled pet of that species, like its name', () => {
    expect(read('Where is the cat?')).toMatchObject({ intent: 'where', conceptIds: ['mochi'] });
    expect(read("where's the dog?")).toMatchObject({ intent: 'where', conceptIds: ['billy'] });
    expect(read('Is the dog here?')).toMatchObject({ intent: 'presence', conceptIds: ['billy'] });
    expect(read('Have you seen the cat?')).toMatchObject({ intent: 'last_seen', conceptIds: ['mochi'], yesNo: true });
    expect(read('Where are the dogs?')).toMatchObject({ intent: 'where', conceptIds: ['billy'] });
    expect(categoryReferences('Where are the dogs?', HOUSE)[0]).toMatchObject({ word: 'dog', plural: 'dogs', a: 'a dog', many: true, kind: 'pet' });
    expect(read('Is the puppy in the kitchen?')).toMatchObject({ intent: 'presence', conceptIds: ['billy'], room: 'kitchen' });
    expect(read('When did you last see the kitten?')).toMatchObject({ intent: 'last_seen', conceptIds: ['mochi'] });
    expect(read('Where is our kitty?')).toMatchObject({ intent: 'where', conceptIds: ['mochi'] });
    expect(read('Tell me about the cat')).toMatchObject({ intent: 'roster', conceptIds: ['mochi'] });
    expect(read('What is the dog doing?')).toMatchObject({ intent: 'view', conceptIds: ['billy'] });
    expect(read('What did I say about the dog?')).toMatchObject({ intent: 'notes', conceptIds: ['billy'] });
    expect(read('And the cat?')).toMatchObject({ intent: 'where', elliptic: true, conceptIds: ['mochi'] });
    // Objects by category: "money box" is a piggy bank.
    expect(read('Where is the money box?')).toMatchObject({ intent: 'where', conceptIds: ['piggy'] });
    // A name and its species together are one concept.
    expect(read('Any idea where the cat is? Mochi, I mean.')).toMatchObject({ intent: 'where', conceptIds: ['mochi'] });
  });

  it('knows breeds and types from the description: "the spaniel" is Billy, "the poodle" nobody', () => {
    expect(refs('Is the spaniel here?')).toEqual([['spaniel', ['billy'], []]]);
    expect(refs('Is the poodle here?')).toEqual([['poodle', [], []]]);
    expect(refs('Where is the tabby cat?')).toEqual([['tabby', ['mochi'], []]]);
    const goldie: NamedConcept = { id: 'goldie', name: 'Goldie', kind: 'pet', context: 'our golden retriever' };
    expect(refs('where is the retriever?', [goldie])).toEqual([['retriever', ['goldie'], []]]);
    expect(refs('where is the golden retriever?', [goldie])).toEqual([['golden retriever', ['goldie'], []]]);
    expect(refs('where is the dog?', [goldie])).toEqual([['dog', ['goldie'], []]]);
  });

  it('lists every match when several are enrolled, and says when none is (with the pets whose description names no species)', () => {
    const house = [...HOUSE, { id: 'rex', name: 'Rex', kind: 'pet' as const, context: 'a golden retriever dog' }, { id: 'nibbles', name: 'Nibbles', kind: 'pet' as const, context: '' }];
    expect(read('Where is the dog?', house)).toMatchObject({ intent: 'where', conceptIds: ['billy', 'rex'] });
    expect(refs('where is the hamster?', house)).toEqual([['hamster', [], ['nibbles']]]);
    expect(read('where is the hamster?', house)).toMatchObject({ intent: 'where', conceptIds: [], categories: [expect.objectContaining({ a: 'a hamster', conceptIds: [] })] });
    // A statement is about "the dog" only when that means one dog (else it asks which); "the dogs" are all of them.
    expect(read('The dog threw up on the rug', house)).toMatchObject({ intent: 'note', conceptIds: [], ambiguous: expect.objectContaining({ word: 'dog', conceptIds: ['billy', 'rex'] }) });
    expect(read('Put the keys on the table', house)).toMatchObject({ intent: 'unknown', conceptIds: [] });
    expect(read('The dogs were walked this morning', house)).toMatchObject({ intent: 'note', conceptIds: ['billy', 'rex'] });
    expect(read('The dog threw up on the rug')).toMatchObject({ intent: 'note', conceptIds: ['billy'] });
    expect(read('Mochi hissed at the dog.')).toMatchObject({ intent: 'note', conceptIds: ['mochi', 'billy'] });
  });

  it('decides what a concept is from its context first, then its name, among the categories of its kind', () => {
    const concepts: NamedConcept[] = [
      // Named like a dog, described as a cat: a cat.
      { id: 'doggo', name: 'Doggo', kind: 'pet', context: 'a fluffy tabby cat' },
      // The first species word wins: a beagle that is scared of the cat is a dog.
      { id: 'snoopy', name: 'Snoopy', kind: 'pet', context: 'our beagle, scared of the cat next door' },
      // An object is never a pet: the dog's chew toy is a toy.
      { id: 'chew', name: 'Chewy', kind: 'object', context: "the dog's rubber chew toy" },
      // No context: the name says it.
      { id: 'keys', name: 'my keys', kind: 'object', context: '' },
      // People have no species.
      { id: 'cat-person', name: 'Catherine', kind: 'person', context: 'she has a cat at her flat' },
    ];
    expect(refs('where is the cat?', concepts)).toEqual([['cat', ['doggo'], []]]);
    expect(refs('where is the dog?', concepts)).toEqual([['dog', ['snoopy'], []]]);
    expect(refs('where is the dog toy?', concepts)).toEqual([['toy', ['chew'], []]]);
    expect(refs('where are the keys?', concepts)).toEqual([['key', ['keys'], []]]);
  });

  it('never breaks names that are also common words: a name mention wins over a category word', () => {
    const concepts: NamedConcept[] = [
      { id: 'kitty', name: 'Kitty', kind: 'person', context: 'my sister' },
      { id: 'tiger', name: 'Tiger', kind: 'pet', context: 'a ginger cat' },
      { id: 'bear', name: 'Bear', kind: 'pet', context: 'our old labrador' },
    ];
    // "the kitty" is Kitty the person, not Tiger the cat.
    expect(read('Where is the kitty?', concepts)).toMatchObject({ conceptIds: ['kitty'] });
    expect(categoryReferences('Where is the kitty?', concepts)).toEqual([]);
    expect(read('Where is Kitty?', concepts)).toMatchObject({ intent: 'where', conceptIds: ['kitty'] });
    expect(read('Where is the cat?', concepts)).toMatchObject({ conceptIds: ['tiger'] });
    expect(read('Is Bear home?', concepts)).toMatchObject({ intent: 'presence', conceptIds: ['bear'] });
    expect(read('Where is the teddy bear?', concepts)).toMatchObject({ conceptIds: ['bear'] });
    expect(read("Where's the piggy bank? I mean Piggy.")).toMatchObject({ intent: 'where', conceptIds: ['piggy'] });
    expect(categoryReferences("Where's the piggy bank? I mean Piggy.", HOUSE)).toEqual([]);
  });

  it('needs a determiner and the end of the phrase: "the cat food", "a dog" and "how many dogs" refer to nobody', () => {
    for (const q of ['Where is the cat food?', 'Where is the dog bed?', 'Where is the dog walker?', 'Is there a dog in the kitchen?', 'How many dogs and cats are there?', 'Who likes dogs?']) {
      expect(categoryReferences(q, HOUSE), q).toEqual([]);
    }
    expect(read('Where is the cat food?')).toMatchObject({ intent: 'unknown', conceptIds: [] });
    expect(read('How many dogs and cats are there?')).toMatchObject({ intent: 'count', conceptIds: [] });
    // A possessive, punctuation or a verb ends the phrase.
    expect(refs("Is the dog's bowl empty?")).toEqual([['dog', ['billy'], []]]);
    expect(refs('Is the cat sleeping?')).toEqual([['cat', ['mochi'], []]]);
    expect(read('Is the cat asleep?')).toMatchObject({ intent: 'presence', conceptIds: ['mochi'] });
    expect(read('The dog chewed the cable')).toMatchObject({ intent: 'note', conceptIds: ['billy'] });
    expect(refs('The cat, where is she?')).toEqual([['cat', ['mochi'], []]]);
  });

  it('sets reminders about the one pet a species word means', () => {
    expect(parseTriggerRequest('tell me when the dog comes into the kitchen', HOUSE, { rooms })).toEqual({ conceptId: 'billy', name: 'Billy', message: 'Billy is in the kitchen.', room: 'kitchen', once: true });
    expect(read('Remind me to feed the cat when she comes in')).toMatchObject({ intent: 'remind' });
    const twoDogs = [...HOUSE, { id: 'rex', name: 'Rex', kind: 'pet' as const, context: 'a dog' }];
    expect(parseTriggerRequest('tell me when the dog comes into the kitchen', twoDogs, { rooms })).toBeNull();
  });

  it('counts by species or category after "how many", and by kind for "how many pets"', () => {
    const house = [...HOUSE, { id: 'rex', name: 'Rex', kind: 'pet' as const, context: 'a golden retriever dog' }, { id: 'nibbles', name: 'Nibbles', kind: 'pet' as const, context: '' }];
    const counted = (q: string) => read(q, house).categories?.map((r) => [r.plural, r.conceptIds]);
    expect(read('How many dogs do we have?', house)).toMatchObject({ intent: 'count', kind: 'pet', now: false });
    expect(counted('How many dogs do we have?')).toEqual([['dogs', ['billy', 'rex']]]);
    expect(counted('how many cats are there?')).toEqual([['cats', ['mochi']]]);
    expect(read('how many dogs are here?', house)).toMatchObject({ intent: 'count', now: true });
    expect(read('How many dogs can you see?', house)).toMatchObject({ intent: 'count', now: true });
    expect(counted('How many dogs can you see?')).toEqual([['dogs', ['billy', 'rex']]]);
    expect(counted('how many dogs live here?')).toEqual([['dogs', ['billy', 'rex']]]);
    expect(counted('how many golden retrievers do we have?')).toEqual([['golden retrievers', ['rex']]]);
    expect(counted('How many dogs and cats are there')).toEqual([['dogs', ['billy', 'rex']], ['cats', ['mochi']]]);
    expect(counted('How many dogs, cats or hamsters are there')).toEqual([['dogs', ['billy', 'rex']], ['cats', ['mochi']], ['hamsters', []]]);
    expect(countedCategories('how many hamsters do we have?', house)[0]).toMatchObject({ conceptIds: [], unclassified: ['nibbles'] });
    // A kind is counted by kind, as before; words after "how many" that are no category phrase count nothing by species.
    expect(read('How many pets do we have?', house)).toMatchObject({ intent: 'count', kind: 'pet', now: false });
    expect(read('How many pets do we have?', house).categories).toBeUndefined();
    expect(countedCategories('How many animals are there?', house)).toEqual([]);
    expect(countedCategories('How many dog beds do we have?', house)).toEqual([]);
    // Only what follows "how many" is counted: the toys, not the dog.
    expect(counted('How many toys does the dog have?')).toEqual([['toys', []]]);
  });

  it('reads a kind word with a determiner as every enrolled concept of that kind', () => {
    expect(read('Where are the pets?')).toMatchObject({ intent: 'where', conceptIds: ['billy', 'mochi'] });
    expect(read('where are all the animals?')).toMatchObject({ intent: 'where', conceptIds: ['billy', 'mochi'] });
    expect(read('Are our pets home?')).toMatchObject({ intent: 'presence', conceptIds: ['billy', 'mochi'] });
    expect(categoryReferences('Where are the pets?', HOUSE)[0]).toMatchObject({ word: 'pet', plural: 'pets', many: true, kind: 'pet', unclassified: [] });
    // A pet whose description names no species is still a pet.
    const house = [...HOUSE, { id: 'nibbles', name: 'Nibbles', kind: 'pet' as const, context: '' }];
    expect(read('Where are the pets?', house)).toMatchObject({ conceptIds: ['billy', 'mochi', 'nibbles'] });
    // Nobody is classified into a kind by their description: "a pet rabbit" is a rabbit.
    expect(refs('where is the rabbit?', [{ id: 'bun', name: 'Bun', kind: 'pet', context: 'our pet rabbit' }])).toEqual([['rabbit', ['bun'], []]]);
    expect(read('The pets were fed at six')).toMatchObject({ intent: 'note', conceptIds: ['billy', 'mochi'] });
    expect(read('Where is the pet food?')).toMatchObject({ intent: 'unknown', conceptIds: [] });
    // Unchanged: everyone in view now, and the roster.
    expect(read('Where is everyone?')).toMatchObject({ intent: 'count', now: true, conceptIds: [] });
    expect(read('Who is home?')).toMatchObject({ intent: 'count', now: true });
    expect(read('What pets do we have?')).toMatchObject({ intent: 'roster', kind: 'pet', conceptIds: [] });
  });

  it('asks which one a statement or reminder means when a singular species word means several', () => {
    const house = [...HOUSE, { id: 'rex', name: 'Rex', kind: 'pet' as const, context: 'a golden retriever dog' }];
    expect(read('the dog ate my sock', house)).toMatchObject({ intent: 'note', ambiguous: expect.objectContaining({ word: 'dog', conceptIds: ['billy', 'rex'] }) });
    expect(read('Anna walked the dog', house)).toMatchObject({ intent: 'note', ambiguous: expect.objectContaining({ conceptIds: ['billy', 'rex'] }) });
    expect(read('Tell me when the dog comes in', house)).toMatchObject({ intent: 'remind', ambiguous: expect.objectContaining({ word: 'dog', conceptIds: ['billy', 'rex'] }) });
    // The trigger is on Anna: the dog is only in the message, so the reminder stands.
    expect(read('Remind me to walk the dog when Anna comes home', house)).toMatchObject({ intent: 'remind' });
    expect(read('Remind me to walk the dog when Anna comes home', house).ambiguous).toBeUndefined();
    // Questions list every match instead, and one dog is no ambiguity.
    expect(read('Where is the dog?', house).ambiguous).toBeUndefined();
    expect(read('The dog ate my sock')).toMatchObject({ intent: 'note', conceptIds: ['billy'] });
    expect(read('The dog ate my sock').ambiguous).toBeUndefined();
  });

  it('lets one unknown adjective stand before the species word, never a category word or a compound', () => {
    expect(read('Where is the little dog?')).toMatchObject({ intent: 'where', conceptIds: ['billy'] });
    expect(read("Where's the black cat?")).toMatchObject({ intent: 'where', conceptIds: ['mochi'] });
    expect(read('Is the old dog asleep?')).toMatchObject({ intent: 'presence', conceptIds: ['billy'] });
    expect(categoryReferences('Where is the little dog?', HOUSE)[0]).toMatchObject({ start: 13, end: 23, word: 'dog' });
    for (const q of ['Where is the dog bed?', 'Where is the cat food?', 'Is the dog food in the kitchen?', 'Where are the hot dogs?', 'Is the stray cat back?', "Is the neighbour's dog here?", 'Where is the big red ball?', 'I saw her feed the dog bowl']) {
      expect(categoryReferences(q, HOUSE), q).toEqual([]);
    }
    // A word that is both a category word and a verb ends the phrase: "the dog can" is the dog.
    expect(refs('The dog can jump')).toEqual([['dog', ['billy'], []]]);
    // The adjective narrows to the concepts whose description uses it, when any does.
    const cats: NamedConcept[] = [
      { id: 'ink', name: 'Ink', kind: 'pet', context: 'a black cat' },
      { id: 'snow', name: 'Snow', kind: 'pet', context: 'a white cat' },
    ];
    expect(refs('where is the black cat?', cats)).toEqual([['cat', ['ink'], []]]);
    expect(refs('where is the fat cat?', cats)).toEqual([['cat', ['ink', 'snow'], []]]);
    expect(parseTriggerRequest('tell me when the white cat comes into the kitchen', cats, { rooms })).toMatchObject({ conceptId: 'snow', room: 'kitchen' });
  });
});
