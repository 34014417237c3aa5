import { FamiliarError, type ErrorCode } from './errors.ts';
import { CONCEPT_CONTEXT_MAX, CONCEPT_NAME_MAX, type Concept, type ConceptSummary } from './types.ts';

/** An enrolment photo that gave nothing, and why (the enrolment goes on as long as one photo gives a view). */
export interface PhotoRejection {
  origin: string;
  code: ErrorCode;
  message: string;
}

/** A concept as listed to clients. Negative views are corrections ("that's not Billy"), not photos of it: not counted. */
export function conceptSummary(c: Concept): ConceptSummary {
  return {
    id: c.id,
    name: c.name,
    kind: c.kind,
    context: c.context,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
    viewCount: c.views.filter((v) => !v.negative).length,
    thresholds: { ...c.thresholds },
  };
}

// Control characters would corrupt labels, logs and prompts.
const NAME_CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
// Newlines and tabs are fine in free text; other control characters are not.
const CONTEXT_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** A concept name as stored: NFC, trimmed, 1..CONCEPT_NAME_MAX characters, no control characters (`INPUT_INVALID`). */
export function validConceptName(raw: unknown): string {
  if (typeof raw !== 'string') throw new FamiliarError('INPUT_INVALID', 'name must be a string');
  const name = raw.normalize('NFC').trim();
  if (name.length === 0) throw new FamiliarError('INPUT_INVALID', 'name must not be empty');
  if (name.length > CONCEPT_NAME_MAX) throw new FamiliarError('INPUT_INVALID', `name is longer than ${CONCEPT_NAME_MAX} characters`);
  if (NAME_CONTROL.test(name)) throw new FamiliarError('INPUT_INVALID', 'name must not contain control characters');
  return name;
}

/** A concept's context as stored: NFC, trimmed, at most CONCEPT_CONTEXT_MAX characters (`INPUT_INVALID`). */
export function validConceptContext(raw: unknown): string {
  if (typeof raw !== 'string') throw new FamiliarError('INPUT_INVALID', 'context must be a string');
  const context = raw.normalize('NFC').trim();
  if (context.length > CONCEPT_CONTEXT_MAX) throw new FamiliarError('INPUT_INVALID', `context is longer than ${CONCEPT_CONTEXT_MAX} characters`);
  if (CONTEXT_CONTROL.test(context)) throw new FamiliarError('INPUT_INVALID', 'context must not contain control characters');
  return context;
}
