import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '@familiar/contracts';
import { TokenVerifier } from '@familiar/dialogue';
import { startHarness } from './support/dialogue-harness.ts';
import { startFamiliar, type FamiliarProcess } from './support/familiar-process.ts';
import { dataBase64 } from './support/static-backend.ts';
import { errorCode, ok, TestClient } from './support/ws-client.ts';

// Who may do what: nothing without a token, viewers never change memory, tokens compared in constant time,
// guessing rate-limited per address, loopback only unless configured. Against the real `familiar start`.

const CONTROL = 'access-control-token-0123456789';
const VIEWER = 'access-viewer-token-0123456789';
const WINDOW_MS = 1500;
const sha256 = (t: string) => createHash('sha256').update(t).digest('hex');

let tmp: string;
let rt: FamiliarProcess;
let store: string;
let photos: string[];

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'familiar-access-'));
  store = path.join(tmp, 'store');
  const configFile = path.join(tmp, 'familiar.yaml');
  // The control token is configured by its hash only: the file holds no secret.
  await writeFile(
    configFile,
    [
      'server:',
      '  port: 0',
      '  maxAuthFailures: 3',
      `  authFailureWindowMs: ${WINDOW_MS}`,
      '  authTimeoutMs: 1000',
      '  tokens:',
      `    - { name: owner, role: control, sha256: ${sha256(CONTROL)} }`,
      `    - { name: tablet, role: viewer, token: ${VIEWER} }`,
      'cameras: []',
    ].join('\n'),
  );
  rt = await startFamiliar({ configFile, store });
  photos = await Promise.all(['00.jpg', '01.jpg'].map((n) => dataBase64(`dreambooth/dog2/${n}`)));
});

afterAll(async () => {
  if (rt && rt.proc.exitCode === null) await rt.kill();
  await rm(tmp, { recursive: true, force: true });
});

/** Connects (from `localAddress`, another loopback address, when given) and sends `first` as the first message. */
async function firstMessage(first: unknown, localAddress?: string): Promise<{ client: TestClient; reply: string; closed: number }> {
  const client = await TestClient.connect(rt.url, undefined, localAddress ? { localAddress } : {});
  client.send(first);
  const reply = await client.waitFor((m) => m.type !== 'auth_required', 5000);
  const closed = (await client.closed).code;
  return { client, reply: reply.type, closed };
}

/** Waits until the failure window of this address has passed (a correct token is accepted again). */
async function windowPassed(): Promise<void> {
  await new Promise((r) => setTimeout(r, WINDOW_MS + 100));
}

const VALID_COMMANDS: Record<string, unknown>[] = [
  { id: 1, type: 'ping' },
  { id: 1, type: 'status' },
  { id: 1, type: 'concepts/list' },
  { id: 1, type: 'concepts/enrol', name: 'Sneaky', kind: 'pet', photos: ['AAAA'] },
  { id: 1, type: 'concepts/update', concept_id: 'x', name: 'Y' },
  { id: 1, type: 'concepts/forget', concept_id: 'x' },
  { id: 1, type: 'ask', question: 'who is home?' },
  { id: 1, type: 'ask/cancel', ask_id: 1 },
  { id: 1, type: 'scene/subscribe' },
  { id: 1, type: 'unsubscribe', subscription: 1 },
];

describe('access control on familiar start', () => {
  it('runs no command without authentication, and closes a connection that never authenticates', async () => {
    for (const cmd of VALID_COMMANDS) {
      const { client, reply, closed } = await firstMessage(cmd);
      expect(reply, String(cmd.type)).toBe('auth_invalid');
      expect(closed).toBe(CLOSE_CODES.AUTH_INVALID);
      expect(client.messages.filter((m) => m.type === 'result' || m.type === 'pong' || m.type === 'event')).toEqual([]);
    }
    const silent = await TestClient.connect(rt.url);
    expect((await silent.closed).code).toBe(CLOSE_CODES.AUTH_TIMEOUT);
    await windowPassed();
  });

  it('slows failed authentication per address with a back-off, never refusing the right token', async () => {
    for (let i = 0; i < 4; i++) expect((await firstMessage({ type: 'auth', access_token: `wrong-token-guess-${i}-xxxxxxxx` })).reply).toBe('auth_invalid');
    // Past the limit the right token is still accepted (after the back-off): a guesser cannot lock the owner out.
    const owner = await TestClient.connect(rt.url, undefined);
    const sent = Date.now();
    owner.send({ type: 'auth', access_token: CONTROL });
    expect((await owner.waitFor((m) => m.type === 'auth_ok' || m.type === 'auth_invalid')).type).toBe('auth_ok');
    expect(Date.now() - sent).toBeGreaterThanOrEqual(200);
    owner.close();
    // Another address is not slowed by this one's failures.
    const other = await TestClient.connect(rt.url, undefined, { localAddress: '127.0.0.2' });
    other.send({ type: 'auth', access_token: CONTROL });
    expect((await other.waitFor((m) => m.type === 'auth_ok' || m.type === 'auth_invalid')).type).toBe('auth_ok');
    other.close();
    await windowPassed();
    const after = await TestClient.connect(rt.url, CONTROL);
    after.close();
    // Neither the guesses nor the real token ever reach the log.
    expect(rt.stderr()).not.toMatch(/wrong-token-guess|access-control-token|access-viewer-token/);
    expect(rt.logLines().filter((l) => l.msg === 'authentication failed').length).toBeGreaterThanOrEqual(4);
  });

  it('lets a viewer ask and list but never enrol, update or forget; the control token may', async () => {
    const viewer = await TestClient.connect(rt.url, VIEWER);
    const owner = await TestClient.connect(rt.url, CONTROL);
    const files = async () => (await readdir(path.join(store, 'concepts'))).sort();
    const before = await files();

    expect(errorCode(await viewer.request({ type: 'concepts/enrol', name: 'Rex', kind: 'pet', photos }))).toBe('FORBIDDEN');
    expect(await files()).toEqual(before);
    const rex = ok(await owner.request<{ concept: { id: string } }>({ type: 'concepts/enrol', name: 'Rex', kind: 'pet', photos }, 120_000)).concept;
    expect(errorCode(await viewer.request({ type: 'concepts/update', concept_id: rex.id, name: 'Stolen' }))).toBe('FORBIDDEN');
    expect(errorCode(await viewer.request({ type: 'concepts/forget', concept_id: rex.id }))).toBe('FORBIDDEN');
    // A duplicate "type" key cannot smuggle a control command past the role check.
    viewer.ws.send(`{"id":100,"type":"ping","type":"concepts/forget","concept_id":"${rex.id}"}`);
    expect(await viewer.resultOf(100)).toMatchObject({ success: false, error: { code: 'FORBIDDEN' } });
    viewer.setNextId(101);
    const listed = ok(await viewer.request<{ concepts: { id: string; name: string }[] }>({ type: 'concepts/list' })).concepts;
    expect(listed).toEqual([expect.objectContaining({ id: rex.id, name: 'Rex' })]);

    ok(await owner.request({ type: 'concepts/update', concept_id: rex.id, name: 'Rex II' }));
    ok(await owner.request({ type: 'concepts/forget', concept_id: rex.id }, 60_000));
    expect(await files()).toEqual(before);
    viewer.close();
    owner.close();
  });

  it('listens on loopback only unless configured otherwise', async () => {
    const { hostname, port } = new URL(rt.url);
    expect(hostname).toBe('127.0.0.1');
    const external = Object.values(os.networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    if (external === undefined) return;
    const reach = (host: string, p: number) =>
      new Promise<string>((resolve) => {
        const s = connect({ host, port: p }, () => {
          s.destroy();
          resolve('connected');
        });
        s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      });
    expect(await reach(external, Number(port))).toBe('ECONNREFUSED');
    // Configured to listen on every interface, it is reachable from the network address too.
    const open = await startHarness({ server: { host: '0.0.0.0' } });
    try {
      expect(await reach(external, open.server.port)).toBe('connected');
    } finally {
      await open.close();
    }
  });
});

describe('token comparison', () => {
  it('takes the same time whichever of 256 tokens matches, or none: no early exit, no length or prefix leak', () => {
    const tokens = Array.from({ length: 256 }, (_, i) => ({ name: `t${i}`, role: 'viewer' as const, token: `token-${String(i).padStart(4, '0')}-${'s'.repeat(40)}` }));
    const verifier = new TokenVerifier(tokens);
    const first = tokens[0]!.token!;
    const last = tokens[255]!.token!;
    const candidates = {
      first,
      last,
      'wrong, same prefix': `${last.slice(0, -1)}x`,
      'wrong, short': 'x',
      'wrong, other': `other-${'q'.repeat(44)}`,
    };
    expect(verifier.verify(first)?.name).toBe('t0');
    expect(verifier.verify(last)?.name).toBe('t255');
    expect(verifier.verify('x')).toBeNull();
    // Interleaved batches, median per candidate: robust to the machine doing other things meanwhile.
    const samples = new Map<string, number[]>(Object.keys(candidates).map((k) => [k, []]));
    for (let round = 0; round < 40; round++) {
      for (const [label, token] of Object.entries(candidates)) {
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < 20; i++) verifier.verify(token);
        samples.get(label)!.push(Number(process.hrtime.bigint() - t0));
      }
    }
    const medians = [...samples.values()].map((s) => s.sort((a, b) => a - b)[s.length >> 1]!);
    // An early exit on the first matching entry would make `first` about 100x faster than `last`.
    expect(Math.max(...medians) / Math.min(...medians)).toBeLessThan(1.5);
  });
});
