import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FamiliarError } from '@familiar/contracts';
import { TriggerStore, type AppearanceEvent, type TriggerOptions } from './triggers.ts';
import { caught, errorCode, makeTempDir, removeDir } from './test-helpers.ts';

const DAY = 24 * 60 * 60 * 1000;
const T0 = Date.UTC(2026, 2, 1, 9);
let dir: string;
let file: string;
let clock = T0;
let store: TriggerStore | undefined;

beforeEach(async () => {
  dir = await makeTempDir();
  file = path.join(dir, 'triggers.json');
  clock = T0;
});
afterEach(async () => {
  await store?.close();
  store = undefined;
  await removeDir(dir);
});

async function open(options: TriggerOptions = {}): Promise<TriggerStore> {
  store = await TriggerStore.open(file, { now: () => clock, ...options });
  return store;
}

/** What kill -9 leaves: the store dropped without close(), then opened again. */
async function reopen(options: TriggerOptions = {}): Promise<TriggerStore> {
  store = undefined;
  return open(options);
}

const appear = (conceptId: string, at: number, room = 'Living Room', cameraId = 'cam-living'): AppearanceEvent => ({ conceptId, cameraId, room, at });

describe('TriggerStore', () => {
  it('fires a once-trigger once and retires it, also across a restart', async () => {
    const s = await open();
    const t = await s.add({ conceptId: 'grandma', message: 'Remember to call the doctor.', createdBy: 'anna' });
    expect(t).toMatchObject({ once: true, firedCount: 0, cooldownMs: 600_000 });
    expect(await s.onAppeared(appear('billy', T0))).toEqual([]);
    const fired = await s.onAppeared(appear('grandma', T0 + 1000));
    expect(fired).toMatchObject([{ id: t.id, firedCount: 1, lastFiredAt: T0 + 1000 }]);
    expect(await s.onAppeared(appear('grandma', T0 + 2 * DAY))).toEqual([]);
    expect(s.list()).toEqual([]);
    expect((await reopen()).list()).toEqual([]);
  });

  it('fires an every-time trigger outside its cooldown only, and persists the firing', async () => {
    const s = await open();
    const t = await s.add({ conceptId: 'anna', message: 'hello', createdBy: 'phone', once: false, cooldownMs: 60_000 });
    // Two appearances racing (a flickering track, two cameras): only one fires.
    const [a, b] = await Promise.all([s.onAppeared(appear('anna', T0)), s.onAppeared(appear('anna', T0 + 10, 'hall', 'cam-hall'))]);
    expect(a.length + b.length).toBe(1);
    expect(await s.onAppeared(appear('anna', T0 + 59_000))).toEqual([]);
    expect(await s.onAppeared(appear('anna', T0 - 30_000))).toEqual([]); // out of order, still within the cooldown
    expect(await s.onAppeared(appear('anna', T0 + 61_000))).toHaveLength(1);
    const again = await reopen();
    expect(again.get(t.id)).toMatchObject({ firedCount: 2, lastFiredAt: T0 + 61_000 });
    expect(await again.onAppeared(appear('anna', T0 + 100_000))).toEqual([]);
  });

  it('respects room (case- and accent-insensitive) and camera filters', async () => {
    const s = await open();
    const room = await s.add({ conceptId: 'billy', message: 'Billy is in the living room.', createdBy: 'anna', room: 'living room', once: false });
    const cam = await s.add({ conceptId: 'billy', message: 'Billy at the door', createdBy: 'anna', cameraId: 'cam-door', once: false });
    expect(await s.onAppeared(appear('billy', T0, 'kitchen', 'cam-kitchen'))).toEqual([]);
    expect((await s.onAppeared(appear('billy', T0, 'LIVING ROOM', 'cam-living'))).map((t) => t.id)).toEqual([room.id]);
    expect((await s.onAppeared(appear('billy', T0, 'hall', 'cam-door'))).map((t) => t.id)).toEqual([cam.id]);
  });

  it('lists, cancels (NOT_FOUND for an unknown id) and rejects bad input and a full store', async () => {
    const s = await open({ maxTriggers: 2, checkConcept: (id) => {
      if (id === 'ghost') throw new FamiliarError('CONCEPT_NOT_FOUND', id);
    } });
    const a = await s.add({ conceptId: 'anna', message: 'a', createdBy: 'x', createdAt: T0 });
    await s.add({ conceptId: 'billy', message: 'b', createdBy: 'y', createdAt: T0 + 1 });
    expect(s.list({ createdBy: 'y' }).map((t) => t.message)).toEqual(['b']);
    const full = await caught(s.add({ conceptId: 'anna', message: 'c', createdBy: 'x' }));
    expect(full.code).toBe('INPUT_INVALID');
    expect(full.details).toMatchObject({ reason: 'cap', cap: 2 });
    expect((await s.cancel(a.id)).id).toBe(a.id);
    expect(await errorCode(s.cancel(a.id))).toBe('NOT_FOUND');
    expect(await errorCode(s.add({ conceptId: 'ghost', message: 'x', createdBy: 'x' }))).toBe('CONCEPT_NOT_FOUND');
    expect(await errorCode(s.add({ conceptId: 'anna', message: '', createdBy: 'x' }))).toBe('INPUT_INVALID');
    expect(await errorCode(s.add({ conceptId: 'anna', message: 'x', createdBy: 'x', cooldownMs: -1 }))).toBe('INPUT_INVALID');
    expect(await errorCode(s.onAppeared({ conceptId: 'anna' } as AppearanceEvent))).toBe('INPUT_INVALID');
    expect((await reopen()).list().map((t) => t.message)).toEqual(['b']);
  });

  it('expires triggers after retention, and erases a concept (its triggers, those it made, its name elsewhere)', async () => {
    const s = await open({ retentionDays: 10 });
    await s.add({ conceptId: 'grandma', message: 'Call the doctor', createdBy: 'anna' });
    await s.add({ conceptId: 'billy', message: 'Billy is here', createdBy: 'grandma' });
    await s.add({ conceptId: 'anna', message: "Tell Anna that Grandma's cake is ready", createdBy: 'tom' });
    const stays = await s.add({ conceptId: 'tom', message: 'hi', createdBy: 'anna', createdAt: T0 + 5 * DAY });
    expect(await s.removeConcept('grandma', ['Grandma'])).toEqual({ deleted: 2, edited: 1 });
    expect(s.list({ conceptId: 'anna' })[0]!.message).toBe("Tell Anna that someone's cake is ready");
    expect(await readFile(file, 'utf8')).not.toMatch(/grandma/i);
    clock = T0 + 11 * DAY;
    expect(await s.prune()).toBe(1);
    expect(s.list().map((t) => t.id)).toEqual([stays.id]);
  });

  it('quarantines a corrupt file and starts empty; read-only opening changes nothing', async () => {
    await writeFile(file, '{"format":"familiar.triggers","version":1,"sha256":"00","payload":{"triggers":[]}}\n');
    const s = await open();
    expect(s.report.quarantined).toMatch(/triggers\.json\.corrupt-/);
    await s.add({ conceptId: 'anna', message: 'hello', createdBy: 'x' });
    await s.close();
    store = undefined;
    const before = await readdir(dir);
    const ro = await TriggerStore.open(file, { readOnly: true });
    expect(ro.list()).toHaveLength(1);
    expect(await errorCode(ro.add({ conceptId: 'anna', message: 'x', createdBy: 'x' }))).toBe('STORE_IO');
    expect(await errorCode(ro.onAppeared(appear('anna', T0)))).toBe('STORE_IO');
    expect(await readdir(dir)).toEqual(before);
    await writeFile(file, '{"format":"familiar.triggers","version":9,"sha256":"00","payload":{}}\n');
    const newer = await caught(TriggerStore.open(file));
    expect(newer.code).toBe('STORE_CORRUPT');
    expect(newer.details).toMatchObject({ reason: 'version' });
  });
});
