import { describe, expect, it } from 'vitest';
import type { Match } from '@familiar/contracts';
import { groundedAnswer, horizontalPosition, notInViewSentence, timeAgo } from './grounded.ts';

const m = (name: string, kind: Match['kind'], xmin: number, xmax: number): Match => ({
  conceptId: name, name, kind, box: { xmin, ymin: 0, xmax, ymax: 100 }, similarity: 0.9, threshold: 0.6, confidence: 0.8, space: 'object',
});

describe('grounded responder', () => {
  const now = 1_000_000_000;
  it('places boxes left / middle / right', () => {
    expect(horizontalPosition({ xmin: 0, ymin: 0, xmax: 100, ymax: 10 }, 900)).toBe('on the left');
    expect(horizontalPosition({ xmin: 400, ymin: 0, xmax: 500, ymax: 10 }, 900)).toBe('in the middle');
    expect(horizontalPosition({ xmin: 800, ymin: 0, xmax: 900, ymax: 10 }, 900)).toBe('on the right');
  });

  it('formats time ago', () => {
    expect(timeAgo(now - 5_000, now)).toBe('just now');
    expect(timeAgo(now - 60_000, now)).toBe('1 minute ago');
    expect(timeAgo(now - 5 * 3_600_000, now)).toBe('5 hours ago');
    expect(timeAgo(now - 3 * 86_400_000, now)).toBe('3 days ago');
  });

  it('counts and places what is in view and admits it cannot say more', () => {
    const answer = groundedAnswer({
      matches: [m('Anna', 'person', 0, 100), m('Billy', 'pet', 800, 900), m('Keys', 'object', 400, 450)],
      imageWidth: 900,
      room: 'kitchen',
      mentionedInView: [],
      absent: [],
      reason: 'no-lvlm',
      now,
    });
    expect(answer).toBe(
      "I can see 1 person, 1 pet and 1 object I know in the kitchen: Anna on the left, Billy on the right and Keys in the middle. I can't describe more than that: no vision-language model is configured.",
    );
  });

  it('answers about a mentioned concept in view, and honestly about absent ones with their last sighting', () => {
    const answer = groundedAnswer({
      matches: [m('Billy', 'pet', 0, 200)],
      imageWidth: 900,
      room: null,
      mentionedInView: [m('Billy', 'pet', 0, 200)],
      absent: [{ name: 'Anna', lastSeen: { cameraId: 'hall', room: 'hallway', at: now - 120_000, box: { xmin: 0, ymin: 0, xmax: 1, ymax: 1 } } }],
      reason: 'lvlm-failed',
      now,
    });
    expect(answer).toBe(
      "I don't see Anna right now. I last saw Anna 2 minutes ago in the hallway (camera hall). Billy is in view in this picture, on the left. I can't describe more than that right now: the vision-language model is not available.",
    );
    expect(notInViewSentence('Piggy', null, now)).toBe("I don't see Piggy right now, and I have not seen Piggy yet.");
  });

  it('says when nothing known is in view', () => {
    expect(groundedAnswer({ matches: [], imageWidth: 10, room: 'hallway', mentionedInView: [], absent: [], reason: 'no-lvlm', now })).toMatch(
      /^I don't recognise anyone or anything I know in the hallway right now\./,
    );
  });
});
