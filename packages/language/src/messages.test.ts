import { describe, expect, it } from 'vitest';
import { loadMessages } from './messages.ts';

describe('message catalogue', () => {
  it('fills placeholders, plurals and lists from the file', () => {
    const en = loadMessages('en');
    expect(en.t('lastSeen.never', { name: 'Piggy' })).toBe('I have not seen Piggy yet.');
    expect(en.count('kind.pet', 1)).toBe('1 pet');
    expect(en.count('kind.pet', 2)).toBe('2 pets');
    expect(en.list(['Anna', 'Tom', 'Billy'])).toBe('Anna, Tom and Billy');
    expect(en.list(['Billy', 'Rex'], 'list.or')).toBe('Billy or Rex');
  });

  it('takes a translation from its file and English for the keys it lacks', () => {
    const de = loadMessages('de');
    expect(de.t('lastSeen.now', { name: 'Billy', room: 'Wohnzimmer', camera: 'living', details: '' })).toBe('Billy ist gerade im Raum „Wohnzimmer“ (Kamera living).');
    expect(de.list(['Anna', 'Tom'])).toBe('Anna und Tom');
    expect(de.t('lastSeen.never', { name: 'Piggy' })).toBe('I have not seen Piggy yet.');
  });

  it('refuses a language without a catalogue, and an unknown key, with typed errors', () => {
    expect(() => loadMessages('xx')).toThrow(expect.objectContaining({ code: 'INPUT_INVALID' }));
    expect(() => loadMessages('../etc')).toThrow(expect.objectContaining({ code: 'INPUT_INVALID' }));
    expect(() => loadMessages('en').t('no.such.key')).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
  });
});
