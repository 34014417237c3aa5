export * from './regions.ts';
export * from './recognizer.ts';
