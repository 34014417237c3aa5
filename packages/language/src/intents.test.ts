import { describe, expect, it } from 'vitest';
import { isReminderRequest, understand } from './intents.ts';
import { parseTriggerRequest } from './trigger-parse.ts';

const concepts = [
  { id: 'billy', name: 'Billy', kind: 'pet' as const },
  { id: 'mochi', name: 'Mochi', kind: 'pet' as const },
  { id: 'anna', name: 'Anna', kind: 'person' as const },
];
const rooms = ['living room', 'hallway', 'kitchen'];
const intent = (q: string) => understand(q, { concepts, rooms }).intent;

describe('one intent grammar', () => {
  it('tells questions, reminders and statements apart (the cases issue 13 found wrong)', () => {
    expect(intent('Tell me when you last saw Billy')).toBe('last_seen');
    expect(isReminderRequest('Tell me when you last saw Billy')).toBe(false);
    expect(parseTriggerRequest('Tell me when you last saw Billy', concepts)).toBeNull();
    expect(intent('Can you remind me to feed Mochi when she comes in?')).toBe('remind');
    expect(parseTriggerRequest('Can you remind me to feed Mochi when she comes in?', concepts)).toMatchObject({ conceptId: 'mochi', message: 'Remember to feed Mochi.', once: true });
    expect(intent('Could you please tell me when Anna gets home?')).toBe('remind');
    expect(intent('When did Billy come in?')).not.toBe('remind');
    expect(intent('Billy had his vaccination today.')).toBe('note');
    expect(intent('Is Billy hungry?')).toBe('presence');
  });

  it('finds rooms, counts, visitors and the roster', () => {
    expect(understand('Who is in the hallway?', { concepts, rooms })).toMatchObject({ intent: 'room', room: 'hallway' });
    expect(understand('Who is in the bathroom?', { concepts, rooms })).toMatchObject({ intent: 'room', unknownRoom: 'bathroom' });
    expect(understand('Is Anna in the kitchen?', { concepts, rooms })).toMatchObject({ intent: 'presence', room: 'kitchen', conceptIds: ['anna'] });
    expect(understand('How many pets do we have?', { concepts, rooms })).toMatchObject({ intent: 'count', kind: 'pet', now: false });
    expect(understand('How many people are home right now?', { concepts, rooms })).toMatchObject({ intent: 'count', kind: 'person', now: true });
    expect(intent('Who came by today?')).toBe('visitors');
    expect(intent('Who lives here?')).toBe('roster');
    expect(intent('Who is Billy?')).toBe('roster');
    expect(intent('What is Billy up to?')).toBe('view');
    expect(intent('What does Anna like?')).toBe('preferences');
    expect(intent('What did I say about Billy?')).toBe('notes');
    expect(intent('What was I doing when I last mentioned Billy?')).toBe('last_mention');
    expect(intent('What reminders do I have?')).toBe('reminders');
    expect(intent('Cancel the reminder about Mochi')).toBe('cancel_reminder');
    expect(understand('And Mochi?', { concepts, rooms })).toMatchObject({ intent: 'where', elliptic: true });
    expect(intent('Sing me a song')).toBe('unknown');
    // Paraphrases found by probing beyond the question set.
    expect(understand('Is anybody home?', { concepts, rooms })).toMatchObject({ intent: 'count', now: true });
    expect(intent('Where is everyone?')).toBe('count');
    expect(intent('When was Anna here last?')).toBe('last_seen');
    expect(intent('Did Anna come home yet?')).toBe('presence');
    expect(intent('Which room is Mochi in?')).toBe('where');
    expect(understand('Who was in the kitchen this morning?', { concepts, rooms })).toMatchObject({ intent: 'visitors', room: 'kitchen' });
    expect(intent('Can you check the hallway camera?')).toBe('room');
    expect(intent('Tell me something about Billy')).toBe('roster');
  });
});
