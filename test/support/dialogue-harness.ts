/** Starts a dialogue server on a loopback port over the static test backend. */
import { startDialogueServer, type ChatModel, type DialogueServer, type DialogueServerOptions } from '@familiar/dialogue';
import type { ImageLimits } from '@familiar/image';
import { StaticBackend } from './static-backend.ts';

export const CONTROL_TOKEN = 'control-token-0123456789';
export const VIEWER_TOKEN = 'viewer-token-0123456789';
/** The server tokens every harness starts with (unless `server.tokens` replaces them). */
export const HARNESS_TOKENS = [
  { name: 'console', role: 'control' as const, token: CONTROL_TOKEN },
  { name: 'phone', role: 'viewer' as const, token: VIEWER_TOKEN, member: 'Tom' },
];

export interface Harness {
  server: DialogueServer;
  backend: StaticBackend;
  url: string;
  close(): Promise<void>;
}

export interface HarnessOptions {
  server?: DialogueServerOptions['server'];
  lvlm?: DialogueServerOptions['lvlm'];
  chatModel?: ChatModel | null;
  imageLimits?: ImageLimits;
  backend?: StaticBackend;
  env?: NodeJS.ProcessEnv;
  httpHandler?: DialogueServerOptions['httpHandler'];
  reminderInbox?: DialogueServerOptions['reminderInbox'];
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const backend = options.backend ?? (await StaticBackend.create());
  const server = await startDialogueServer({
    backend,
    server: {
      port: 0,
      tokens: HARNESS_TOKENS,
      ...options.server,
    },
    ...(options.lvlm ? { lvlm: options.lvlm } : {}),
    ...(options.chatModel !== undefined ? { chatModel: options.chatModel } : {}),
    ...(options.imageLimits ? { imageLimits: options.imageLimits } : {}),
    ...(options.env ? { env: options.env } : {}),
    ...(options.httpHandler ? { httpHandler: options.httpHandler } : {}),
    ...(options.reminderInbox ? { reminderInbox: options.reminderInbox } : {}),
  });
  return { server, backend, url: server.url, close: () => server.close() };
}
