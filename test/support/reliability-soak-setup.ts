/**
 * The system under load, shared by reliability-load.test.ts and the long soak script: a real `familiar start`
 * with a replay camera of real photos, a fake OpenAI-compatible LVLM on loopback, a control and a viewer token,
 * and one enrolled pet so scene events and grounded prompts carry a name.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FakeLvlmServer } from './fake-lvlm.ts';
import { startFamiliar, type FamiliarProcess } from './familiar-process.ts';
import { dataBase64, makeReplaySequence } from './static-backend.ts';
import { ok, TestClient } from './ws-client.ts';

const SOAK_CONTROL = 'soak-control-token-0123456789';
export const SOAK_VIEWER = 'soak-viewer-token-0123456789';
export const SOAK_CAMERA = 'living';

export interface SoakSystem {
  rt: FamiliarProcess;
  lvlm: FakeLvlmServer;
  close(): Promise<void>;
}

/** Starts the system; `clients` sizes the server limits so the load itself is not refused. */
export async function startSoakSystem(options: { clients: number; fps: number }): Promise<SoakSystem> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'familiar-soak-'));
  const lvlm = await FakeLvlmServer.start();
  // The dog walks in for six frames, then only the can is there for six: appeared / moved / left, over and over.
  const frames = path.join(tmp, 'frames');
  await makeReplaySequence(frames);
  const configFile = path.join(tmp, 'familiar.yaml');
  await writeFile(
    configFile,
    [
      'server:',
      '  port: 0',
      `  maxClients: ${options.clients + 8}`,
      // All the load's clients connect at once from one address.
      `  maxUnauthenticatedPerAddress: ${options.clients + 8}`,
      `  maxConcurrentAsks: ${options.clients + 8}`,
      '  tokens:',
      `    - { name: owner, role: control, token: ${SOAK_CONTROL} }`,
      `    - { name: tablets, role: viewer, token: ${SOAK_VIEWER} }`,
      `lvlm: { baseUrl: "${lvlm.baseUrl}", model: fake }`,
      'tracking: { maxMissedFrames: 2, maxMissedMs: 1500 }',
      'cameras:',
      `  - { id: ${SOAK_CAMERA}, room: living room, fps: ${options.fps}, source: { kind: replay, uri: "${frames}" } }`,
    ].join('\n'),
  );
  const rt = await startFamiliar({ configFile, store: path.join(tmp, 'store') });
  try {
    const owner = await TestClient.connect(rt.url, SOAK_CONTROL);
    const photos = await Promise.all(['00.jpg', '01.jpg'].map((n) => dataBase64(`dreambooth/dog2/${n}`)));
    ok(await owner.request({ type: 'concepts/enrol', name: 'Biscuit', kind: 'pet', context: 'our spaniel', photos }, 120_000));
    owner.close();
  } catch (err) {
    await rt.kill();
    throw err;
  }
  return {
    rt,
    lvlm,
    async close() {
      if (rt.proc.exitCode === null) await rt.kill();
      await lvlm.close();
      await rm(tmp, { recursive: true, force: true });
    },
  };
}
