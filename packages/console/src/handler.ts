import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FamiliarError } from '@familiar/contracts';

/** The console's own static files. */
export const CONSOLE_PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url));

/** Handles one plain HTTP request (what `startDialogueServer` takes as `httpHandler`). */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface ConsoleHandlerOptions {
  /** Folder of files to serve (default {@link CONSOLE_PUBLIC_DIR}); read once, when the handler is created. */
  root?: string;
  /** The dialogue service's WebSocket path (`server.path`, default `/ws`): told to the page, and a plain GET of it answers 426. */
  wsPath?: string;
}

/** Same-origin only: scripts, styles and fonts from Familiar itself; frames are data:/blob: images made by the page. */
export const CONSOLE_CSP = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:";

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

/** Where the page learns the WebSocket path; index.html carries the default. */
const WS_PATH_META = '<meta name="familiar-ws-path" content="/ws">';

interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
}

function escapeAttribute(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** URL path → file, for every servable file under root (no dot files, known types only). */
function loadFiles(root: string, wsPath: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const walk = (dir: string, urlDir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        walk(full, `${urlDir}${entry.name}/`);
        continue;
      }
      const type = CONTENT_TYPES[path.extname(entry.name).toLowerCase()];
      if (!entry.isFile() || !type) continue;
      let body = readFileSync(full);
      if (urlDir === '/' && entry.name === 'index.html') {
        body = Buffer.from(body.toString('utf8').replace(WS_PATH_META, `<meta name="familiar-ws-path" content="${escapeAttribute(wsPath)}">`));
      }
      files.set(`${urlDir}${entry.name}`, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` });
    }
  };
  walk(root, '/');
  return files;
}

/** If-None-Match holds one or more tags, possibly weak (W/"…"), or *. */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag === etag || tag === `W/${etag}`;
  });
}

/**
 * Serves the web console's static files for the dialogue server's `httpHandler`. Files are read once and
 * served from memory, so only files that were under `root` at creation can ever be served (no directory
 * traversal, whatever the URL); GET and HEAD only; ETag revalidation (`no-cache`: the files change when
 * Familiar is upgraded and their names carry no version); the console's CSP and other security headers on
 * every answer. Throws INPUT_INVALID when `root` has no index.html.
 */
export function createConsoleHandler(options: ConsoleHandlerOptions = {}): HttpHandler {
  const root = path.resolve(options.root ?? CONSOLE_PUBLIC_DIR);
  const wsPath = options.wsPath ?? '/ws';
  if (!existsSync(root) || !statSync(root).isDirectory() || !existsSync(path.join(root, 'index.html'))) {
    throw new FamiliarError('INPUT_INVALID', `the web console's files are missing: no index.html in ${root}`);
  }
  const files = loadFiles(root, wsPath);

  const plain = (res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}) => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...extra });
    res.end(`${text}\n`);
  };

  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'method not allowed', { allow: 'GET, HEAD' });
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://console.invalid').pathname);
    } catch {
      return plain(res, 400, 'bad request');
    }
    if (pathname === wsPath) return plain(res, 426, 'WebSocket upgrade required');
    const file = files.get(pathname.endsWith('/') ? `${pathname}index.html` : pathname);
    if (!file) return plain(res, 404, 'not found');
    const headers = { ...SECURITY_HEADERS, 'content-type': file.type, 'cache-control': 'no-cache', etag: file.etag };
    if (matchesEtag(req.headers['if-none-match'], file.etag)) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': String(file.body.byteLength) });
    res.end(req.method === 'HEAD' ? undefined : file.body);
  };
}
