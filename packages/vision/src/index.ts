export * from './session.ts';
export * from './tensor.ts';
export * from './geometry.ts';
export * from './detector.ts';
export * from './faces.ts';
export * from './embedders.ts';
export * from './models.ts';
export * from './fetch.ts';
