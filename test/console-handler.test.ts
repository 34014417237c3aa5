/**
 * The web console's static file handler, served by the real dialogue server on a loopback port next to the
 * WebSocket service: content types, cache validation, security headers, no directory traversal.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FamiliarError } from '@familiar/contracts';
import { CONSOLE_CSP, CONSOLE_PUBLIC_DIR, createConsoleHandler } from '../packages/console/src/index.ts';
import { CONTROL_TOKEN, startHarness, type Harness } from './support/dialogue-harness.ts';
import { TestClient, ok } from './support/ws-client.ts';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A request with the path exactly as given: fetch() would normalise "..", a browser too, an attacker's client not. */
function raw(base: URL, pathAndQuery: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: base.hostname, port: base.port, path: pathAndQuery, method: options.method ?? 'GET', headers: options.headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end();
  });
}

let h: Harness;
let base: URL;

beforeAll(async () => {
  h = await startHarness({ server: { path: '/api/ws' }, httpHandler: createConsoleHandler({ wsPath: '/api/ws' }) });
  base = new URL(h.url.replace('ws://', 'http://'));
});
afterAll(async () => {
  await h?.close();
});

describe('console handler', () => {
  it('serves the page with the WebSocket path, security headers and a validator', async () => {
    const res = await raw(base, '/');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toBe("default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:");
    expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.headers.etag).toMatch(/^"[\w-]+"$/);
    const html = res.body.toString('utf8');
    expect(html).toContain('<meta name="familiar-ws-path" content="/api/ws">');
    expect(html).not.toMatch(/https?:\/\//); // nothing from a CDN: the console works offline
    expect((await raw(base, '/index.html')).body.equals(res.body)).toBe(true);
  });

  it('serves every file the page and its modules refer to, with the right content type', async () => {
    const html = (await raw(base, '/')).body.toString('utf8');
    const refs = [...html.matchAll(/(?:src|href)="([^"#]+)"/g)].map((m) => m[1]!);
    const seen = new Set<string>();
    const queue = refs.map((r) => `/${r}`);
    while (queue.length) {
      const url = queue.shift()!;
      if (seen.has(url)) continue;
      seen.add(url);
      const res = await raw(base, url);
      expect(res.status, url).toBe(200);
      if (url.endsWith('.js')) {
        expect(res.headers['content-type']).toBe('text/javascript; charset=utf-8');
        const text = res.body.toString('utf8');
        expect(text, `${url} loads nothing from elsewhere`).not.toMatch(/(?:from|import\()\s*['"]https?:/);
        for (const m of text.matchAll(/^import [^'"]*['"]\.\/([\w-]+\.js)['"]/gm)) queue.push(`/${m[1]}`);
      }
    }
    expect([...seen].sort()).toEqual(['/app.js', '/ask.js', '/capture.js', '/client.js', '/console.css', '/correct.js', '/dom.js', '/household.js', '/icon.svg', '/live.js', '/memory.js']);
    expect((await raw(base, '/console.css')).headers['content-type']).toBe('text/css; charset=utf-8');
    expect((await raw(base, '/icon.svg')).headers['content-type']).toBe('image/svg+xml');
  });

  it('answers If-None-Match with 304 and HEAD without a body', async () => {
    const first = await raw(base, '/app.js');
    const etag = String(first.headers.etag);
    const again = await raw(base, '/app.js', { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    expect((await raw(base, '/app.js', { headers: { 'if-none-match': `"other", W/${etag}` } })).status).toBe(304);
    expect((await raw(base, '/app.js', { headers: { 'if-none-match': '"other"' } })).status).toBe(200);
    const head = await raw(base, '/app.js', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(first.body.length));
    expect(head.body.length).toBe(0);
  });

  it('never serves anything outside its folder', async () => {
    for (const p of [
      '/../package.json',
      '/../src/handler.ts',
      '/%2e%2e/package.json',
      '/..%2f..%2fpackage.json',
      '/%2e%2e%2f%2e%2e%2f%2e%2e%2fpackage.json',
      '//etc/passwd',
      '/..\\..\\package.json',
      '/public/index.html',
      '/index.html%00.js',
      '/tsconfig.json',
    ]) {
      const res = await raw(base, p);
      expect(res.status, p).toBe(404);
      expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
      expect(res.body.toString()).toBe('not found\n');
    }
    expect((await raw(base, '/%E0%A4%A')).status).toBe(400);
  });

  it('refuses other methods, answers the WebSocket path with 426, and the WebSocket service still works', async () => {
    const post = await raw(base, '/', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect((await raw(base, '/api/ws')).status).toBe(426);
    const c = await TestClient.connect(h.url, CONTROL_TOKEN);
    expect(ok(await c.request<{ concepts: unknown[] }>({ type: 'concepts/list' })).concepts.length).toBe(4);
    c.close();
  });

  it('serves only known file types, no dot files, from a given folder; refuses a folder without index.html', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'familiar-console-'));
    writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>x</title>');
    writeFileSync(path.join(dir, '.env'), 'SECRET=1');
    writeFileSync(path.join(dir, 'tool.exe'), 'MZ');
    mkdirSync(path.join(dir, 'sub'));
    writeFileSync(path.join(dir, 'sub', 'x.js'), 'export {};');
    const handler = createConsoleHandler({ root: dir });
    const { createServer } = await import('node:http');
    const server = createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const addr = server.address() as { port: number };
      const b = new URL(`http://127.0.0.1:${addr.port}`);
      expect((await raw(b, '/sub/x.js')).status).toBe(200);
      expect((await raw(b, '/.env')).status).toBe(404);
      expect((await raw(b, '/tool.exe')).status).toBe(404);
      expect((await raw(b, '/sub/')).status).toBe(404);
      expect((await raw(b, '/ws')).status).toBe(426);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    const empty = mkdtempSync(path.join(tmpdir(), 'familiar-console-empty-'));
    expect(() => createConsoleHandler({ root: empty })).toThrow(FamiliarError);
    expect(() => createConsoleHandler({ root: path.join(empty, 'missing') })).toThrow(/no index.html/);
    expect(readFileSync(path.join(CONSOLE_PUBLIC_DIR, 'index.html'), 'utf8')).toContain('<meta name="familiar-ws-path" content="/ws">');
  });
});
