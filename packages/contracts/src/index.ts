export * from './errors.ts';
export * from './types.ts';
export * from './protocol.ts';
export * from './random.ts';
export * from './log.ts';
export * from './geometry.ts';
export * from './vectors.ts';
export * from './household.ts';
