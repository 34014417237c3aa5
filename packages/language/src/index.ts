export * from './mentions.ts';
export * from './intents.ts';
export * from './trigger-parse.ts';
export * from './preference-extract.ts';
export * from './messages.ts';
export * from './categories.ts';
export * from './clarify.ts';
