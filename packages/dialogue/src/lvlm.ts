import { setTimeout as sleep } from 'node:timers/promises';
import { FamiliarError, toFamiliarError } from '@familiar/contracts';
import { redactCredentials } from './redact.ts';
import type { LvlmConfig } from '@familiar/config';
import { SseParser } from './sse.ts';

/** OpenAI chat-completions content part: text or an image (we send data: URLs). */
export type ChatContentPart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };

/** A function call the model asked for (OpenAI `tool_calls`); `arguments` is the model's JSON text, unchecked. */
export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

export type ChatMessage =
  | { role: 'system' | 'user'; content: string | ChatContentPart[] }
  | { role: 'assistant'; content: string | null; tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[] }
  /** A tool's result, answering the assistant's call with this id. */
  | { role: 'tool'; tool_call_id: string; content: string };

/** A function offered to the model (OpenAI `tools` entry); `parameters` is a JSON schema. */
export interface ToolSpec {
  type: 'function';
  function: { name: string; description: string; parameters: Record<string, unknown> };
}

export interface LvlmClientOptions {
  /** e.g. http://127.0.0.1:8080/v1 — the client appends /chat/completions. */
  baseUrl: string;
  model: string;
  /** Sent as "Authorization: Bearer …" when set. */
  apiKey?: string | undefined;
  connectTimeoutMs: number;
  firstTokenTimeoutMs: number;
  totalTimeoutMs: number;
  retries: number;
  retryBackoffMs: number;
  maxTokens: number;
  maxResponseBytes: number;
  temperature: number;
}

export interface ChatOptions {
  signal?: AbortSignal | undefined;
  /** Called with each piece of answer text as it streams in. */
  onDelta?: ((text: string) => void) | undefined;
  maxTokens?: number | undefined;
  /** Functions the model may call; its calls come back in ChatAnswer.toolCalls instead of (or with) text. */
  tools?: readonly ToolSpec[] | undefined;
}

export interface ChatAnswer {
  text: string;
  /** The functions the model called (empty when it answered). */
  toolCalls: ToolCall[];
  finishReason: string | null;
  /** 1 + retries used. */
  attempts: number;
}

/** Something that answers chat-completion requests; the dialogue uses this, tests may pass any implementation. */
export interface ChatModel {
  readonly model: string;
  chat(messages: ChatMessage[], options?: ChatOptions): Promise<ChatAnswer>;
}

type AbortReason = 'connect' | 'first-token' | 'total' | 'cancelled';

/** Thrown inside an attempt; `retryable` is only honoured while no answer text has been passed on. */
class AttemptError extends Error {
  constructor(
    readonly error: FamiliarError,
    readonly retryable: boolean,
  ) {
    super(error.message);
  }
}

interface ToolCallPiece {
  index?: unknown;
  id?: unknown;
  function?: { name?: unknown; arguments?: unknown };
}

interface StreamChunk {
  choices?: { delta?: { content?: unknown; tool_calls?: unknown }; message?: { content?: unknown; tool_calls?: unknown }; finish_reason?: unknown }[];
  error?: unknown;
}

function errorMessage(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && 'message' in value && typeof value.message === 'string') return value.message;
  return JSON.stringify(value)?.slice(0, 200) ?? 'unknown error';
}

/**
 * Client for an OpenAI-compatible `POST {baseUrl}/chat/completions` (vLLM, llama.cpp server, Ollama /v1,
 * LM Studio, NIM) with `stream: true`. Uses the built-in fetch. Failures are typed: LVLM_UNAVAILABLE
 * (unreachable, HTTP error, error object in the stream), LVLM_TIMEOUT (connect / first-token / total),
 * LVLM_BAD_RESPONSE (malformed or oversized stream), CANCELLED (the caller's signal). Connection errors,
 * connect timeouts and HTTP 5xx/408/429 are retried with exponential back-off, but only until the first
 * piece of answer text has been handed to `onDelta`: after that a retry would repeat text.
 */
export class LvlmClient implements ChatModel {
  readonly model: string;
  private readonly url: string;
  /** Basic credentials given in the base URL (user:password@host): sent as a header, never in a message. */
  private readonly basicAuth: string | undefined;

  constructor(private readonly options: LvlmClientOptions) {
    this.model = options.model;
    const base = new URL(options.baseUrl);
    if (base.username || base.password) {
      this.basicAuth = Buffer.from(`${decodeURIComponent(base.username)}:${decodeURIComponent(base.password)}`).toString('base64');
      base.username = '';
      base.password = '';
    }
    this.url = `${base.href.replace(/\/+$/, '')}/chat/completions`;
  }

  async chat(messages: ChatMessage[], options: ChatOptions = {}): Promise<ChatAnswer> {
    const deadline = Date.now() + this.options.totalTimeoutMs;
    const state = { streamed: false };
    for (let attempt = 0; ; attempt++) {
      try {
        const { text, toolCalls, finishReason } = await this.attempt(messages, options, deadline, state);
        return { text, toolCalls, finishReason, attempts: attempt + 1 };
      } catch (err) {
        if (!(err instanceof AttemptError)) throw toFamiliarError(err, 'LVLM_BAD_RESPONSE');
        const delay = this.options.retryBackoffMs * 2 ** attempt * (0.75 + Math.random() * 0.5);
        const retry = err.retryable && !state.streamed && attempt < this.options.retries && Date.now() + delay < deadline && !options.signal?.aborted;
        if (!retry) throw err.error;
        try {
          await sleep(delay, undefined, options.signal ? { signal: options.signal } : undefined);
        } catch (cause) {
          throw new FamiliarError('CANCELLED', 'the LVLM request was cancelled', { cause });
        }
      }
    }
  }

  private async attempt(
    messages: ChatMessage[],
    options: ChatOptions,
    deadline: number,
    state: { streamed: boolean },
  ): Promise<{ text: string; toolCalls: ToolCall[]; finishReason: string | null }> {
    const ac = new AbortController();
    let reason: AbortReason | null = null;
    const abort = (why: AbortReason) => {
      if (reason === null) reason = why;
      ac.abort();
    };
    const onCancel = () => abort('cancelled');
    if (options.signal?.aborted) throw new AttemptError(new FamiliarError('CANCELLED', 'the LVLM request was cancelled'), false);
    options.signal?.addEventListener('abort', onCancel, { once: true });
    const totalTimer = setTimeout(() => abort('total'), Math.max(0, deadline - Date.now()));
    let phaseTimer = setTimeout(() => abort('connect'), this.options.connectTimeoutMs);

    const timeoutError = (): AttemptError => {
      switch (reason) {
        case 'cancelled':
          return new AttemptError(new FamiliarError('CANCELLED', 'the LVLM request was cancelled'), false);
        case 'connect':
          return new AttemptError(new FamiliarError('LVLM_TIMEOUT', `the LVLM server sent no response within ${this.options.connectTimeoutMs} ms`), true);
        case 'first-token':
          return new AttemptError(new FamiliarError('LVLM_TIMEOUT', `the LVLM sent no answer text within ${this.options.firstTokenTimeoutMs} ms`), false);
        default:
          return new AttemptError(new FamiliarError('LVLM_TIMEOUT', `the LVLM did not finish within ${this.options.totalTimeoutMs} ms`), false);
      }
    };

    try {
      let res: Response;
      try {
        res = await fetch(this.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'text/event-stream',
            ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : this.basicAuth ? { authorization: `Basic ${this.basicAuth}` } : {}),
          },
          body: JSON.stringify({
            model: this.options.model,
            messages,
            stream: true,
            max_tokens: options.maxTokens ?? this.options.maxTokens,
            temperature: this.options.temperature,
            ...(options.tools && options.tools.length > 0 && { tools: options.tools, tool_choice: 'auto' }),
          }),
          signal: ac.signal,
        });
      } catch (cause) {
        if (reason) throw timeoutError();
        const detail = cause instanceof Error && cause.cause instanceof Error ? cause.cause.message : String(cause);
        throw new AttemptError(new FamiliarError('LVLM_UNAVAILABLE', `cannot reach the LVLM at ${this.url}: ${redactCredentials(detail)}`, { cause }), true);
      }
      clearTimeout(phaseTimer);
      phaseTimer = setTimeout(() => abort('first-token'), this.options.firstTokenTimeoutMs);

      if (!res.ok) {
        const body = await this.readBounded(res, 2048).catch(() => '');
        const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
        throw new AttemptError(
          new FamiliarError('LVLM_UNAVAILABLE', `the LVLM server answered HTTP ${res.status}${body ? `: ${redactCredentials(body.slice(0, 300))}` : ''}`, { details: { status: res.status } }),
          retryable,
        );
      }

      let text = '';
      let finishReason: string | null = null;
      let done = false;
      // Streamed calls arrive in pieces keyed by index: the id and name first, the arguments spread over chunks.
      const calls: { id: string; name: string; arguments: string }[] = [];
      const addCalls = (value: unknown, streaming: boolean) => {
        if (value === undefined || value === null) return;
        if (!Array.isArray(value)) throw new AttemptError(new FamiliarError('LVLM_BAD_RESPONSE', 'tool_calls is not an array'), false);
        clearTimeout(phaseTimer);
        value.forEach((raw: ToolCallPiece, i) => {
          const index = streaming && typeof raw.index === 'number' ? raw.index : i;
          if (!Number.isInteger(index) || index < 0 || index > 63) throw new AttemptError(new FamiliarError('LVLM_BAD_RESPONSE', 'a tool call has a bad index'), false);
          const call = (calls[index] ??= { id: '', name: '', arguments: '' });
          if (typeof raw.id === 'string') call.id = raw.id;
          if (typeof raw.function?.name === 'string') call.name += raw.function.name;
          if (typeof raw.function?.arguments === 'string') call.arguments += raw.function.arguments;
        });
      };
      const deliver = (piece: string) => {
        if (piece.length === 0) return;
        if (!state.streamed) clearTimeout(phaseTimer);
        text += piece;
        state.streamed = true;
        options.onDelta?.(piece);
      };
      const handleChunk = (chunk: StreamChunk, streaming: boolean) => {
        if (chunk.error !== undefined) throw new AttemptError(new FamiliarError('LVLM_UNAVAILABLE', `the LVLM reported an error: ${redactCredentials(errorMessage(chunk.error))}`), false);
        if (!Array.isArray(chunk.choices)) throw new AttemptError(new FamiliarError('LVLM_BAD_RESPONSE', 'a response chunk has no choices array'), false);
        const choice = chunk.choices[0];
        if (!choice) return; // e.g. a trailing usage-only chunk
        const content = streaming ? choice.delta?.content : choice.message?.content;
        if (content !== undefined && content !== null && typeof content !== 'string') {
          throw new AttemptError(new FamiliarError('LVLM_BAD_RESPONSE', 'answer content is not a string'), false);
        }
        if (typeof content === 'string') deliver(content);
        addCalls(streaming ? choice.delta?.tool_calls : choice.message?.tool_calls, streaming);
        if (typeof choice.finish_reason === 'string') finishReason = choice.finish_reason;
      };
      const parseJson = (data: string): StreamChunk => {
        try {
          const value: unknown = JSON.parse(data);
          if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
          return value as StreamChunk;
        } catch (cause) {
          throw new AttemptError(new FamiliarError('LVLM_BAD_RESPONSE', `the LVLM sent data that is not a JSON object: ${data.slice(0, 120)}`, { cause }), false);
        }
      };

      const contentType = res.headers.get('content-type') ?? '';
      if (!contentType.includes('text/event-stream')) {
        // Some servers ignore stream:true and answer with one JSON completion; accept that shape too.
        if (!contentType.includes('json')) throw new AttemptError(new FamiliarError('LVLM_BAD_RESPONSE', `unexpected content-type "${contentType}"`), false);
        handleChunk(parseJson(await this.readBounded(res, this.options.maxResponseBytes, true)), false);
        return { text, toolCalls: finishCalls(calls), finishReason };
      }

      const parser = new SseParser((e) => {
        if (done) return;
        if (e.data === '[DONE]') {
          done = true;
          return;
        }
        handleChunk(parseJson(e.data), true);
      });
      const reader = res.body?.getReader();
      if (!reader) throw new AttemptError(new FamiliarError('LVLM_BAD_RESPONSE', 'the response has no body'), false);
      const decoder = new TextDecoder('utf-8');
      let bytes = 0;
      try {
        while (!done) {
          const { value, done: eof } = await reader.read();
          if (eof) break;
          bytes += value.byteLength;
          if (bytes > this.options.maxResponseBytes) {
            throw new AttemptError(new FamiliarError('LVLM_BAD_RESPONSE', `the LVLM response exceeds ${this.options.maxResponseBytes} bytes`), false);
          }
          try {
            parser.push(decoder.decode(value, { stream: true }));
          } catch (err) {
            if (err instanceof RangeError) throw new AttemptError(new FamiliarError('LVLM_BAD_RESPONSE', err.message), false);
            throw err;
          }
        }
        if (!done) {
          parser.push(decoder.decode());
          parser.end();
        }
      } finally {
        reader.cancel().catch(() => {});
      }
      if (!done && finishReason === null) throw new AttemptError(new FamiliarError('LVLM_BAD_RESPONSE', 'the LVLM stream ended before [DONE]'), false);
      return { text, toolCalls: finishCalls(calls), finishReason };
    } catch (err) {
      if (err instanceof AttemptError) throw err;
      if (reason) throw timeoutError();
      throw new AttemptError(new FamiliarError('LVLM_UNAVAILABLE', `the LVLM connection failed: ${redactCredentials((err as Error).message)}`, { cause: err }), !state.streamed);
    } finally {
      clearTimeout(totalTimer);
      clearTimeout(phaseTimer);
      options.signal?.removeEventListener('abort', onCancel);
    }
  }

  /** Reads at most `limit` bytes of the body as text; with `strict`, more is an error instead of a truncation. */
  private async readBounded(res: Response, limit: number, strict = false): Promise<string> {
    const reader = res.body?.getReader();
    if (!reader) return '';
    const parts: Uint8Array[] = [];
    let bytes = 0;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        bytes += value.byteLength;
        if (bytes > limit) {
          if (strict) throw new AttemptError(new FamiliarError('LVLM_BAD_RESPONSE', `the LVLM response exceeds ${limit} bytes`), false);
          parts.push(value.subarray(0, value.byteLength - (bytes - limit)));
          break;
        }
        parts.push(value);
      }
    } finally {
      reader.cancel().catch(() => {});
    }
    return Buffer.concat(parts).toString('utf8');
  }
}

/** The calls as the model sent them; one without a name is malformed beyond use, one without an id gets one. */
function finishCalls(calls: readonly ({ id: string; name: string; arguments: string } | undefined)[]): ToolCall[] {
  return calls
    .filter((c): c is ToolCall => c !== undefined)
    .map((c, i) => {
      if (!c.name) throw new AttemptError(new FamiliarError('LVLM_BAD_RESPONSE', 'a tool call has no function name'), false);
      return { id: c.id || `call_${i}`, name: c.name, arguments: c.arguments };
    });
}

/** Builds the client the config asks for; null when no LVLM is configured. The API key comes from the environment. */
export function createLvlmClient(config: LvlmConfig, env: NodeJS.ProcessEnv = process.env): LvlmClient | null {
  if (!config.baseUrl) return null;
  return new LvlmClient({
    baseUrl: config.baseUrl,
    model: config.model,
    apiKey: env[config.apiKeyEnv] || undefined,
    connectTimeoutMs: config.connectTimeoutMs,
    firstTokenTimeoutMs: config.firstTokenTimeoutMs,
    totalTimeoutMs: config.totalTimeoutMs,
    retries: config.retries,
    retryBackoffMs: config.retryBackoffMs,
    maxTokens: config.maxTokens,
    maxResponseBytes: config.maxResponseBytes,
    temperature: config.temperature,
  });
}
