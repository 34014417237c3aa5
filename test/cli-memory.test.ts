import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@familiar/config';
import { Engine } from '../packages/runtime/src/live/engine.ts';
import { runCli, type CliResult } from './support/familiar-process.ts';
import { dataFile } from './support/static-backend.ts';

// The memory commands of the CLI over a store that a real engine filled: Madonna seen in the living room on
// real photos, a note about her, an unknown face (Jerry, never enrolled) grouped, then named from the CLI.

const CELEB = dataFile('faces_5celeb');

let tmp: string;
let store: string;

const familiar = (...args: string[]) => runCli(['--store', store, ...args]);

const json = <T>(r: CliResult): T => {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as T;
};

async function photos(dir: string): Promise<Uint8Array[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.jpg')).sort();
  return Promise.all(files.map(async (f) => new Uint8Array(await readFile(path.join(dir, f)))));
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'familiar-cli-memory-'));
  store = path.join(tmp, 'store');
  const engine = await Engine.open(loadConfig({ env: { FAMILIAR_STORE_DIR: store } }));
  try {
    const refs = (await photos(path.join(CELEB, 'train/Madonna'))).slice(0, 4);
    await engine.enrol({ name: 'Madonna', kind: 'person', context: 'the singer next door', photos: refs.map((bytes, i) => ({ bytes, origin: `${i}.jpg` })) });
    // One still camera shows Madonna for a few frames, then another shows a face nobody enrolled.
    const [madonna] = await photos(path.join(CELEB, 'val/madonna'));
    const [jerry] = await photos(path.join(CELEB, 'val/jerry_seinfeld'));
    const t0 = Date.now() - 60_000;
    for (let seq = 0; seq < 6; seq++) await engine.processFrame({ cameraId: 'living', room: 'living room', seq, capturedAt: t0 + seq * 500, jpeg: madonna! });
    await engine.endCamera('living', t0 + 4000);
    for (let seq = 0; seq < 4; seq++) await engine.processFrame({ cameraId: 'door', room: 'hall', seq, capturedAt: t0 + 10_000 + seq * 500, jpeg: jerry! });
    await engine.endCamera('door', t0 + 13_000);
    await engine.addNote({ text: "Madonna's birthday is on Sunday", speaker: 'Tom' });
  } finally {
    await engine.close();
  }
}, 120_000);

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('familiar memory commands', () => {
  it('says where and when each concept was last seen, and what was said about it', async () => {
    // --json prints what the WebSocket's memory/last_seen answers: snake_case.
    const seen = json<{ name: string; sighting: { room: string; camera_id: string } | null }[]>(await familiar('last-seen', '--json'));
    expect(seen).toEqual([expect.objectContaining({ name: 'Madonna', sighting: expect.objectContaining({ room: 'living room', camera_id: 'living' }), answer: expect.stringMatching(/living room/) })]);
    const text = await familiar('last-seen', 'madonna');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/Madonna.*living room/);

    const notes = json<{ notes: { text: string; speaker: string; concept_ids: string[] }[]; last_mention: unknown }>(await familiar('notes', 'Madonna', '--json'));
    expect(notes.notes).toEqual([expect.objectContaining({ text: "Madonna's birthday is on Sunday", speaker: 'Tom', concept_ids: [expect.any(String)] })]);
    expect(notes).toHaveProperty('last_mention');
    expect(json<{ likes: unknown[]; dislikes: unknown[] }>(await familiar('preferences', 'Madonna', '--json'))).toMatchObject({ likes: [], dislikes: [] });

    const missing = await familiar('last-seen', 'Nobody');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/CONCEPT_NOT_FOUND/);
  });

  it('sets, lists and cancels reminders', async () => {
    const set = await familiar('remind', 'if Madonna shows up, remind me to call the doctor', '--by', 'Tom');
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(/Madonna/);
    const list = json<{ id: string; name: string; message: string; created_by: string; once: boolean }[]>(await familiar('triggers', '--json'));
    expect(list).toEqual([expect.objectContaining({ name: 'Madonna', created_by: 'Tom', once: true, message: expect.stringMatching(/call the doctor/i) })]);
    const bad = await familiar('remind', 'the weather is nice');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/INPUT_INVALID/);
    expect((await familiar('triggers', 'cancel', list[0]!.id)).code).toBe(0);
    expect(json<unknown[]>(await familiar('triggers', '--json'))).toEqual([]);
  });

  it('lists the unknown visitor and enrols it under a name', async () => {
    const unknowns = json<{ id: string; visits: number; view_count: number }[]>(await familiar('unknowns', '--json'));
    expect(unknowns).toHaveLength(1);
    expect(unknowns[0]!.view_count).toBeGreaterThan(0);
    const named = json<{ name: string; kind: string; view_count: number }>(await familiar('unknowns', 'name', unknowns[0]!.id, '--name', 'Jerry', '--json'));
    expect(named).toMatchObject({ name: 'Jerry', kind: 'person', view_count: expect.any(Number) });
    expect(json<unknown[]>(await familiar('unknowns', '--json'))).toEqual([]);
    const list = await familiar('list');
    expect(list.stdout).toMatch(/Jerry \(person/);
  });
});
