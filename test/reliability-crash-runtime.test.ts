import { readdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConceptStore } from '@familiar/memory';
import { dataBase64, dataFile } from './support/static-backend.ts';
import { MiB, startFamiliar, type FamiliarProcess } from './support/familiar-process.ts';
import { ok, TestClient } from './support/ws-client.ts';

// The whole `familiar start` (engine worker, camera, sightings, WebSocket service) killed with SIGKILL while a
// client's enrol or forget is in flight: every acknowledged command survives the restart, the one in flight is
// all there or not at all, and the store opens clean. reliability-crash.test.ts does the hundreds of kills.

const CONTROL = 'crash-control-token-0123456789';
const KILLS = 5;

let tmp: string;
let configFile: string;
let store: string;
let photos: Record<string, string[]>;
const running: FamiliarProcess[] = [];

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'familiar-crash-rt-'));
  store = path.join(tmp, 'store');
  configFile = path.join(tmp, 'familiar.yaml');
  await writeFile(
    configFile,
    [
      'server:',
      '  port: 0',
      `  tokens: [ { name: owner, role: control, token: ${CONTROL} } ]`,
      // Sightings are written while commands run: the dog walks past the replay camera.
      'memory: { sightingFlushMs: 50 }',
      'cameras:',
      `  - { id: hall, room: hall, fps: 1, source: { kind: replay, uri: "${dataFile('dreambooth/dog2')}" } }`,
    ].join('\n'),
  );
  photos = {
    person: await Promise.all(['1.jpg', '2.jpg'].map((n) => dataBase64(`faces_5celeb/train/Madonna/${n}`))),
    pet: await Promise.all(['00.jpg', '01.jpg'].map((n) => dataBase64(`dreambooth/dog2/${n}`))),
    object: await Promise.all(['00.jpg', '01.jpg'].map((n) => dataBase64(`dreambooth/can/${n}`))),
  };
});

afterAll(async () => {
  for (const p of running) if (p.proc.exitCode === null) await p.kill();
  await rm(tmp, { recursive: true, force: true });
});

interface Listed {
  id: string;
  name: string;
}

async function start(): Promise<{ rt: FamiliarProcess; client: TestClient }> {
  const rt = await startFamiliar({ configFile, store });
  running.push(rt);
  return { rt, client: await TestClient.connect(rt.url, CONTROL) };
}

describe('SIGKILL of familiar start during WebSocket enrol and forget', () => {
  it(`keeps every acknowledged enrolment and forget across ${KILLS} kills`, async ({ annotate }) => {
    const acked = new Map<string, string>();
    const forgotten = new Set<string>();
    let inFlight: { kind: 'enrol'; name: string } | { kind: 'forget'; id: string } | undefined;
    const enrolMs: number[] = [];
    const rss: number[] = [];
    let landed = 0;
    let killsInFlight = 0;

    for (let round = 0; round <= KILLS; round++) {
      const { rt, client } = await start();
      rss.push(rt.memory().rss);
      const listed = ok(await client.request<{ concepts: Listed[] }>({ type: 'concepts/list' })).concepts;
      const ids = new Set(listed.map((c) => c.id));
      const where = `after kill ${round} (in flight: ${JSON.stringify(inFlight)})`;
      for (const [id, name] of acked) {
        if (inFlight?.kind === 'forget' && inFlight.id === id && !ids.has(id)) {
          acked.delete(id);
          forgotten.add(id);
          landed++;
          continue;
        }
        expect(ids.has(id), `${where}: acknowledged ${name} lost`).toBe(true);
      }
      for (const id of forgotten) expect(ids.has(id), `${where}: forgotten ${id} is back`).toBe(false);
      for (const c of listed) {
        if (acked.has(c.id)) continue;
        expect(inFlight?.kind === 'enrol' && inFlight.name === c.name, `${where}: unacknowledged ${c.name}`).toBe(true);
        acked.set(c.id, c.name);
        landed++;
      }
      // Nothing half-written was found (the runtime would have quarantined it and said so).
      expect(rt.logLines().filter((l) => /quarantin|corrupt/i.test(String(l.msg))), where).toEqual([]);
      expect((await readdir(path.join(store, 'concepts'))).filter((n) => !n.endsWith('.json')), where).toEqual([]);
      if (round === KILLS) {
        client.close();
        expect(await rt.stop()).toBe(0);
        break;
      }

      // One acknowledged enrolment, then a command in flight when the kill lands.
      const kind = (['person', 'pet', 'object'] as const)[round % 3]!;
      const t0 = performance.now();
      const done = ok(
        await client.request<{ concept: Listed }>({ type: 'concepts/enrol', name: `${kind}-${round}`, kind, context: `round ${round}`, photos: photos[kind] }, 60_000),
      );
      enrolMs.push(performance.now() - t0);
      acked.set(done.concept.id, done.concept.name);

      const victims = [...acked.keys()];
      let id: number;
      if (round % 2 === 1 && victims.length > 1) {
        const victim = victims[round % victims.length]!;
        inFlight = { kind: 'forget', id: victim };
        id = client.command({ type: 'concepts/forget', concept_id: victim });
      } else {
        inFlight = { kind: 'enrol', name: `${kind}-${round}-b` };
        id = client.command({ type: 'concepts/enrol', name: inFlight.name, kind, photos: photos[kind] });
      }
      // Anywhere from before the command reaches the engine to after it is written.
      const median = [...enrolMs].sort((a, b) => a - b)[Math.floor(enrolMs.length / 2)]!;
      await new Promise((r) => setTimeout(r, Math.random() * median * 1.2));
      await rt.kill();
      // Answered before the kill: acknowledged after all.
      const answer = client.messages.find((m) => m.type === 'result' && m.id === id);
      if (answer?.type === 'result' && answer.success) {
        if (inFlight.kind === 'forget') {
          acked.delete(inFlight.id);
          forgotten.add(inFlight.id);
        } else {
          acked.set((answer.result as { concept: Listed }).concept.id, inFlight.name);
        }
      }
      if (answer !== undefined) inFlight = undefined;
      else killsInFlight++;
    }

    // The store the runtime left opens clean in another process too.
    const opened = await ConceptStore.open(store);
    try {
      expect(opened.report.quarantined).toEqual([]);
      expect(opened.list().map((c) => c.id).sort()).toEqual([...acked.keys()].sort());
    } finally {
      await opened.close();
    }
    expect(killsInFlight).toBeGreaterThan(0);
    await annotate(
      `${KILLS} kills of familiar start, ${killsInFlight} with the command unanswered; ${acked.size} enrolments kept, ${forgotten.size} forgets kept, ${landed} in-flight commands landed whole; ` +
        `WS enrol median ${Math.round([...enrolMs].sort((a, b) => a - b)[Math.floor(enrolMs.length / 2)]!)} ms; runtime RSS after start ${rss.map((r) => Math.round(r / MiB)).join('/')} MiB`,
    );
  });
});
