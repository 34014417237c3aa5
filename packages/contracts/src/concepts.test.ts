import { describe, expect, it } from 'vitest';
import { conceptSummary, validConceptContext, validConceptName } from './concepts.ts';
import { FamiliarError } from './errors.ts';
import { CONCEPT_CONTEXT_MAX, CONCEPT_NAME_MAX, type Concept } from './types.ts';

const code = (fn: () => unknown): string | null => {
  try {
    fn();
    return null;
  } catch (err) {
    return err instanceof FamiliarError ? err.code : 'not a FamiliarError';
  }
};

describe('concept names and contexts', () => {
  it('stores names NFC-normalised and trimmed, and refuses empty, overlong and control-character names', () => {
    expect(validConceptName('  Zoe\u0301 ')).toBe('Zoé');
    expect(validConceptName('x'.repeat(CONCEPT_NAME_MAX))).toHaveLength(CONCEPT_NAME_MAX);
    for (const bad of ['', '   ', 'x'.repeat(CONCEPT_NAME_MAX + 1), 'Bil\nly', 'Bil\u2028ly', 42]) expect(code(() => validConceptName(bad)), JSON.stringify(bad)).toBe('INPUT_INVALID');
  });

  it('keeps newlines and tabs in a context but refuses other control characters and overlong text', () => {
    expect(validConceptContext(' our corgi\n\tloves the sofa ')).toBe('our corgi\n\tloves the sofa');
    expect(validConceptContext('')).toBe('');
    for (const bad of ['a\u0007b', 'x'.repeat(CONCEPT_CONTEXT_MAX + 1), null]) expect(code(() => validConceptContext(bad)), String(bad).slice(0, 10)).toBe('INPUT_INVALID');
  });
});

describe('conceptSummary', () => {
  it('counts only positive views: corrections are not photos of the concept', () => {
    const view = (negative: boolean) => ({ id: String(Math.random()), space: 'object' as const, vector: new Float32Array(2), origin: 'a.jpg', addedAt: 1, ...(negative && { negative }) });
    const concept: Concept = { id: 'c1', name: 'Mug', kind: 'object', context: 'blue', createdAt: 1, updatedAt: 2, views: [view(false), view(false), view(true)], thresholds: { object: 0.7 } };
    const summary = conceptSummary(concept);
    expect(summary).toEqual({ id: 'c1', name: 'Mug', kind: 'object', context: 'blue', createdAt: 1, updatedAt: 2, viewCount: 2, thresholds: { object: 0.7 } });
    summary.thresholds.object = 0.1;
    expect(concept.thresholds.object).toBe(0.7);
  });
});
