import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, nestsDeeperThan } from './json-guard.ts';

const b = (s: string) => Buffer.from(s);

describe('nestsDeeperThan', () => {
  it('lets every protocol message through, however large', () => {
    expect(nestsDeeperThan(b('{"id":1,"type":"ping"}'))).toBe(false);
    expect(nestsDeeperThan(b(`{"id":2,"type":"concepts/enrol","name":"A","kind":"pet","photos":["${'A'.repeat(4_000_000)}"]}`))).toBe(false);
    expect(nestsDeeperThan(b('{"id":3,"type":"concepts/enrol","name":"A","kind":"pet","camera_id":"hall","box":{"xmin":0,"ymin":0,"xmax":1,"ymax":1}}'))).toBe(false);
  });

  it('counts nesting exactly, arrays and objects mixed, at the limit and one past it', () => {
    const deep = (n: number) => `${'[{"a":'.repeat(n / 2)}1${'}]'.repeat(n / 2)}`;
    expect(nestsDeeperThan(b(deep(MAX_JSON_DEPTH)))).toBe(false);
    expect(nestsDeeperThan(b(deep(MAX_JSON_DEPTH + 2)))).toBe(true);
    expect(nestsDeeperThan(b(`${'['.repeat(1_000_000)}`))).toBe(true);
  });

  it('ignores brackets inside strings, escaped quotes included', () => {
    const text = `{"id":1,"type":"ask","question":"${'[{'.repeat(500)} \\" ${'[{'.repeat(500)}"}`;
    expect(nestsDeeperThan(b(text))).toBe(false);
    expect(nestsDeeperThan(b(`["\\\\"${',['.repeat(40)}`))).toBe(true);
  });
});
