import { describe, expect, it } from 'vitest';
import { AddressSlots } from './slots.ts';

describe('AddressSlots', () => {
  it('refuses past the per-address cap; at the total cap evicts the oldest of the busiest address', () => {
    const slots = new AddressSlots<string>(4, 3);
    const evicted: string[] = [];
    const evict = (v: string) => {
      evicted.push(v);
      slots.delete(v.split('#')[0]!, v);
    };
    for (let i = 0; i < 3; i++) expect(slots.add('a', `a#${i}`, evict)).toBe(true);
    expect(slots.hasRoomFor('a')).toBe(false);
    expect(slots.add('a', 'a#3', evict)).toBe(false);
    expect(slots.add('b', 'b#0', evict)).toBe(true);
    expect(slots.size).toBe(4);
    // Full: a newcomer from a third address takes the place of a's oldest.
    expect(slots.add('c', 'c#0', evict)).toBe(true);
    expect(evicted).toEqual(['a#0']);
    expect(slots.size).toBe(4);
    slots.delete('a', 'a#1');
    expect(slots.size).toBe(3);
    expect(slots.hasRoomFor('a')).toBe(true);
  });
});
