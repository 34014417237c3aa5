import { z } from 'zod';
import { CLIENT_ROLES } from '@familiar/contracts';

// Owned by the dialogue work (issue 4). Extend freely; keep every field described and defaulted.

/** One access token. Give the token itself (`token`) or, better, only its SHA-256 (`sha256`), never both. */
export const AccessTokenConfig = z
  .object({
    name: z.string().min(1).max(64).describe('Who or what holds this token (shown in logs and status, never the token).'),
    role: z.enum(CLIENT_ROLES).describe('control: may also enrol, update and forget concepts; viewer: may list, ask and subscribe.'),
    token: z.string().min(16).max(512).optional().describe('The token in clear text (at least 16 characters). Prefer sha256.'),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional()
      .describe('Lower-case hex SHA-256 of the token, so the config file does not hold the secret (printf %s TOKEN | sha256sum).'),
    member: z.string().min(1).max(64).optional().describe('Household member who uses this token; prompts name them as the asker unless an ask says otherwise.'),
  })
  .strict()
  .superRefine((t, ctx) => {
    if ((t.token === undefined) === (t.sha256 === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['token'], message: 'give exactly one of token or sha256' });
    }
  });
export type AccessTokenConfig = z.infer<typeof AccessTokenConfig>;

export const ServerConfig = z
  .object({
    host: z.string().default('127.0.0.1').describe('Address the WebSocket/HTTP server binds to (loopback unless you mean it).'),
    port: z.number().int().min(0).max(65535).default(8787).describe('TCP port (0 = any free port).'),
    path: z.string().regex(/^\/[A-Za-z0-9/_-]*$/).default('/ws').describe('HTTP path that accepts WebSocket upgrades.'),
    tokens: z
      .array(AccessTokenConfig)
      .max(256)
      .default([])
      .describe('Access tokens and their roles. Empty = nobody can authenticate (the server still starts).'),
    authTimeoutMs: z.number().int().min(100).max(600_000).default(10_000).describe('A connection that has not authenticated this long after connecting is closed.'),
    maxAuthFailures: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(5)
      .describe(
        'Failed authentications per remote address within authFailureWindowMs answered at once; beyond that each attempt from the address is answered only after a back-off (a wrong token refused, the right one still accepted), so guessing slows down but the owner is never locked out.',
      ),
    authFailureWindowMs: z.number().int().min(1000).max(86_400_000).default(60_000).describe('Window of the failed-authentication limit.'),
    authBackoffMaxMs: z
      .number()
      .int()
      .min(0)
      .max(60_000)
      .default(4000)
      .describe('Longest back-off before an attempt from an address over maxAuthFailures is answered (it doubles from 250 ms with each further failure).'),
    maxClients: z.number().int().min(1).max(10_000).default(64).describe('Most simultaneous authenticated WebSocket connections; more are refused at the upgrade with HTTP 503.'),
    maxUnauthenticated: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(32)
      .describe('Most connections that have not authenticated yet, in all (they do not take the slots of maxClients); at the cap the oldest of the address holding the most is closed to make room.'),
    maxUnauthenticatedPerAddress: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(8)
      .describe('Most connections one remote address may have open before authenticating; more are refused at the upgrade with HTTP 503.'),
    maxHttpConnections: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(64)
      .describe('Most plain HTTP connections (the web console, never upgraded) open at once; more are closed at once.'),
    allowedOrigins: z
      .array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'an origin is scheme://host[:port] without a path'))
      .max(64)
      .default([])
      .describe(
        'Web origins besides the server\'s own (same host and port) allowed to open a WebSocket, e.g. "https://ha.local:8123". A browser page from any other origin is refused at the upgrade with HTTP 403.',
      ),
    allowMissingOrigin: z
      .boolean()
      .default(true)
      .describe('Accept upgrades without an Origin header (native clients, scripts; browsers always send one). false: only browsers from allowed origins.'),
    blockedAddresses: z
      .array(z.string().regex(/^[0-9a-fA-F:.]+(\/\d{1,3})?$/, 'an IP address or a CIDR range such as 192.168.1.0/24'))
      .max(1024)
      .default([])
      .describe('Remote addresses or CIDR ranges refused at the upgrade (HTTP 403) and on plain HTTP.'),
    maxJsonElements: z
      .number()
      .int()
      .min(64)
      .max(1_000_000)
      .default(4096)
      .describe('Most JSON values (counted from brackets and commas before parsing) in one client message; a larger message is refused unparsed with MESSAGE_TOO_LARGE.'),
    maxMessageBytes: z
      .number()
      .int()
      .min(1024)
      .max(256 * 1024 * 1024)
      .default(16 * 1024 * 1024)
      .describe('Largest client message (WebSocket maxPayload); a larger one closes the connection with code 1009. Base64 photos count 4/3 of their size.'),
    maxImagesPerMessage: z.number().int().min(1).max(64).default(8).describe('Most images (photos) one message may carry.'),
    commandsPerSecond: z.number().positive().max(10_000).default(20).describe('Sustained commands per second per connection (token bucket); excess commands fail with RATE_LIMITED.'),
    commandBurst: z.number().int().min(1).max(10_000).default(40).describe('Token-bucket size: commands a connection may send at once.'),
    maxConcurrentAsksPerClient: z.number().int().min(1).max(64).default(2).describe('Asks one connection may have in flight; more fail with RATE_LIMITED.'),
    maxConcurrentAsks: z.number().int().min(1).max(1024).default(32).describe('Asks in flight over all connections; more fail with RATE_LIMITED.'),
    maxSubscriptionsPerClient: z.number().int().min(1).max(256).default(8).describe('Scene subscriptions one connection may hold.'),
    heartbeatMs: z.number().int().min(100).max(600_000).default(15_000).describe('Interval of WebSocket pings; a connection that has not answered the previous ping is closed.'),
    maxBufferedBytes: z
      .number()
      .int()
      .min(1024)
      .max(256 * 1024 * 1024)
      .default(4 * 1024 * 1024)
      .describe('Outgoing bytes a connection may have queued; a client that reads slower is dropped (CLIENT_TOO_SLOW) instead of buffering without bound.'),
    maxQuestionChars: z.number().int().min(16).max(10_000).default(1000).describe('Longest question accepted by ask.'),
    tls: z
      .object({
        cert: z.string().min(1).describe('PEM certificate chain file (relative paths from the working directory).'),
        key: z.string().min(1).describe('PEM private key file.'),
      })
      .strict()
      .nullable()
      .default(null)
      .describe('Serve wss:// and https:// (the console too) with this certificate; null = plain ws:// and http:// (fine on loopback, not on a LAN).'),
    conversationMaxTurns: z.number().int().min(0).max(100).default(8).describe('Earlier turns (question + answer) kept per conversation and sent to the LVLM with a follow-up; 0 = no history.'),
    conversationMaxBytes: z.number().int().min(0).max(1_000_000).default(8_000).describe('Bytes of earlier turns kept per conversation (the oldest turns dropped first).'),
    conversationIdleMs: z.number().int().min(1_000).max(7 * 86_400_000).default(30 * 60_000).describe('A conversation not continued for this long is forgotten; its id then starts a new one.'),
    maxConversations: z.number().int().min(1).max(100_000).default(1_000).describe('Conversations kept at once (the one idle longest dropped first).'),
    language: z
      .string()
      .regex(/^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?$/)
      .default('en')
      .describe('Language of the built-in sentences: packages/language/messages/<language>.json (keys it lacks fall back to English).'),
  })
  .strict();
export type ServerConfig = z.infer<typeof ServerConfig>;

export const LvlmConfig = z
  .object({
    baseUrl: z.string().url().nullable().default(null).describe('OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1; null = built-in grounded responder only.'),
    model: z.string().default('default').describe('Model name sent in requests.'),
    apiKeyEnv: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/)
      .default('FAMILIAR_LVLM_API_KEY')
      .describe('Environment variable holding the API key sent as "Authorization: Bearer"; unset = no key (local servers).'),
    connectTimeoutMs: z.number().int().min(100).max(600_000).default(5_000).describe('Time allowed until the response headers arrive.'),
    firstTokenTimeoutMs: z.number().int().min(100).max(600_000).default(30_000).describe('Time allowed from the headers to the first answer text (image encoding and prefill happen here).'),
    totalTimeoutMs: z.number().int().min(100).max(3_600_000).default(120_000).describe('Time allowed for the whole answer.'),
    retries: z.number().int().min(0).max(10).default(2).describe('Retries after connection errors, connect timeouts and HTTP 5xx/429, only before any answer text arrived.'),
    retryBackoffMs: z.number().int().min(0).max(60_000).default(300).describe('First retry delay; doubles each retry (with jitter).'),
    maxTokens: z.number().int().min(1).max(32_768).default(400).describe('max_tokens asked of the model.'),
    maxResponseBytes: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .default(1024 * 1024)
      .describe('Largest response body read (SSE framing included); beyond it the answer fails with LVLM_BAD_RESPONSE.'),
    temperature: z.number().min(0).max(2).default(0.2).describe('Sampling temperature.'),
    imageMaxSide: z.number().int().min(64).max(8192).default(1024).describe('The annotated image is downscaled to this long side before it is sent.'),
    jpegQuality: z.number().int().min(30).max(100).default(85).describe('JPEG quality of the annotated image.'),
    labels: z.boolean().default(true).describe('Print each name above its box as well as colouring the box.'),
    labelFont: z
      .string()
      .default('/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf')
      .describe('TrueType font for box labels (Debian/Ubuntu package fonts-dejavu-core); checked at start-up.'),
    captionFirst: z
      .boolean()
      .default(false)
      .describe('CoViP caption-augmented mode: first ask for a personalised caption, then answer conditioned on it (two model calls; asks can override).'),
    tools: z
      .enum(['auto', 'on', 'off'])
      .default('auto')
      .describe(
        "Offer household memory to the model as OpenAI-style functions (tools / tool_calls). auto: offer them, and if the server refuses requests with tools (a model or server without function calling), stop offering and answer without; on: always offer; off: never.",
      ),
    toolRounds: z.number().int().min(1).max(8).default(4).describe('Rounds of tool calls per answer; after the last, the model must answer without tools.'),
    toolTimeoutMs: z.number().int().min(50).max(60_000).default(5_000).describe('Time one tool call may take; a slower one returns a timeout result to the model.'),
    toolResultMaxBytes: z.number().int().min(256).max(100_000).default(4_000).describe('Largest tool result sent back to the model (longer lists are cut, and marked so).'),
  })
  .strict();
export type LvlmConfig = z.infer<typeof LvlmConfig>;
