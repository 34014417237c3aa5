import type { ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FamiliarError } from '@familiar/contracts';
import { loadConfig, REPO_ROOT } from '@familiar/config';
import { ConceptStore } from '@familiar/memory';
import { EngineClient } from '@familiar/runtime';
import { mountTinyTmpfs } from '../packages/memory/src/test-helpers.ts';
import { DATA, freePort, HAVE_FFMPEG, makeClip, startFfmpeg, stopChild } from './camera-helpers.ts';
import { FakeLvlmServer } from './support/fake-lvlm.ts';
import { childPids, startFamiliar, SwitchablePort, waitUntil, type FamiliarProcess } from './support/familiar-process.ts';
import { dataBase64 } from './support/static-backend.ts';
import { errorCode, ok, TestClient } from './support/ws-client.ts';

// Things break in a home: a camera is unplugged, ffmpeg dies or freezes, the LVLM box is off or answers garbage,
// the disk fills up, someone copies the wrong model file. Each is reported, survived, and recovered from without
// restarting Familiar where that is possible. Against the real `familiar start` (and the real engine worker).

const CONTROL = 'faults-control-token-0123456789';
/** Polling interval for conditions that ask the server (well inside its 20 commands/s per-connection limit). */
const POLL_MS = 150;
const FAST = '{ startTimeoutMs: 4000, stallTimeoutMs: 1500, restartInitialMs: 100, restartMaxMs: 400, restartJitter: 0.2 }';

interface CameraStatus {
  id: string;
  state: string;
  last_frame_at: number | null;
  last_error: string | null;
}

let tmp: string;
let clip: string;
let lvlm: FakeLvlmServer;
let lvlmPort: SwitchablePort;
let doorServer: ChildProcess | null = null;
let doorUrl: string;
let rt: FamiliarProcess;
let client: TestClient;
let store: string;
let unmount: (() => void) | undefined;

const serveDoor = () => startFfmpeg(['-re', '-stream_loop', '-1', '-i', clip, '-c:v', 'copy', '-f', 'mpjpeg', '-listen', '1', doorUrl]);

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'familiar-faults-'));
  if (!HAVE_FFMPEG) return;
  clip = makeClip(path.join(DATA, 'dreambooth/dog2/*.jpg'), path.join(tmp, 'dog.mkv'), 4);
  doorUrl = `http://127.0.0.1:${await freePort()}/cam`;
  doorServer = serveDoor();
  lvlm = await FakeLvlmServer.start();
  lvlmPort = await SwitchablePort.start(Number(new URL(lvlm.baseUrl).port));
  // The store lives on a small tmpfs so the disk can really fill up (where mounting is permitted).
  store = path.join(tmp, 'store');
  await mkdir(store);
  unmount = mountTinyTmpfs(store, 4096, 'mode=0700');
  const configFile = path.join(tmp, 'familiar.yaml');
  await writeFile(
    configFile,
    [
      'server:',
      '  port: 0',
      `  tokens: [ { name: owner, role: control, token: ${CONTROL} } ]`,
      `lvlm: { baseUrl: "http://127.0.0.1:${lvlmPort.port}/v1", model: fake, retries: 0, connectTimeoutMs: 1000, firstTokenTimeoutMs: 1500, totalTimeoutMs: 6000 }`,
      'cameras:',
      `  - { id: door, room: hallway, fps: 2, source: { kind: ffmpeg, uri: "${doorUrl}" }, supervision: ${FAST} }`,
      `  - { id: hall, room: hall, fps: 2, source: { kind: ffmpeg, uri: "${clip}" }, supervision: ${FAST} }`,
    ].join('\n'),
  );
  rt = await startFamiliar({ configFile, store });
  client = await TestClient.connect(rt.url, CONTROL);
});

afterAll(async () => {
  client?.close();
  if (rt && rt.proc.exitCode === null) await rt.kill();
  if (doorServer) await stopChild(doorServer);
  await lvlmPort?.down();
  await lvlm?.close();
  unmount?.();
  await rm(tmp, { recursive: true, force: true });
});

async function cameras(): Promise<Map<string, CameraStatus>> {
  const status = ok(await client.request<{ backend: { cameras: CameraStatus[] } }>({ type: 'status' }));
  return new Map(status.backend.cameras.map((c) => [c.id, c]));
}

/** Resolves once `camera` has processed a frame captured after `since`. */
async function framesAfter(camera: string, since: number, timeoutMs = 30_000): Promise<void> {
  await waitUntil(async () => ((await cameras()).get(camera)?.last_frame_at ?? 0) > since, timeoutMs, `${camera} to process a frame again`, () => rt.stderr().slice(-1500), POLL_MS);
}

function logged(camera: string, state: string, after: number): boolean {
  return rt.logLines().some((l) => l.msg === `camera ${camera} ${state}` && Date.parse(String(l.t)) >= after);
}

async function ping(): Promise<void> {
  const id = client.command({ type: 'ping' });
  await client.waitFor((m) => m.type === 'pong' && m.id === id, 5000);
}

describe.skipIf(!HAVE_FFMPEG)('faults survived by familiar start, without a restart', () => {
  it('a camera unplugged and plugged back, its ffmpeg killed, its stream frozen: reported and recovered', async () => {
    await framesAfter('door', 0, 60_000);
    await framesAfter('hall', 0, 60_000);

    // Unplugged: the network camera goes away. The other camera and the service carry on.
    const unplugged = Date.now();
    await stopChild(doorServer!);
    await waitUntil(async () => (await cameras()).get('door')!.state !== 'streaming', 15_000, 'door to notice', undefined, POLL_MS);
    const door = (await cameras()).get('door')!;
    expect(door.last_error).toMatch(/CAMERA_/);
    await framesAfter('hall', Date.now());
    await ping();
    // Plugged back at the same address: the camera reconnects by itself.
    const replugged = Date.now();
    doorServer = serveDoor();
    await framesAfter('door', replugged);
    expect(logged('door', 'restarting', unplugged) || logged('door', 'stalled', unplugged) || logged('door', 'failed', unplugged)).toBe(true);

    // ffmpeg crashes.
    const [first] = childPids(rt.pid, clip);
    expect(first).toBeDefined();
    const killed = Date.now();
    process.kill(first!, 'SIGKILL');
    await waitUntil(() => logged('hall', 'restarting', killed), 10_000, 'hall to report the crash');
    await framesAfter('hall', killed);
    const [second] = childPids(rt.pid, clip);
    expect(second).not.toBe(first);

    // ffmpeg freezes (a USB camera that stops delivering): detected as stalled, replaced.
    const frozen = Date.now();
    process.kill(second!, 'SIGSTOP');
    await waitUntil(() => logged('hall', 'stalled', frozen), 15_000, 'hall to report the stall');
    await framesAfter('hall', frozen);
    await waitUntil(() => !childPids(rt.pid, clip).includes(second!), 5000, 'the frozen ffmpeg to be gone');
    await ping();
  });

  it('the LVLM down, hanging, silent, erroring or answering garbage: the grounded answer says why; back up, it is used again', async () => {
    await framesAfter('hall', 0);
    const ask = () => client.request<{ source: string; answer: string; lvlm_error?: { code: string } }>({ type: 'ask', question: 'What is going on here?', camera_id: 'hall' }, 30_000);
    expect(ok(await ask()).source).toBe('lvlm');

    const cases: [string, () => Promise<void> | void, string][] = [
      ['down', () => lvlmPort.down(), 'LVLM_UNAVAILABLE'],
      ['hanging', async () => (await lvlmPort.up(), lvlm.script({ kind: 'hang' })), 'LVLM_TIMEOUT'],
      ['silent after the headers', () => lvlm.script({ kind: 'silent-stream' }), 'LVLM_TIMEOUT'],
      ['HTTP 500', () => lvlm.script({ kind: 'status', status: 500 }), 'LVLM_UNAVAILABLE'],
      ['HTTP 200 with an HTML page', () => lvlm.script({ kind: 'garbage' }), 'LVLM_BAD_RESPONSE'],
      ['truncated JSON', () => lvlm.script({ kind: 'garbage-json' }), 'LVLM_BAD_RESPONSE'],
      ['an error inside the stream', () => lvlm.script({ kind: 'stream-error' }), 'LVLM_UNAVAILABLE'],
    ];
    for (const [what, fault, code] of cases) {
      await fault();
      const res = ok(await ask());
      expect({ what, source: res.source, code: res.lvlm_error?.code }).toEqual({ what, source: 'grounded', code });
      expect(res.answer.length).toBeGreaterThan(0);
    }
    // Every failure is in the log, with its code.
    const logged = rt.logLines().filter((l) => typeof l.msg === 'string' && l.msg.startsWith('LVLM failed')).map((l) => l.code);
    expect(logged).toEqual(cases.map(([, , code]) => code));
    // Broken after part of the answer was streamed: a typed error, never two answers glued together.
    lvlm.script({ kind: 'cut' });
    expect(['LVLM_BAD_RESPONSE', 'LVLM_UNAVAILABLE']).toContain(errorCode(await ask()));
    // Healthy again: used again, no restart.
    const back = ok(await ask());
    expect(back.source).toBe('lvlm');
    expect(back.answer).toBe(lvlm.answer);
    await ping();
  });

  it('a full disk: the write fails with STORE_IO and leaves nothing behind; with space back it works, and kept what was acknowledged', async (ctx) => {
    if (!unmount) return ctx.skip('cannot mount a tmpfs here (needs root)');
    const photos = await Promise.all(['00.jpg', '01.jpg'].map((n) => dataBase64(`dreambooth/dog2/${n}`)));
    const first = ok(await client.request<{ concept: { id: string } }>({ type: 'concepts/enrol', name: 'Biscuit', kind: 'pet', photos }, 120_000)).concept;
    // Fill the disk to the last byte.
    const filler = path.join(store, 'filler');
    const fh = await open(filler, 'w');
    const chunk = Buffer.alloc(64 * 1024, 1);
    try {
      for (let size = chunk.length; size >= 1; ) {
        try {
          await fh.write(chunk, 0, size);
        } catch {
          size = Math.floor(size / 2);
        }
      }
    } finally {
      await fh.close();
    }
    const failed = await client.request({ type: 'concepts/enrol', name: 'Crumble', kind: 'pet', photos }, 120_000);
    expect(errorCode(failed)).toBe('STORE_IO');
    // The errno crosses the engine worker and the WebSocket, as the README's fault table says.
    expect(failed.result.success ? null : failed.result.error.details).toMatchObject({ errno: 'ENOSPC' });
    const listed = ok(await client.request<{ concepts: { id: string; name: string }[] }>({ type: 'concepts/list' })).concepts;
    expect(listed.map((c) => c.name)).toEqual(['Biscuit']);
    expect((await readdir(path.join(store, 'concepts'))).filter((n) => n.includes('.tmp-'))).toEqual([]);
    // The pipeline does not stop for a full disk.
    await framesAfter('hall', Date.now());
    await ping();

    await unlink(filler);
    const second = ok(await client.request<{ concept: { id: string } }>({ type: 'concepts/enrol', name: 'Crumble', kind: 'pet', photos }, 120_000)).concept;
    client.close();
    expect(await rt.stop()).toBe(0);
    const reopened = await ConceptStore.open(store, { readOnly: true });
    expect(reopened.list().map((c) => c.id).sort()).toEqual([first.id, second.id].sort());
    expect(reopened.report.skippedFiles).toEqual([]);
  });
});

describe('a model file replaced with a wrong one', () => {
  let models: string;
  const FACE = 'face_embedding_mobilefacenet_128d.onnx';
  const WRONG = 'object_detection_yolox_nano_416.onnx';
  const shared = path.resolve(REPO_ROOT, '../shared/models');

  beforeAll(async () => {
    models = path.join(tmp, 'models');
    await mkdir(models);
    for (const f of await readdir(shared)) await symlink(path.join(shared, f), path.join(models, f));
    await unlink(path.join(models, FACE));
    await copyFile(path.join(shared, FACE), path.join(models, FACE));
  });

  it('refuses to start, naming the file; and a running engine that loses its worker keeps retrying until the file is right again', async () => {
    await copyFile(path.join(shared, WRONG), path.join(models, FACE));
    const configFile = path.join(tmp, 'models.yaml');
    await writeFile(configFile, ['server: { port: 0 }', 'cameras: []'].join('\n'));
    const refused = await startFamiliar({ configFile, store: path.join(tmp, 'store-models'), env: { FAMILIAR_MODELS_DIR: models } }).then(
      () => null,
      (err: Error) => err.message,
    );
    expect(refused).toMatch(/MODEL_HASH_MISMATCH/);
    expect(refused).toContain(FACE);
    await copyFile(path.join(shared, FACE), path.join(models, FACE));

    // The engine worker, as the runtime runs it, in this process.
    const config = loadConfig({ profile: 'ci', env: { FAMILIAR_MODELS_DIR: models, FAMILIAR_STORE_DIR: path.join(tmp, 'store-engine') } });
    const engine = await EngineClient.start(config);
    const crashes: FamiliarError[] = [];
    let restarted = 0;
    engine.on('crashed', (e) => crashes.push(e));
    engine.on('restarted', () => restarted++);
    try {
      expect(await engine.call('list')).toEqual([]);
      // Someone copies the wrong file over the face model; the running sessions are unaffected...
      await copyFile(path.join(shared, WRONG), path.join(models, FACE));
      expect(await engine.call('list')).toEqual([]);
      // ...until the worker has to start again (it ends here through its close method, behind the client's back).
      await engine.call('close').catch(() => undefined);
      await waitUntil(() => crashes.some((e) => e.code === 'MODEL_HASH_MISMATCH'), 60_000, 'the failed restart to be reported');
      // While it is down, calls fail at once instead of waiting on a dead thread.
      const t0 = performance.now();
      await expect(engine.call('list')).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
      expect(performance.now() - t0).toBeLessThan(100);
      // The right file is back: a later retry brings the engine back, no restart of the process.
      await copyFile(path.join(shared, FACE), path.join(models, FACE));
      await waitUntil(() => restarted > 0, 60_000, 'the engine to come back');
      expect(await engine.call('list')).toEqual([]);
    } finally {
      await engine.close();
    }
  });
});
