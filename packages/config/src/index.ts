export * from './schema.ts';
export * from './load.ts';
export * from './sections/models.ts';
export * from './sections/recognition.ts';
export * from './sections/store.ts';
export * from './sections/device.ts';
