import { FamiliarError } from '@familiar/contracts';

// Input checks shared by the memory stores: bad input is an INPUT_INVALID FamiliarError, never a crash or a
// silently stored bad record.

export const DAY_MS = 24 * 60 * 60 * 1000;

export function invalid(message: string, details?: Record<string, unknown>): FamiliarError {
  return new FamiliarError('INPUT_INVALID', message, details === undefined ? undefined : { details });
}

/** The error for a bounded store that is full (INPUT_INVALID with details.reason 'cap'). */
export function capError(message: string, cap: number): FamiliarError {
  return invalid(message, { reason: 'cap', cap });
}

export function checkTime(t: unknown, what: string): number {
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) throw invalid(`${what} must be a non-negative number of epoch milliseconds`);
  return t;
}

/** A string of at most `max` characters (non-empty unless `allowEmpty`). */
export function checkText(s: unknown, what: string, max: number, allowEmpty = false): string {
  if (typeof s !== 'string' || s.length > max || (!allowEmpty && s.trim().length === 0)) {
    throw invalid(`${what} must be a ${allowEmpty ? '' : 'non-empty '}string of at most ${max} characters`);
  }
  return s;
}

/**
 * Checks that a concept id names an enrolled concept (of the right kind); throws CONCEPT_NOT_FOUND or
 * INPUT_INVALID. The {@link Memory} facade passes one backed by the concept store; a store opened on its
 * own checks only the id's shape.
 */
export type ConceptCheck = (conceptId: string) => void;

const ID_MAX = 200;

export function checkConceptRef(id: unknown, check: ConceptCheck | undefined, what = 'conceptId'): string {
  const value = checkText(id, what, ID_MAX);
  check?.(value);
  return value;
}
