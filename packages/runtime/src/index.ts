export * from './core.ts';
export * from './eval.ts';
