/**
 * Pets and objects asked about by species or category ("where is the cat?") over a real dialogue server on the
 * static backend (Billy, "our cavalier king charles spaniel", and Mochi, "the grey tabby cat", in the living
 * room; Piggy, "the red piggy bank", never seen): answered as if asked by name, about each when several match,
 * and honestly from the message catalogue when none does; counted ("how many dogs"), asked about by kind ("where
 * are the pets?"), and a statement or reminder about "the dog" with two dogs answered with a question, storing
 * nothing until the name comes in reply in the same conversation ("Rex"). Without an LVLM, then with one for what
 * needs eyes (the question and its reply stay with the built-in rules).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AskResult } from '@familiar/contracts';
import { CONTROL_TOKEN, VIEWER_TOKEN, startHarness, type Harness } from './support/dialogue-harness.ts';
import { FakeLvlmServer } from './support/fake-lvlm.ts';
import { dataBase64 } from './support/static-backend.ts';
import { TestClients, ok, type TestClient } from './support/ws-client.ts';

const clients = new TestClients();
afterEach(() => {
  clients.closeAll();
});

const ask = async (c: TestClient, question: string) => ok(await c.request<AskResult>({ type: 'ask', question }));
const askIn = async (c: TestClient, question: string, conversationId: string) => ok(await c.request<AskResult>({ type: 'ask', question, conversation_id: conversationId }));

describe('species questions without an LVLM', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ chatModel: null });
  });
  afterAll(async () => {
    await h.close();
  });

  it('answers about the one pet or object of that species or category as if asked by name', async () => {
    const c = await clients.connect(h.url, VIEWER_TOKEN);
    expect(await ask(c, 'Where is the cat?')).toMatchObject({ intent: 'where', source: 'grounded', answer: 'Mochi is in the living room (camera living) right now.' });
    expect(await ask(c, "Where's the dog?")).toMatchObject({ intent: 'where', answer: 'Billy is in the living room (camera living) right now.' });
    expect(await ask(c, 'Is the dog here?')).toMatchObject({ intent: 'presence', answer: 'Yes, Billy is in the living room right now (camera living).' });
    expect(await ask(c, 'Have you seen the cat?')).toMatchObject({ intent: 'last_seen', answer: 'Yes. Mochi is in the living room (camera living) right now.' });
    expect(await ask(c, 'Is the spaniel in the hallway?')).toMatchObject({ intent: 'presence', answer: 'No, Billy is not in the hallway right now: I see Billy in the living room (camera living).' });
    const money = await ask(c, 'Where is the money box?');
    expect(money).toMatchObject({ intent: 'where', answer: "I don't see Piggy on any camera right now, and I have not seen Piggy yet." });
    expect(money.not_in_view.map((x) => x.name)).toEqual(['Piggy']);
    expect((await ask(c, 'Tell me about the cat')).answer).toMatch(/^Mochi is a pet: the grey tabby cat; likes the kitchen counter\. /);
    // "the cat food" is not the cat; "the little dog" is the dog.
    const food = await ask(c, 'Where is the cat food?');
    expect(food.intent).toBe('unknown');
    expect(food.answer).not.toContain('Mochi');
    expect(await ask(c, 'Where is the little dog?')).toMatchObject({ intent: 'where', answer: 'Billy is in the living room (camera living) right now.' });
  });

  it('counts by species in the household and in view, and answers about every pet for "the pets"', async () => {
    const c = await clients.connect(h.url, VIEWER_TOKEN);
    expect(await ask(c, 'How many dogs do we have?')).toMatchObject({ intent: 'count', source: 'grounded', answer: 'I know 1 dog: Billy.' });
    expect(await ask(c, 'How many cats can you see?')).toMatchObject({ intent: 'count', answer: 'Right now I see 1 cat: Mochi (living room).' });
    expect(await ask(c, 'How many dogs and cats are there?')).toMatchObject({ intent: 'count', answer: 'I know 2 in all, 1 dog and 1 cat: Billy and Mochi.' });
    expect(await ask(c, 'How many hamsters do we have?')).toMatchObject({ intent: 'count', answer: "I don't know any hamsters yet." });
    expect(await ask(c, 'How many keys can you see?')).toMatchObject({ intent: 'count', answer: "Right now I don't see any keys I know." });
    // By kind, as before.
    expect(await ask(c, 'How many pets do we have?')).toMatchObject({ intent: 'count', answer: 'I know 2 pets: Billy and Mochi.' });
    expect(await ask(c, 'Where are the pets?')).toMatchObject({
      intent: 'where',
      answer: 'I know 2 pets: Billy and Mochi. Billy is in the living room (camera living) right now. Mochi is in the living room (camera living) right now.',
    });
    expect(await ask(c, 'Are the animals home?')).toMatchObject({
      intent: 'presence',
      answer: 'I know 2 animals: Billy and Mochi. Yes, Billy is in the living room right now (camera living). Yes, Mochi is in the living room right now (camera living).',
    });
  });

  it('says so when no enrolled pet is of that species, and answers about each when several are', async () => {
    const control = await clients.connect(h.url, CONTROL_TOKEN);
    const c = await clients.connect(h.url, VIEWER_TOKEN);
    const none = await ask(c, 'Where is the hamster?');
    expect(none).toMatchObject({ intent: 'where', source: 'grounded', answer: "I don't know a hamster in this household.", not_in_view: [] });
    expect(await ask(c, 'Is the poodle here?')).toMatchObject({ intent: 'presence', answer: "I don't know a poodle in this household." });

    const photo = await dataBase64('myvlm/billy_dog/billy_dog_2.jpg');
    ok(await control.request({ type: 'concepts/enrol', name: 'Rex', kind: 'pet', context: 'a golden retriever dog', photos: [photo] }));
    const dogs = await ask(c, 'Where are the dogs?');
    expect(dogs).toMatchObject({
      intent: 'where',
      answer: "I know 2 dogs: Billy and Rex. Billy is in the living room (camera living) right now. I don't see Rex on any camera right now, and I have not seen Rex yet.",
    });
    expect(dogs.not_in_view.map((x) => x.name)).toEqual(['Rex']);
    // The breed still tells them apart.
    expect(await ask(c, 'Where is the golden retriever?')).toMatchObject({ answer: "I don't see Rex on any camera right now, and I have not seen Rex yet." });

    // A pet whose description names no species might be one: the answer says it cannot tell.
    ok(await control.request({ type: 'concepts/enrol', name: 'Nibbles', kind: 'pet', context: '', photos: [photo] }));
    expect(await ask(c, 'Is the rabbit here?')).toMatchObject({
      intent: 'presence',
      answer: "I don't know a rabbit in this household. I don't know what kind of pet Nibbles is: the description doesn't say.",
    });
  });

  it('asks which one is meant when a statement or reminder says "the dog" and two dogs are enrolled, storing nothing', async () => {
    // Rex (a dog) and Nibbles (no species) were enrolled above.
    const c = await clients.connect(h.url, VIEWER_TOKEN);
    const notes = h.backend.notesLog.length;
    const triggers = (await h.backend.triggers()).length;
    const which = 'Which dog do you mean: Billy or Rex?';
    const said = await ask(c, 'The dog threw up on the rug');
    expect(said).toMatchObject({ intent: 'note', source: 'grounded', answer: which });
    expect(said.note_id).toBeUndefined();
    const remind = await ask(c, 'Tell me when the dog comes into the kitchen');
    expect(remind).toMatchObject({ intent: 'remind', answer: which });
    expect(remind.trigger).toBeUndefined();
    expect(h.backend.notesLog.length).toBe(notes);
    expect((await h.backend.triggers()).length).toBe(triggers);
    // Named, it is stored; "the dogs" are both.
    expect(await ask(c, 'Rex threw up on the rug')).toMatchObject({ intent: 'note', answer: "Noted: I'll remember that about Rex." });
    expect(await ask(c, 'The dogs were walked this morning')).toMatchObject({ intent: 'note', answer: "Noted: I'll remember that about Billy and Rex." });
    expect(h.backend.notesLog.length).toBe(notes + 2);
    // Counting the dogs now finds two, and says what it cannot tell about Nibbles.
    expect(await ask(c, 'How many dogs do we have?')).toMatchObject({ answer: "I know 2 dogs: Billy and Rex. I don't know what kind of pet Nibbles is: the description doesn't say." });
    expect(await ask(c, 'How many dogs are here?')).toMatchObject({ answer: 'Right now I see 1 dog: Billy (living room).' });
  });

  it('carries out the statement or reminder with the name given in reply, in that conversation only', async () => {
    // Billy and Rex are the dogs (Rex enrolled above).
    const c = await clients.connect(h.url, VIEWER_TOKEN);
    const billy = h.backend.byName('Billy').id;
    const rex = h.backend.byName('Rex').id;
    const which = 'Which dog do you mean: Billy or Rex?';
    const notes = h.backend.notesLog.length;
    const triggers = (await h.backend.triggers()).length;

    // "Rex." to "Which dog?": the note Rex would have had from "Rex threw up on the rug", nothing about Billy.
    const said = await ask(c, 'The dog threw up on the rug');
    expect(said).toMatchObject({ intent: 'note', answer: which });
    const reply = await askIn(c, 'Rex.', said.conversation_id);
    expect(reply).toMatchObject({ intent: 'note', source: 'grounded', answer: "Noted: I'll remember that about Rex.", conversation_id: said.conversation_id });
    expect(h.backend.notesLog.length).toBe(notes + 1);
    expect(h.backend.notesLog.at(-1)).toMatchObject({ id: reply.note_id, text: 'Rex threw up on the rug', conceptIds: [rex] });
    // Answered once: "Rex" again is no statement.
    expect(await askIn(c, 'Rex', said.conversation_id)).toMatchObject({ intent: 'unknown' });
    expect(h.backend.notesLog.length).toBe(notes + 1);

    // "I mean Billy" to the reminder: Billy's reminder, as "tell me when Billy comes into the kitchen" sets it.
    const remind = await ask(c, 'Tell me when the dog comes into the kitchen');
    expect(remind).toMatchObject({ intent: 'remind', answer: which });
    const set = await askIn(c, 'I mean Billy', remind.conversation_id);
    expect(set).toMatchObject({ intent: 'remind', trigger: { concept_id: billy, room: 'kitchen' } });
    expect(set.answer).toMatch(/^OK, the next time Billy is in the kitchen/);
    const all = await h.backend.triggers();
    expect(all.length).toBe(triggers + 1);
    expect(all.filter((t) => t.conceptId === rex)).toEqual([]);

    // Not in that conversation: no conversation_id, another conversation, another client holding the id.
    const again = await ask(c, 'The dog threw up on the rug');
    expect(await ask(c, 'Rex')).toMatchObject({ intent: 'unknown' });
    const other = await ask(c, 'Where is Mochi?');
    expect(await askIn(c, 'Rex', other.conversation_id)).toMatchObject({ intent: 'unknown', conversation_id: other.conversation_id });
    const stranger = await clients.connect(h.url, CONTROL_TOKEN);
    const theirs = await askIn(stranger, 'Rex', again.conversation_id);
    expect(theirs.intent).toBe('unknown');
    expect(theirs.conversation_id).not.toBe(again.conversation_id);
    expect(h.backend.notesLog.length).toBe(notes + 1);

    // A name that was not offered picks neither dog (and is no note), and the question is dropped.
    const third = await ask(c, 'The dog threw up on the rug');
    expect(await askIn(c, 'Mochi', third.conversation_id)).toMatchObject({ intent: 'unknown' });
    expect(await askIn(c, 'Rex', third.conversation_id)).toMatchObject({ intent: 'unknown' });
    // So does a new question in between.
    const fourth = await ask(c, 'The dog threw up on the rug');
    expect(await askIn(c, 'Where is Mochi?', fourth.conversation_id)).toMatchObject({ intent: 'where' });
    expect(await askIn(c, 'Rex', fourth.conversation_id)).toMatchObject({ intent: 'unknown' });
    expect(h.backend.notesLog.length).toBe(notes + 1);
    expect((await h.backend.triggers()).length).toBe(triggers + 1);
  });

  it('holds the question with its conversation: gone with it (the cap on conversations), and with a dog forgotten', async () => {
    const x = await startHarness({ chatModel: null, server: { maxConversations: 1 } });
    try {
      const control = await clients.connect(x.url, CONTROL_TOKEN);
      ok(await control.request({ type: 'concepts/enrol', name: 'Rex', kind: 'pet', context: 'a golden retriever dog', photos: [await dataBase64('myvlm/billy_dog/billy_dog_2.jpg')] }));
      const c = await clients.connect(x.url, VIEWER_TOKEN);
      const first = await ask(c, 'The dog threw up on the rug');
      expect(await askIn(c, 'rex please', first.conversation_id)).toMatchObject({ intent: 'note', answer: "Noted: I'll remember that about Rex." });
      const said = await ask(c, 'The dog threw up on the rug');
      expect(said.answer).toBe('Which dog do you mean: Billy or Rex?');
      // A second conversation pushes the first out (server.maxConversations 1): its question goes with it.
      await ask(c, 'Where is Mochi?');
      const late = await askIn(c, 'Rex', said.conversation_id);
      expect(late).toMatchObject({ intent: 'unknown' });
      expect(late.conversation_id).not.toBe(said.conversation_id);
      // Forgetting one of the dogs offered drops the question too ("the dog" is no longer in doubt).
      const again = await ask(c, 'The dog threw up on the rug');
      ok(await control.request({ type: 'concepts/forget', concept_id: x.backend.byName('Billy').id }));
      expect(await askIn(c, 'Rex', again.conversation_id)).toMatchObject({ intent: 'unknown', conversation_id: again.conversation_id });
      expect(x.backend.notesLog.map((n) => n.text)).toEqual(['Rex threw up on the rug']);
    } finally {
      await x.close();
    }
  });

  it('sets a reminder about the one pet a species word means', async () => {
    const c = await clients.connect(h.url, VIEWER_TOKEN);
    const r = await ask(c, 'Tell me when the cat comes into the hallway');
    expect(r).toMatchObject({ intent: 'remind', trigger: { concept_id: h.backend.byName('Mochi').id, room: 'hallway' } });
    expect(r.answer).toMatch(/^OK, the next time Mochi is in the hallway/);
  });
});

describe('species questions with an LVLM', () => {
  let fake: FakeLvlmServer;
  let h: Harness;
  beforeAll(async () => {
    fake = await FakeLvlmServer.start();
    fake.setDefault({ kind: 'stream' });
    h = await startHarness({ lvlm: { baseUrl: fake.baseUrl, model: 'fake-vl', connectTimeoutMs: 800, firstTokenTimeoutMs: 1500, totalTimeoutMs: 8000, retries: 0 } });
  });
  afterAll(async () => {
    await h.close();
    await fake.close();
  });

  it('shows the model the pet the species means, and never asks it about a species the household does not have', async () => {
    const c = await clients.connect(h.url, VIEWER_TOKEN);
    const doing = await ask(c, 'What is the dog doing?');
    expect(doing).toMatchObject({ intent: 'view', source: 'lvlm', camera_id: 'living' });
    expect(doing.grounded_on.map((g) => g.name)).toContain('Billy');
    const before = fake.requests.length;
    expect(await ask(c, 'What is the hamster doing?')).toMatchObject({ intent: 'view', source: 'grounded', answer: "I don't know a hamster in this household." });
    expect(fake.requests.length).toBe(before);
  });

  it('asks which dog and takes the name in reply from the built-in rules, without the model', async () => {
    const control = await clients.connect(h.url, CONTROL_TOKEN);
    ok(await control.request({ type: 'concepts/enrol', name: 'Rex', kind: 'pet', context: 'a golden retriever dog', photos: [await dataBase64('myvlm/billy_dog/billy_dog_2.jpg')] }));
    const c = await clients.connect(h.url, VIEWER_TOKEN);
    const before = fake.requests.length;
    const said = await ask(c, 'The dog threw up on the rug');
    expect(said).toMatchObject({ intent: 'note', source: 'grounded', answer: 'Which dog do you mean: Billy or Rex?' });
    const reply = await askIn(c, "It's Rex, thanks", said.conversation_id);
    expect(reply).toMatchObject({ intent: 'note', source: 'grounded', answer: "Noted: I'll remember that about Rex." });
    expect(h.backend.notesLog.at(-1)).toMatchObject({ id: reply.note_id, text: 'Rex threw up on the rug', conceptIds: [h.backend.byName('Rex').id] });
    const remind = await ask(c, 'Tell me when the dog comes into the kitchen');
    expect(remind.answer).toBe('Which dog do you mean: Billy or Rex?');
    expect(await askIn(c, 'billy', remind.conversation_id)).toMatchObject({ intent: 'remind', trigger: { concept_id: h.backend.byName('Billy').id, room: 'kitchen' } });
    expect(fake.requests.length).toBe(before);
  });
});
