export * from './core.ts';
export { Household } from './household.ts';
export * from './live/engine.ts';
export * from './live/engine-client.ts';
export * from './live/runtime.ts';
export { ReminderInboxFile } from './live/reminder-inbox-file.ts';
