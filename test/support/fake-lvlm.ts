/**
 * A real loopback HTTP server speaking the OpenAI chat-completions wire protocol (the subset vLLM,
 * llama.cpp and Ollama serve), streaming SSE. It records and checks every request: JSON body, model,
 * stream:true, each image a data: URL of a JPEG that really decodes. Behaviours are scripted per request.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeImage } from '@familiar/image';

export type FakeBehaviour =
  /** A well-formed stream of `chunks` (default: the answer split into words), `delayMs` between chunks. */
  | { kind: 'stream'; chunks?: string[]; delayMs?: number }
  /** An HTTP error status with an OpenAI-style error body. */
  | { kind: 'status'; status: number }
  /** Accepts the request and never answers (connect timeout). */
  | { kind: 'hang' }
  /** Sends the SSE headers and then nothing but keep-alive comments (first-token timeout). */
  | { kind: 'silent-stream' }
  /** One good chunk, then a data line that is not JSON. */
  | { kind: 'malformed' }
  /** HTTP 200 with a body that is neither SSE nor JSON. */
  | { kind: 'garbage' }
  /** HTTP 200, content-type JSON, body not parseable. */
  | { kind: 'garbage-json' }
  /** A non-streamed JSON completion (servers that ignore stream:true). */
  | { kind: 'json' }
  /** Some chunks, then the connection is cut without [DONE]. */
  | { kind: 'cut' }
  /** An error object inside the stream (what vLLM sends when generation fails). */
  | { kind: 'stream-error' }
  /**
   * The model calls functions instead of answering (OpenAI streamed tool_calls: id and name first, the
   * arguments spread over several chunks, finish_reason "tool_calls"). `arguments` is sent verbatim, so a
   * test can send malformed JSON. Refused with HTTP 400 if the request offered no tools or not this name,
   * unless `unoffered` (a model calling a function it was not given).
   */
  | { kind: 'tool_calls'; calls: { name: string; arguments: string }[]; unoffered?: boolean }
  /** A server without function calling (llama-server without --jinja): HTTP 400 to any request with tools, else a normal stream. */
  | { kind: 'no-tools' };

export interface RecordedImage {
  width: number;
  height: number;
  jpeg: Uint8Array;
}

export interface RecordedRequest {
  path: string;
  authorization: string | undefined;
  body: Record<string, unknown> | undefined;
  /** All text parts of all messages, joined with newlines. */
  text: string;
  /** The user message's text parts only. */
  userText: string;
  images: RecordedImage[];
  /** What was wrong with the request; a request with problems gets HTTP 400, like a real server. */
  problems: string[];
  /** Names of the functions the request offered (`tools`). */
  toolsOffered: string[];
  /** The tool results the request carried (role "tool" messages), parsed as JSON where they are. */
  toolResults: { toolCallId: string; name: string; content: unknown }[];
  behaviour: FakeBehaviour['kind'];
}

const JPEG_PREFIX = 'data:image/jpeg;base64,';

function chunk(content: string | null, finish: string | null = null, role = false): string {
  const delta: Record<string, string> = {};
  if (role) delta.role = 'assistant';
  if (content !== null) delta.content = content;
  return JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 0, model: 'fake', choices: [{ index: 0, delta, finish_reason: finish }] });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class FakeLvlmServer {
  readonly requests: RecordedRequest[] = [];
  /** Answer used by `stream` and `json` behaviours without explicit chunks. */
  answer = 'Billy is sitting on the floor, looking at the camera.';
  private readonly queue: FakeBehaviour[] = [];
  private defaultBehaviour: FakeBehaviour = { kind: 'stream' };
  private readonly open = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    readonly baseUrl: string,
    private readonly apiKey: string | undefined,
  ) {}

  static async start(options: { apiKey?: string } = {}): Promise<FakeLvlmServer> {
    let self: FakeLvlmServer | undefined;
    const server = createServer((req, res) => {
      self!.handle(req, res).catch(() => res.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    self = new FakeLvlmServer(server, `http://127.0.0.1:${port}/v1`, options.apiKey);
    return self;
  }

  /** Behaviours for the next requests, in order; after they are used up the default applies. */
  script(...behaviours: FakeBehaviour[]): void {
    this.queue.push(...behaviours);
  }

  setDefault(behaviour: FakeBehaviour): void {
    this.defaultBehaviour = behaviour;
  }

  /** Requests that arrived and are still open (a hung one, say). */
  openCount(): number {
    return this.open.size;
  }

  async close(): Promise<void> {
    for (const res of this.open) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parts: Buffer[] = [];
    for await (const c of req) parts.push(c as Buffer);
    const behaviour = this.queue.shift() ?? this.defaultBehaviour;
    const rec = await this.record(req, Buffer.concat(parts).toString('utf8'), behaviour);
    this.requests.push(rec);
    this.open.add(res);
    res.on('close', () => this.open.delete(res));

    if (this.apiKey && rec.authorization !== `Bearer ${this.apiKey}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'invalid api key', type: 'authentication_error' } }));
      return;
    }
    if (rec.problems.length > 0) {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: rec.problems.join('; '), type: 'invalid_request_error' } }));
      return;
    }
    await this.respond(res, behaviour);
  }

  private async record(req: IncomingMessage, raw: string, behaviour: FakeBehaviour): Promise<RecordedRequest> {
    const rec: RecordedRequest = {
      path: req.url ?? '',
      authorization: req.headers.authorization,
      body: undefined,
      text: '',
      userText: '',
      images: [],
      problems: [],
      toolsOffered: [],
      toolResults: [],
      behaviour: behaviour.kind,
    };
    if (req.method !== 'POST' || rec.path !== '/v1/chat/completions') rec.problems.push(`unexpected ${req.method} ${rec.path}`);
    if (!String(req.headers['content-type']).includes('application/json')) rec.problems.push('content-type is not JSON');
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      rec.problems.push('body is not JSON');
      return rec;
    }
    if (!body || typeof body !== 'object') {
      rec.problems.push('body is not an object');
      return rec;
    }
    rec.body = body as Record<string, unknown>;
    if (typeof rec.body.model !== 'string') rec.problems.push('model missing');
    if (rec.body.stream !== true) rec.problems.push('stream is not true');
    if (!Array.isArray(rec.body.messages) || rec.body.messages.length === 0) {
      rec.problems.push('messages missing');
      return rec;
    }
    if (rec.body.tools !== undefined) {
      // As OpenAI-compatible servers check it: an array of {type:"function", function:{name, parameters: object}}.
      if (!Array.isArray(rec.body.tools)) rec.problems.push('tools is not an array');
      else
        for (const t of rec.body.tools as { type?: unknown; function?: { name?: unknown; parameters?: unknown } }[]) {
          if (t.type !== 'function' || typeof t.function?.name !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(t.function.name)) rec.problems.push('a tool is not {type:"function", function:{name}}');
          else if (typeof t.function.parameters !== 'object' || t.function.parameters === null || (t.function.parameters as { type?: unknown }).type !== 'object') rec.problems.push(`tool ${t.function.name}: parameters is not an object schema`);
          else rec.toolsOffered.push(t.function.name);
        }
    }
    const texts: string[] = [];
    const userTexts: string[] = [];
    // Tool results must answer calls an earlier assistant message made, each exactly once.
    const pendingCalls = new Map<string, string>();
    for (const m of rec.body.messages as { role?: unknown; content?: unknown; tool_calls?: unknown; tool_call_id?: unknown }[]) {
      if (!['system', 'user', 'assistant', 'tool'].includes(String(m.role))) rec.problems.push(`bad role ${String(m.role)}`);
      if (m.role === 'assistant' && m.tool_calls !== undefined) {
        if (!Array.isArray(m.tool_calls)) rec.problems.push('assistant tool_calls is not an array');
        else
          for (const c of m.tool_calls as { id?: unknown; type?: unknown; function?: { name?: unknown; arguments?: unknown } }[]) {
            if (typeof c.id !== 'string' || c.type !== 'function' || typeof c.function?.name !== 'string' || typeof c.function.arguments !== 'string') rec.problems.push('a tool call is not {id, type:"function", function:{name, arguments}}');
            else pendingCalls.set(c.id, c.function.name);
          }
        if (m.content === null) continue;
      }
      if (m.role === 'tool') {
        const name = typeof m.tool_call_id === 'string' ? pendingCalls.get(m.tool_call_id) : undefined;
        if (name === undefined || typeof m.content !== 'string') {
          rec.problems.push('a tool message answers no pending call, or its content is not a string');
          continue;
        }
        pendingCalls.delete(m.tool_call_id as string);
        let content: unknown = m.content;
        try {
          content = JSON.parse(m.content);
        } catch {
          // kept as text
        }
        rec.toolResults.push({ toolCallId: m.tool_call_id as string, name, content });
        texts.push(m.content);
        continue;
      }
      const content = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content;
      if (!Array.isArray(content)) {
        rec.problems.push('content is neither a string nor an array');
        continue;
      }
      for (const p of content as { type?: unknown; text?: unknown; image_url?: { url?: unknown } }[]) {
        if (p.type === 'text' && typeof p.text === 'string') {
          texts.push(p.text);
          if (m.role === 'user') userTexts.push(p.text);
        } else if (p.type === 'image_url' && typeof p.image_url?.url === 'string') {
          const url = p.image_url.url;
          if (!url.startsWith(JPEG_PREFIX)) {
            rec.problems.push('image is not a data: URL of a JPEG');
            continue;
          }
          const bytes = new Uint8Array(Buffer.from(url.slice(JPEG_PREFIX.length), 'base64'));
          if (bytes[0] !== 0xff || bytes[1] !== 0xd8) rec.problems.push('image data is not JPEG');
          try {
            const { image } = await decodeImage(bytes);
            rec.images.push({ width: image.width, height: image.height, jpeg: bytes });
          } catch (err) {
            rec.problems.push(`image does not decode: ${(err as Error).message}`);
          }
        } else {
          rec.problems.push(`unknown content part ${JSON.stringify(p).slice(0, 80)}`);
        }
      }
    }
    if (pendingCalls.size > 0) rec.problems.push(`tool calls without a result: ${[...pendingCalls.keys()].join(', ')}`);
    if (behaviour.kind === 'tool_calls' && !behaviour.unoffered) {
      for (const c of behaviour.calls) if (!rec.toolsOffered.includes(c.name)) rec.problems.push(`scripted call to ${c.name}, which the request did not offer`);
    }
    if (behaviour.kind === 'no-tools' && rec.body.tools !== undefined) rec.problems.push('tools are not supported by this server (start it with --jinja)');
    rec.text = texts.join('\n');
    rec.userText = userTexts.join('\n');
    return rec;
  }

  private async respond(res: ServerResponse, b: FakeBehaviour): Promise<void> {
    const sse = () => res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const words = this.answer.split(/(?<= )/);
    switch (b.kind) {
      case 'status':
        res.writeHead(b.status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `scripted ${b.status}`, type: 'server_error' } }));
        return;
      case 'hang':
        return; // left open until the client gives up or the server closes
      case 'silent-stream': {
        sse();
        const timer = setInterval(() => res.write(': keep-alive\n\n'), 50);
        res.on('close', () => clearInterval(timer));
        return;
      }
      case 'garbage':
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html>502 Bad Gateway from some proxy</html>');
        return;
      case 'garbage-json':
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"choices": [ {"message": ');
        return;
      case 'json':
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: this.answer }, finish_reason: 'stop' }] }));
        return;
      case 'malformed':
        sse();
        res.write(`data: ${chunk(words[0] ?? 'Hi', null, true)}\n\n`);
        await sleep(5);
        res.end('data: {"choices": [{"delta": {"content": "oops"\n\n');
        return;
      case 'stream-error':
        sse();
        res.end(`data: ${JSON.stringify({ error: { message: 'CUDA out of memory', code: 500 } })}\n\n`);
        return;
      case 'cut':
        sse();
        res.write(`data: ${chunk(words[0] ?? 'Hi', null, true)}\n\n`);
        await sleep(5);
        res.destroy();
        return;
      case 'tool_calls': {
        sse();
        res.write(`data: ${chunk(null, null, true)}\n\n`);
        for (const [index, call] of b.calls.entries()) {
          const piece = (fn: Record<string, string>, first: boolean) =>
            JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 0, model: 'fake', choices: [{ index: 0, delta: { tool_calls: [{ index, ...(first && { id: `call_${this.requests.length}_${index}`, type: 'function' }), function: fn }] }, finish_reason: null }] });
          res.write(`data: ${piece({ name: call.name, arguments: '' }, true)}\n\n`);
          const half = Math.ceil(call.arguments.length / 2);
          for (const part of [call.arguments.slice(0, half), call.arguments.slice(half)]) if (part) res.write(`data: ${piece({ arguments: part }, false)}\n\n`);
        }
        res.write(`data: ${chunk(null, 'tool_calls')}\n\n`);
        res.end('data: [DONE]\n\n');
        return;
      }
      case 'no-tools':
      case 'stream': {
        sse();
        const pieces = (b.kind === 'stream' ? b.chunks : undefined) ?? words;
        // Exercise the framing a real server may produce: a keep-alive comment, a role-only chunk, CRLF
        // line ends, an event split across TCP writes, a JSON payload spread over two data: lines.
        res.write(': keep-alive\n\n');
        res.write(`data: ${chunk(null, null, true)}\r\n\r\n`);
        for (let i = 0; i < pieces.length; i++) {
          if (res.destroyed) return;
          const line = `data: ${chunk(pieces[i]!)}\n\n`;
          if (i === 0) {
            res.write(line.slice(0, 9));
            await sleep(2);
            res.write(line.slice(9));
          } else if (i === 1) {
            const json = chunk(pieces[i]!);
            const cut = json.indexOf('"choices"');
            res.write(`data: ${json.slice(0, cut)}\ndata: ${json.slice(cut)}\n\n`);
          } else {
            res.write(line);
          }
          if (b.kind === 'stream' && b.delayMs) await sleep(b.delayMs);
        }
        res.write(`data: ${chunk(null, 'stop')}\n\n`);
        res.end('data: [DONE]\n\n');
        return;
      }
    }
  }
}
