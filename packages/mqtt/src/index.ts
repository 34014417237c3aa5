export * from './bridge.ts';
export * from './discovery.ts';
