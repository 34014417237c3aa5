export * from './regions.ts';
export * from './recognizer.ts';
export * from './tracker.ts';
export * from './cohort.ts';
export * from './enrolment.ts';
