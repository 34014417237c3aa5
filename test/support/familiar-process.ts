/**
 * Process plumbing for the tests that run Familiar as a process: start children cheaply, read their memory from /proc, start the
 * real `familiar start` and wait for things.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, symlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { connect, createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { REPO_ROOT } from '@familiar/config';
import { freePort } from '../camera-helpers.ts';

/** Resident and peak resident memory of a process, bytes (Linux /proc; 0 when unknown or gone). */
export interface ProcMemory {
  rss: number;
  peak: number;
}

export function procMemory(pid: number): ProcMemory {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { rss: kib('VmRSS'), peak: kib('VmHWM') };
  } catch {
    return { rss: 0, peak: 0 };
  }
}

export const MiB = 1024 * 1024;

/** The part of esbuild's API used here (esbuild comes with tsx; it is not a direct dependency). */
interface Esbuild {
  build(options: Record<string, unknown>): Promise<unknown>;
}

/**
 * The node arguments that run a TypeScript entry file. Each child of the kill tests would spend ~1 s of CPU in
 * tsx's loader and in transpiling; bundling the entry once with esbuild (tsx's own transpiler) makes a child start
 * in ~0.15 s, which is what lets the suite afford hundreds of kills. The bundle is the very same source. Native
 * addons stay outside the bundle: `node_modules/hnswlib-node` next to it points at the installed package. Falls back
 * to tsx when esbuild cannot be found.
 */
export async function childNodeArgs(entry: string, outDir: string): Promise<string[]> {
  let esbuild: Esbuild;
  try {
    const fromTsx = createRequire(createRequire(path.join(REPO_ROOT, 'package.json')).resolve('tsx/package.json'));
    esbuild = fromTsx('esbuild') as Esbuild;
  } catch {
    return ['--import', 'tsx', entry];
  }
  await mkdir(path.join(outDir, 'node_modules'), { recursive: true });
  const outfile = path.join(outDir, `${path.basename(entry, '.ts')}.mjs`);
  await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    logLevel: 'silent',
    external: ['hnswlib-node', 'sharp', 'onnxruntime-node'],
    // CommonJS dependencies inside an ESM bundle call require().
    banner: { js: "import { createRequire as __familiarRequire } from 'node:module'; const require = __familiarRequire(import.meta.url);" },
  });
  const hnswlib = path.dirname(createRequire(path.join(REPO_ROOT, 'packages/memory/package.json')).resolve('hnswlib-node/package.json'));
  await symlink(hnswlib, path.join(outDir, 'node_modules', 'hnswlib-node')).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  return [outfile];
}

/**
 * Polls `cond` every `intervalMs` until it holds; rejects after `timeoutMs` with `what` (and `detail()` if given).
 * A `cond` that sends a command over the WebSocket needs an interval of 100 ms or more: the server limits each
 * connection to 20 commands a second and answers faster polling with RATE_LIMITED.
 */
export async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  detail?: () => string,
  intervalMs = 25,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `: ${detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Calls `onLine` with each complete line (UTF-8) a child's output stream writes. */
export function eachLine(stream: Readable, onLine: (line: string) => void): void {
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    for (const p of parts) onLine(p);
  });
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const execFileP = promisify(execFile);

/** Runs the `familiar` CLI to the end; a failing run resolves too, with its exit code and output. */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'packages/cli/src/cli.ts'), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      maxBuffer: 16 << 20,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** Resolves when a child has exited (and been reaped), with its code and signal. */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** A running `familiar start`. */
export interface FamiliarProcess {
  proc: ChildProcess;
  pid: number;
  /** ws://127.0.0.1:port/ws */
  url: string;
  /** Everything it wrote to stderr (its JSON log lines). */
  stderr(): string;
  /** Its log lines, parsed (a line that is not JSON fails the caller's assertions by showing up as {unparsed}). */
  logLines(): Record<string, unknown>[];
  memory(): ProcMemory;
  /** SIGKILL, resolved once reaped. */
  kill(): Promise<void>;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export interface StartOptions {
  /** YAML file merged over the ci profile. */
  configFile: string;
  store: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Spawns the real `familiar start --profile ci` and waits for its "listening on" line. */
export async function startFamiliar(options: StartOptions): Promise<FamiliarProcess> {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(REPO_ROOT, 'packages/cli/src/cli.ts'), 'start', '--profile', 'ci', '--config', options.configFile, '--store', options.store],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } },
  );
  let err = '';
  let out = '';
  // Parsed once as each line completes (reliability-faults polls the log every 25 ms); `partial` is the unfinished last line.
  const lines: Record<string, unknown>[] = [];
  let partial = '';
  const parse = (l: string): Record<string, unknown> => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      return { unparsed: l };
    }
  };
  proc.stderr!.on('data', (d: Buffer) => {
    const text = d.toString();
    err += text;
    const parts = (partial + text).split('\n');
    partial = parts.pop()!;
    for (const l of parts) if (l.trim() !== '') lines.push(parse(l));
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`familiar start did not come up: ${err.slice(-2000)}`));
    }, options.timeoutMs ?? 60_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (wss?:\/\/\S+?)[;\s]/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`familiar start exited (${code ?? signal}): ${err.slice(-2000)}`));
    });
  });
  return {
    proc,
    pid: proc.pid!,
    url,
    stderr: () => err,
    logLines: () => (partial.trim() === '' ? lines : [...lines, parse(partial)]),
    memory: () => procMemory(proc.pid!),
    async kill() {
      const done = exited(proc);
      proc.kill('SIGKILL');
      await done;
    },
    async stop() {
      const done = exited(proc);
      proc.kill('SIGTERM');
      return (await done).code;
    },
  };
}

/** Pids of the direct children of `pid` whose command line contains `match` (Linux /proc). */
export function childPids(pid: number, match: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== pid) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').includes(match)) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * A TCP port that forwards to `target` while up and refuses connections while down: an LVLM server that
 * goes away and comes back at the same address.
 */
export class SwitchablePort {
  readonly port: number;
  readonly #target: number;
  #server: Server | null = null;
  readonly #sockets = new Set<Socket>();

  private constructor(port: number, target: number) {
    this.port = port;
    this.#target = target;
  }

  static async start(target: number): Promise<SwitchablePort> {
    const sw = new SwitchablePort(await freePort(), target);
    await sw.up();
    return sw;
  }

  async up(): Promise<void> {
    if (this.#server) return;
    const server = createServer((client) => {
      const upstream = connect(this.#target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', () => resolve()));
    this.#server = server;
  }

  /** Stops listening and cuts every open connection. */
  async down(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = null;
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
