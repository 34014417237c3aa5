export * from './eval.ts';
export * from './cohort-build.ts';
export * from './bench/index.ts';
