import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FamiliarError, type LogLevel } from '@familiar/contracts';
import { loadConfig } from '@familiar/config';
import { EngineClient } from '@familiar/runtime';
import { dataFile } from './support/static-backend.ts';

// The engine worker as the live runtime runs it: its log reaches the main thread, errors keep their details, and
// the concept list on the main thread follows every change without being fetched again.

let tmp: string;
let engine: EngineClient;
const logged: { level: LogLevel; msg: string; fields: Record<string, unknown> | undefined }[] = [];

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'familiar-engine-worker-'));
  const store = path.join(tmp, 'store');
  // A concept file that fails its integrity check: opening the store quarantines it and says so.
  await mkdir(path.join(store, 'concepts'), { recursive: true });
  await writeFile(path.join(store, 'concepts', 'broken.json'), '{"not": "an envelope"');
  const config = loadConfig({ profile: 'ci', env: { FAMILIAR_STORE_DIR: store } });
  engine = await EngineClient.start(config, (level, msg, fields) => logged.push({ level, msg, fields }));
});

afterAll(async () => {
  await engine?.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('the engine worker', () => {
  it("passes the store's repair log lines to the runtime's logger", () => {
    expect(logged).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'quarantined a corrupt concept file', fields: expect.objectContaining({ file: expect.stringContaining('broken.json') }) }));
  });

  it('keeps FamiliarError details across the thread boundary', async () => {
    const err = await engine.api.cancelTrigger('no-such-trigger').then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FamiliarError);
    expect(err).toMatchObject({ code: 'NOT_FOUND', details: { id: 'no-such-trigger' } });
    expect((err as FamiliarError).toJSON()).toEqual({ code: 'NOT_FOUND', message: (err as FamiliarError).message, details: { id: 'no-such-trigger' } });
  });

  it('refuses a name that is not an engine method', async () => {
    const call = engine.call.bind(engine) as (method: string) => Promise<unknown>;
    await expect(call('toString')).rejects.toMatchObject({ code: 'INTERNAL' });
  });

  it('keeps the concept list current from the replies of the calls that change it', async () => {
    expect(engine.concepts).toEqual([]);
    const photos = await Promise.all(['00.jpg', '01.jpg'].map(async (n) => ({ bytes: await readFile(dataFile(`dreambooth/dog2/${n}`)), origin: n })));
    const { concept } = await engine.api.enrol({ name: 'Biscuit', kind: 'pet', context: '', photos });
    expect(engine.concepts).toEqual([concept]);
    const renamed = await engine.api.update(concept.id, { name: 'Crumble' });
    expect(engine.concepts).toEqual([renamed]);
    // What the worker itself lists agrees with the list kept here.
    expect(await engine.api.list()).toEqual(engine.concepts);
    await engine.api.forget(concept.id);
    expect(engine.concepts).toEqual([]);
  });
});
