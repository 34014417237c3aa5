/**
 * A real MQTT broker (Debian's mosquitto) for the Home Assistant bridge tests, and watchers that subscribe the
 * way Home Assistant does, through mosquitto's own command-line client (an MQTT client independent of the one
 * Familiar uses).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import { findTool } from '@familiar/camera';
import { freePort, stopChild } from '../camera-helpers.ts';
import { eachLine, exited, waitUntil } from './familiar-process.ts';

function tool(name: string): string | null {
  return findTool(name) ?? (existsSync(`/usr/sbin/${name}`) ? `/usr/sbin/${name}` : null);
}

const BROKER = tool('mosquitto');
const SUB = tool('mosquitto_sub');
const PUB = tool('mosquitto_pub');
const RR = tool('mosquitto_rr');

/** Why the broker tests cannot run here, or null when they can. */
export const MOSQUITTO_MISSING: string | null =
  BROKER && SUB && PUB && RR && tool('mosquitto_passwd') ? null : 'mosquitto and mosquitto-clients are not installed (apt-get install mosquitto mosquitto-clients; .ci/run does)';
/** Why the TLS test cannot run here (it also needs openssl to make certificates). */
export const TLS_MISSING: string | null = MOSQUITTO_MISSING ?? (findTool('openssl') ? null : 'openssl is not installed');

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** mosquitto on a free loopback port, without persistence: a restart loses every retained message. */
export class Mosquitto {
  #proc: ChildProcess | null = null;
  log = '';

  private constructor(
    readonly port: number,
    private readonly confFile: string,
  ) {}

  /**
   * `tls`: PEM files of a certificate the broker presents (its listener then speaks only TLS); `passwordFile`: a
   * mosquitto_passwd file, and no anonymous clients.
   */
  static async start(dir: string, options: { tls?: { certFile: string; keyFile: string }; passwordFile?: string } = {}): Promise<Mosquitto> {
    const port = await freePort();
    const confFile = path.join(dir, `mosquitto-${port}.conf`);
    const lines = [
      // Started as root, mosquitto would read the files below as user mosquitto, which cannot enter a 0700 temp dir.
      'user root',
      `listener ${port} 127.0.0.1`,
      options.passwordFile ? `password_file ${options.passwordFile}` : 'allow_anonymous true',
      ...(options.tls ? [`certfile ${options.tls.certFile}`, `keyfile ${options.tls.keyFile}`] : []),
      'persistence false',
      'log_dest stderr',
      'log_type error',
      '',
    ];
    await writeFile(confFile, lines.join('\n'));
    const broker = new Mosquitto(port, confFile);
    await broker.up();
    return broker;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  get tlsUrl(): string {
    return `mqtts://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  async up(): Promise<void> {
    if (this.#proc) return;
    const proc = spawn(BROKER!, ['-c', this.confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    this.#proc = proc;
    await waitUntil(() => portOpen(this.port), 10_000, `mosquitto to listen on ${this.port}`, () => this.log, 50);
  }

  /** SIGKILL: the broker is gone, no goodbye to its clients. */
  async down(): Promise<void> {
    const proc = this.#proc;
    if (!proc) return;
    this.#proc = null;
    proc.kill('SIGCONT');
    await stopChild(proc);
  }

  /** SIGSTOP: connections stay open but nothing is read or acknowledged (a hung broker). */
  pause(): void {
    this.#proc?.kill('SIGSTOP');
  }

  resume(): void {
    this.#proc?.kill('SIGCONT');
  }
}

/** One message as a watcher saw it. */
export interface Seen {
  topic: string;
  payload: Buffer;
  /** Delivered because it was retained when the watcher subscribed. */
  retained: boolean;
  /** MQTT 5 correlation data ('' when none). */
  correlation: string;
}

/** Subscribes like Home Assistant (`#` under the given filters) and keeps every message and the latest per topic. */
export class MqttWatch {
  readonly messages: Seen[] = [];
  readonly #proc: ChildProcess;

  private constructor(proc: ChildProcess) {
    this.#proc = proc;
    eachLine(proc.stdout!, (line) => {
      // Format '%r %t %x %D': retained flag, topic (no spaces in ours), payload as hex, correlation data (ours: a word).
      const m = /^([01]) (\S+) ([0-9a-f]*) (\S*)$/.exec(line);
      if (m) this.messages.push({ retained: m[1] === '1', topic: m[2]!, payload: Buffer.from(m[3]!, 'hex'), correlation: m[4]! });
    });
  }

  static async start(port: number, filters: string[]): Promise<MqttWatch> {
    const args = ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv5', '-F', '%r %t %x %D'];
    for (const f of [...filters, 'familiar-test/#']) args.push('-t', f);
    const watch = new MqttWatch(spawn(SUB!, args, { stdio: ['ignore', 'pipe', 'ignore'] }));
    // Subscribed once a message published now comes back: every retained message arrived before it.
    const marker = `familiar-test/marker/${Math.random().toString(36).slice(2)}`;
    const proc = watch.#proc;
    try {
      await waitUntil(
        async () => {
          if (proc.exitCode !== null) throw new Error(`mosquitto_sub exited (${proc.exitCode})`);
          await publish(port, marker, 'x');
          return watch.messages.some((m) => m.topic === marker);
        },
        15_000,
        'mosquitto_sub to subscribe',
        undefined,
        200,
      );
    } catch (err) {
      await watch.stop();
      throw err;
    }
    return watch;
  }

  /** The latest payload of a topic as text (undefined: nothing yet). */
  latest(topic: string): string | undefined {
    for (let i = this.messages.length - 1; i >= 0; i--) if (this.messages[i]!.topic === topic) return this.messages[i]!.payload.toString();
    return undefined;
  }

  /** The latest non-empty message per topic, minus topics whose latest message is empty (deleted retained). */
  current(): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    for (const m of this.messages) {
      if (m.payload.length === 0) out.delete(m.topic);
      else out.set(m.topic, m.payload);
    }
    return out;
  }

  async waitFor(what: string, cond: (messages: Seen[]) => boolean, timeoutMs = 60_000): Promise<void> {
    await waitUntil(() => cond(this.messages), timeoutMs, what, () => this.messages.slice(-8).map((m) => `${m.topic}=${m.payload.toString().slice(0, 120)}`).join('\n'), 50);
  }

  async stop(): Promise<void> {
    await stopChild(this.#proc);
  }
}

/** One publication (QoS 1), resolved when mosquitto_pub has delivered it. */
export async function publish(port: number, topic: string, payload: string, options: { retain?: boolean; v5?: boolean } = {}): Promise<void> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-q', '1', '-t', topic, '-m', payload];
  if (options.retain) args.push('-r');
  if (options.v5 !== false) args.push('-V', 'mqttv5');
  const proc = spawn(PUB!, args, { stdio: 'ignore' });
  const { code } = await exited(proc);
  if (code !== 0) throw new Error(`mosquitto_pub to ${topic} exited with ${code}`);
}

/**
 * An MQTT 5 request with a response topic and correlation data (mosquitto_rr), resolved with the response
 * payload.
 */
export async function request(port: number, topic: string, payload: string, responseTopic: string, correlation: string, timeoutS = 90): Promise<string> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-t', topic, '-e', responseTopic, '-m', payload, '-D', 'publish', 'correlation-data', correlation, '-W', String(timeoutS)];
  const proc = spawn(RR!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const { code } = await exited(proc);
  if (code !== 0) throw new Error(`mosquitto_rr exited with ${code}: ${err}`);
  return out.trim();
}

/** A throw-away CA and a certificate for 127.0.0.1 signed by it (openssl), in `dir`. */
export async function makeCertificates(dir: string): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  const f = (name: string) => path.join(dir, name);
  const run = async (args: string[]) => {
    const proc = spawn('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const { code } = await exited(proc);
    if (code !== 0) throw new Error(`openssl ${args[0]} failed: ${err}`);
  };
  await writeFile(f('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  await run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=Familiar test CA']);
  await run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1']);
  await run(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.crt'), '-days', '2', '-extfile', f('san.ext')]);
  return { caFile: f('ca.crt'), certFile: f('server.crt'), keyFile: f('server.key') };
}

/** A mosquitto password file with one user. */
export async function makePasswordFile(dir: string, user: string, password: string): Promise<string> {
  const file = path.join(dir, 'passwords');
  await writeFile(file, '', { mode: 0o600 });
  const { code } = await exited(spawn(tool('mosquitto_passwd')!, ['-b', file, user, password], { stdio: 'ignore' }));
  if (code !== 0) throw new Error(`mosquitto_passwd exited with ${code}`);
  return file;
}
