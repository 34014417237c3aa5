import { z } from 'zod';

// Owned by the dialogue work (issue 4). Extend freely; keep every field described and defaulted.
export const ServerConfig = z
  .object({
    host: z.string().default('127.0.0.1').describe('Address the WebSocket/HTTP server binds to (loopback unless you mean it).'),
    port: z.number().int().min(0).max(65535).default(8787).describe('TCP port (0 = any free port).'),
  })
  .strict();
export type ServerConfig = z.infer<typeof ServerConfig>;

export const LvlmConfig = z
  .object({
    baseUrl: z.string().url().nullable().default(null).describe('OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1; null = built-in grounded responder only.'),
    model: z.string().default('default').describe('Model name sent in requests.'),
  })
  .strict();
export type LvlmConfig = z.infer<typeof LvlmConfig>;
