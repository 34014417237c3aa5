export * from './decode.ts';
export * from './ops.ts';
export * from './overlay.ts';
