/**
 * Memory beyond identity over the WebSocket protocol (real loopback sockets, the static backend over real
 * photos): last seen and sightings, notes and mentions, reminders, corrections and unknown visitors, with
 * their role checks and typed errors. Every server message is checked against the published schema.
 */
import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  ConceptResult,
  CorrectResult,
  LastMentionResult,
  LastSeenResult,
  NoteResult,
  NotesListResult,
  SightingsResult,
  TriggerResult,
  TriggersListResult,
  UnknownsListResult,
} from '@familiar/contracts';
import { CONTROL_TOKEN, VIEWER_TOKEN, startHarness, type Harness } from './support/dialogue-harness.ts';
import { ANNA_PHOTO, ANNA_TOKEN, BILLY_PHOTO, MEMBER_TOKENS, TOM_PHOTO } from './support/members.ts';
import { dataBase64, dataFile } from './support/static-backend.ts';
import { TestClients, errorCode, ok } from './support/ws-client.ts';


let h: Harness;
const clients = new TestClients();
const connect = (token: string) => clients.connect(h.url, token);

beforeEach(async () => {
  h = await startHarness({ server: { tokens: MEMBER_TOKENS } });
});
afterEach(async () => {
  clients.closeAll();
  await h.close();
});

describe('last seen and sightings', () => {
  it('answers where and when, for how long and with whom, from sightings (command and ask, no LVLM)', async () => {
    const viewer = await connect(VIEWER_TOKEN);
    const anna = h.backend.byName('Anna');
    let seen = ok(await viewer.request<LastSeenResult>({ type: 'memory/last_seen', concept_id: anna.id }));
    expect(seen.answer).toBe('I last saw Anna 5 minutes ago in the hallway (camera hall).');
    expect(seen.sighting).toMatchObject({ concept_id: anna.id, name: 'Anna', camera_id: 'hall', room: 'hallway', ongoing: false, with_others: [] });

    // Anna and Billy walk into the hallway: the visit is ongoing, with Billy.
    await h.backend.replay('hall', [ANNA_PHOTO, BILLY_PHOTO], [
      { name: 'Anna', tile: 0, confidence: 0.9 },
      { name: 'Billy', tile: 1, confidence: 0.88 },
    ]);
    seen = ok(await viewer.request<LastSeenResult>({ type: 'memory/last_seen', concept_id: anna.id }));
    expect(seen.answer).toBe('Anna is in the hallway (camera hall) right now, with Billy.');
    expect(seen.sighting).toMatchObject({ ongoing: true, with_others: ['Billy'] });

    // They stayed twenty minutes and left.
    await h.backend.replay('hall', ['dreambooth/can/00.jpg'], []);
    const visit = h.backend.visits.findLast((s) => s.conceptId === anna.id)!;
    visit.firstSeen = visit.lastSeen - 20 * 60_000;
    seen = ok(await viewer.request<LastSeenResult>({ type: 'memory/last_seen', concept_id: anna.id }));
    expect(seen.answer).toBe('I last saw Anna just now in the hallway (camera hall), for about 20 minutes, with Billy.');

    // Inside ask: the honest not-in-view answer carries the same visit.
    const ask = ok(await viewer.request<{ answer: string; not_in_view: unknown[] }>({ type: 'ask', question: 'Where is Anna?', camera_id: 'living' }));
    expect(ask.answer).toBe("I don't see Anna on any camera right now. I last saw Anna just now in the hallway (camera hall), for about 20 minutes, with Billy.");
    expect(ask.not_in_view).toEqual([
      { concept_id: anna.id, name: 'Anna', last_seen: expect.objectContaining({ camera_id: 'hall', first_seen: visit.firstSeen, with_others: ['Billy'] }) },
    ]);

    const piggy = ok(await viewer.request<LastSeenResult>({ type: 'memory/last_seen', concept_id: h.backend.byName('Piggy').id }));
    expect(piggy).toMatchObject({ name: 'Piggy', sighting: null, answer: 'I have not seen Piggy yet.' });
    expect(errorCode(await viewer.request({ type: 'memory/last_seen', concept_id: 'nobody' }))).toBe('CONCEPT_NOT_FOUND');
  });

  it('lists visits newest first, filtered by concept, unknown persons (null), camera, time and limit', async () => {
    const viewer = await connect(VIEWER_TOKEN);
    const t0 = Date.now() - 3600_000;
    const box = { xmin: 1, ymin: 1, xmax: 50, ymax: 90 };
    h.backend.addVisit({ conceptId: null, cameraId: 'hall', room: 'hallway', firstSeen: t0, lastSeen: t0 + 60_000, box, confidence: 0.7 });
    await h.backend.replay('living', [BILLY_PHOTO], [{ name: 'Billy', tile: 0, confidence: 0.9 }]);

    const all = ok(await viewer.request<SightingsResult>({ type: 'memory/sightings' })).sightings;
    expect(all.map((s) => s.name)).toEqual(['Billy', 'Anna', null]);
    const unknown = ok(await viewer.request<SightingsResult>({ type: 'memory/sightings', concept_id: null })).sightings;
    expect(unknown).toEqual([expect.objectContaining({ concept_id: null, name: null, camera_id: 'hall', first_seen: t0, last_seen: t0 + 60_000, box })]);
    expect(ok(await viewer.request<SightingsResult>({ type: 'memory/sightings', camera_id: 'hall' })).sightings.map((s) => s.name)).toEqual(['Anna', null]);
    expect(ok(await viewer.request<SightingsResult>({ type: 'memory/sightings', since: Date.now() - 10 * 60_000 })).sightings.map((s) => s.name)).toEqual(['Billy', 'Anna']);
    expect(ok(await viewer.request<SightingsResult>({ type: 'memory/sightings', limit: 1 })).sightings).toHaveLength(1);

    expect(errorCode(await viewer.request({ type: 'memory/sightings', limit: 0 }))).toBe('MESSAGE_INVALID');
    expect(errorCode(await viewer.request({ type: 'memory/sightings', limit: 201 }))).toBe('MESSAGE_INVALID');
    expect(errorCode(await viewer.request({ type: 'memory/sightings', concept_id: 'nobody' }))).toBe('CONCEPT_NOT_FOUND');
  });
});

describe('notes and mentions', () => {
  it('stores notes with their speaker, finds the concepts in the text, lists them newest first', async () => {
    const viewer = await connect(VIEWER_TOKEN);
    const control = await connect(CONTROL_TOKEN);
    const billy = h.backend.byName('Billy');
    const mochi = h.backend.byName('Mochi');

    const a = ok(await viewer.request<NoteResult>({ type: 'notes/add', text: "Billy's vet appointment is on Friday", camera_id: 'living' })).note;
    expect(a).toMatchObject({ concept_ids: [billy.id], speaker: 'Tom', text: "Billy's vet appointment is on Friday", camera_id: 'living', room: 'living room' });
    const b = ok(await control.request<NoteResult>({ type: 'notes/add', text: 'they both hate the vacuum', concept_ids: [billy.id, mochi.id], speaker: 'Anna' })).note;
    // Anna is enrolled: a member's name is kept as their person concept's id (how sightings find the speaker).
    expect(b).toMatchObject({ concept_ids: [billy.id, mochi.id], speaker: h.backend.byName('Anna').id });
    // The console token is bound to no member: nobody to name as the speaker.
    expect(ok(await control.request<NoteResult>({ type: 'notes/add', text: 'Mochi sheds in spring' })).note.speaker).toBeNull();

    const list = ok(await viewer.request<NotesListResult>({ type: 'notes/list', concept_id: billy.id })).notes;
    expect(list.map((n) => n.text)).toEqual(['they both hate the vacuum', "Billy's vet appointment is on Friday"]);
    expect(ok(await viewer.request<NotesListResult>({ type: 'notes/list', concept_id: billy.id, limit: 1 })).notes).toHaveLength(1);

    expect(errorCode(await viewer.request({ type: 'notes/add', text: 'nothing about anyone we know' }))).toBe('INPUT_INVALID');
    expect(errorCode(await viewer.request({ type: 'notes/add', text: 'hi', concept_ids: ['nobody'] }))).toBe('CONCEPT_NOT_FOUND');
    expect(errorCode(await viewer.request({ type: 'notes/add', text: 'Billy\u0000' }))).toBe('MESSAGE_INVALID');
    expect(errorCode(await viewer.request({ type: 'notes/add', text: '   ' }))).toBe('MESSAGE_INVALID');
    expect(errorCode(await viewer.request({ type: 'notes/list', concept_id: 'nobody' }))).toBe('CONCEPT_NOT_FOUND');
    expect(h.backend.notesLog).toHaveLength(3);
  });

  it('recalls the last mention with where the speaker was and who was in view', async () => {
    const control = await connect(CONTROL_TOKEN);
    const tom = await connect(VIEWER_TOKEN);
    const annaTablet = await connect(ANNA_TOKEN);
    const tomId = ok(await control.request<{ concept: { id: string } }>({ type: 'concepts/enrol', name: 'Tom', kind: 'person', photos: [await dataBase64(TOM_PHOTO)] })).concept.id;
    const anna = h.backend.byName('Anna');
    expect(ok(await tom.request<LastMentionResult>({ type: 'memory/last_mention', concept_id: anna.id }))).toMatchObject({
      mention: null,
      answer: 'I have no record of anyone mentioning Anna.',
    });

    // Tom is in the living room with Billy and says something about Anna.
    await h.backend.replay('living', [TOM_PHOTO, BILLY_PHOTO], [
      { name: 'Tom', tile: 0, confidence: 0.9 },
      { name: 'Billy', tile: 1, confidence: 0.9 },
    ]);
    ok(await tom.request({ type: 'notes/add', text: "Anna's school play is on Thursday", camera_id: 'living' }));

    const mine = ok(await tom.request<LastMentionResult>({ type: 'memory/last_mention', concept_id: anna.id }));
    expect(mine.answer).toBe('You last mentioned Anna just now: "Anna\'s school play is on Thursday". At the time you were in the living room (camera living), with Billy in view.');
    expect(mine.mention).toMatchObject({ note: { speaker: tomId }, speaker_seen: { camera_id: 'living', room: 'living room' }, in_view: ['Billy'] });
    // Asked by someone else, the speaker is named.
    const theirs = ok(await annaTablet.request<LastMentionResult>({ type: 'memory/last_mention', concept_id: anna.id }));
    expect(theirs.answer).toMatch(/^Tom last mentioned Anna just now: .* At the time Tom was in the living room \(camera living\), with Billy in view\.$/);
  });
});

describe('reminders (triggers)', () => {
  it('adds reminders from free text and structured, lists and cancels them; only control or their member may cancel', async () => {
    const control = await connect(CONTROL_TOKEN);
    const tom = await connect(VIEWER_TOKEN);
    const annaTablet = await connect(ANNA_TOKEN);
    const anna = h.backend.byName('Anna');
    const billy = h.backend.byName('Billy');

    const parsed = ok(await tom.request<TriggerResult>({ type: 'triggers/add', text: 'if Anna shows up, remind me to call the doctor' })).trigger;
    expect(parsed).toMatchObject({ concept_id: anna.id, name: 'Anna', message: 'Remember to call the doctor.', once: true, created_by: 'Tom', fired_count: 0 });
    const roomed = ok(await tom.request<TriggerResult>({ type: 'triggers/add', text: 'tell me when Billy comes into the living room' })).trigger;
    expect(roomed).toMatchObject({ concept_id: billy.id, room: 'living room', once: true });
    const structured = ok(
      await control.request<TriggerResult>({ type: 'triggers/add', concept_id: billy.id, message: 'Give Billy his pill', once: false, room: 'hallway', created_by: 'Anna' }),
    ).trigger;
    expect(structured).toMatchObject({ message: 'Give Billy his pill', once: false, room: 'hallway', created_by: 'Anna' });
    // The console has no member: the reminder is for the console itself.
    expect(ok(await control.request<TriggerResult>({ type: 'triggers/add', concept_id: anna.id, message: 'Anna is home' })).trigger.created_by).toBe('console');

    expect(ok(await annaTablet.request<TriggersListResult>({ type: 'triggers/list' })).triggers).toHaveLength(4);

    expect(errorCode(await tom.request({ type: 'triggers/add', text: 'remind me about the weather' }))).toBe('INPUT_INVALID');
    expect(errorCode(await tom.request({ type: 'triggers/add', text: 'if Anna comes, say hi', concept_id: anna.id }))).toBe('MESSAGE_INVALID');
    expect(errorCode(await tom.request({ type: 'triggers/add', concept_id: anna.id }))).toBe('MESSAGE_INVALID');
    expect(errorCode(await tom.request({ type: 'triggers/add', concept_id: 'nobody', message: 'hi' }))).toBe('CONCEPT_NOT_FOUND');

    // Anna's tablet may cancel the reminder that is for Anna, not Tom's.
    expect(errorCode(await annaTablet.request({ type: 'triggers/cancel', trigger_id: parsed.id }))).toBe('FORBIDDEN');
    expect(ok(await annaTablet.request<TriggerResult>({ type: 'triggers/cancel', trigger_id: structured.id })).trigger.id).toBe(structured.id);
    expect(ok(await tom.request<TriggerResult>({ type: 'triggers/cancel', trigger_id: parsed.id })).trigger.id).toBe(parsed.id);
    expect(ok(await control.request<TriggerResult>({ type: 'triggers/cancel', trigger_id: roomed.id })).trigger.id).toBe(roomed.id);
    expect(errorCode(await control.request({ type: 'triggers/cancel', trigger_id: roomed.id }))).toBe('NOT_FOUND');
    expect(errorCode(await tom.request({ type: 'triggers/cancel', trigger_id: 'no-such-trigger' }))).toBe('NOT_FOUND');
    expect(ok(await tom.request<TriggersListResult>({ type: 'triggers/list' })).triggers.map((t) => t.message)).toEqual(['Anna is home']);
  });
});

describe('corrections and unknown visitors', () => {
  it('takes "that is (not) Billy" from an image or a camera frame (control only)', async () => {
    const control = await connect(CONTROL_TOKEN);
    const viewer = await connect(VIEWER_TOKEN);
    const billy = h.backend.byName('Billy');
    const image = await dataBase64('myvlm/billy_dog/billy_dog_11.jpg');

    expect(errorCode(await viewer.request({ type: 'concepts/correct', concept_id: billy.id, verdict: 'not', image }))).toBe('FORBIDDEN');
    const not = ok(await control.request<CorrectResult>({ type: 'concepts/correct', concept_id: billy.id, verdict: 'not', image }));
    expect(not).toMatchObject({ concept: { id: billy.id, name: 'Billy' }, views: billy.viewCount });
    const box = { xmin: 20, ymin: 20, xmax: 460, ymax: 460 };
    const is = ok(await control.request<CorrectResult>({ type: 'concepts/correct', concept_id: billy.id, verdict: 'is', camera_id: 'living', box }));
    expect(is.views).toBe(billy.viewCount + 1);
    expect(h.backend.corrections).toHaveLength(2);
    expect(h.backend.corrections[0]!.image!.byteLength).toBe((await readFile(dataFile('myvlm/billy_dog/billy_dog_11.jpg'))).byteLength);
    expect(h.backend.corrections[1]).toMatchObject({ verdict: 'is', cameraId: 'living', box });

    expect(errorCode(await control.request({ type: 'concepts/correct', concept_id: billy.id, verdict: 'is', image, camera_id: 'living' }))).toBe('MESSAGE_INVALID');
    expect(errorCode(await control.request({ type: 'concepts/correct', concept_id: billy.id, verdict: 'maybe', camera_id: 'living' }))).toBe('MESSAGE_INVALID');
    expect(errorCode(await control.request({ type: 'concepts/correct', concept_id: billy.id, verdict: 'is', image: Buffer.from('not an image at all').toString('base64') }))).toBe('IMAGE_INVALID');
    expect(errorCode(await control.request({ type: 'concepts/correct', concept_id: billy.id, verdict: 'is', camera_id: 'garage' }))).toBe('NOT_FOUND');
    expect(errorCode(await control.request({ type: 'concepts/correct', concept_id: 'nobody', verdict: 'is', camera_id: 'living' }))).toBe('CONCEPT_NOT_FOUND');
    expect(h.backend.corrections).toHaveLength(2);
  });

  it('lists unknown visitors with a summary; control names or dismisses them', async () => {
    const control = await connect(CONTROL_TOKEN);
    const viewer = await connect(VIEWER_TOKEN);
    const list = ok(await viewer.request<UnknownsListResult>({ type: 'unknowns/list' })).unknowns;
    expect(list).toEqual([expect.objectContaining({ id: 'unknown-3', visits: 4, visits_last_7_days: 4, view_count: 6, last_camera_id: 'hall', summary: 'unknown-3, seen 4 times this week' })]);

    expect(errorCode(await viewer.request({ type: 'unknowns/name', unknown_id: 'unknown-3', name: 'Grandpa' }))).toBe('FORBIDDEN');
    expect(errorCode(await viewer.request({ type: 'unknowns/dismiss', unknown_id: 'unknown-3' }))).toBe('FORBIDDEN');
    expect(errorCode(await control.request({ type: 'unknowns/name', unknown_id: 'unknown 3!', name: 'Grandpa' }))).toBe('MESSAGE_INVALID');
    expect(errorCode(await control.request({ type: 'unknowns/name', unknown_id: 'unknown-3', name: 'Anna' }))).toBe('CONCEPT_EXISTS');

    const named = ok(await control.request<ConceptResult>({ type: 'unknowns/name', unknown_id: 'unknown-3', name: 'Grandpa', context: 'Anna\'s grandfather' })).concept;
    expect(named).toMatchObject({ name: 'Grandpa', kind: 'person', context: "Anna's grandfather", view_count: 6 });
    expect(h.backend.listConcepts().some((c) => c.id === named.id)).toBe(true);
    expect(ok(await viewer.request<UnknownsListResult>({ type: 'unknowns/list' })).unknowns).toEqual([]);
    expect(errorCode(await control.request({ type: 'unknowns/dismiss', unknown_id: 'unknown-3' }))).toBe('NOT_FOUND');

    const now = Date.now();
    h.backend.unknownMap.set('unknown-7', { id: 'unknown-7', firstSeen: now - 30 * 86_400_000, lastSeen: now - 12 * 86_400_000, visits: 2, visitsLast7Days: 0, daysLast7Days: 0, viewCount: 3 });
    expect(ok(await viewer.request<UnknownsListResult>({ type: 'unknowns/list' })).unknowns[0]!.summary).toBe('unknown-7, seen twice, last 12 days ago');
    expect(ok(await control.request({ type: 'unknowns/dismiss', unknown_id: 'unknown-7' }))).toEqual({ unknown_id: 'unknown-7' });
    expect(h.backend.unknownMap.size).toBe(0);
  });
});
