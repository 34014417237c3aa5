export * from './bridge.ts';
export * from './discovery.ts';
export type { PublisherStats, PublisherState } from './publisher.ts';
