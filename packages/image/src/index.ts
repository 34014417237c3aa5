export * from './decode.ts';
export * from './ops.ts';
