// Worker entry: TypeScript sources run through tsx's loader, registered here because a worker does not
// always inherit the parent's loader (under vitest it does not).
import { register } from 'tsx/esm/api';

register();
await import('./engine-worker.ts');
