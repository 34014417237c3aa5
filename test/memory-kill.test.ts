import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConceptStore, Memory, SightingsLog } from '@familiar/memory';
import { eachLine } from './support/familiar-process.ts';

// kill -9 at an arbitrary moment must lose no acknowledged write and never corrupt the store (DESIGN §6).

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WRITER = path.join(REPO, 'test', 'memory-kill-writer.ts');

/** Runs the writer until it has acknowledged `acks` writes, then SIGKILLs it; resolves with the acknowledged lines. */
function runAndKill(mode: string, dir: string, acks: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, mode, dir], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let stderr = '';
    eachLine(child.stdout, (line) => {
      lines.push(line);
      if (lines.length >= acks) child.kill('SIGKILL');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      if (signal === 'SIGKILL') resolve(lines);
      else reject(new Error(`writer exited by itself: ${stderr}`));
    });
  });
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'familiar-kill-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('kill -9 safety', () => {
  it('the concept store keeps every acknowledged enrolment and update across repeated kills', async () => {
    const added = new Set<string>();
    const updated = new Set<string>();
    for (let round = 0; round < 3; round++) {
      for (const line of await runAndKill('concepts', dir, 30 + round * 7)) {
        const [op, id] = line.split(' ') as [string, string];
        (op === 'A' ? added : updated).add(id);
      }
      const store = await ConceptStore.open(dir);
      expect(store.report.quarantined).toEqual([]);
      for (const id of added) expect(store.has(id)).toBe(true);
      for (const id of updated) expect(store.get(id).views).toHaveLength(5);
      expect(store.viewCount('face')).toBe(store.list().reduce((n, c) => n + c.views.length, 0));
      await store.close();
      expect((await readdir(path.join(dir, 'concepts'))).every((n) => n.endsWith('.json'))).toBe(true);
    }
  });

  it('the sightings log keeps every flushed visit across repeated kills', async () => {
    const acked: string[] = [];
    for (let round = 0; round < 3; round++) {
      acked.push(...(await runAndKill('sightings', dir, 40)).map((l) => l.split(' ')[1]!));
      const log = await SightingsLog.open(path.join(dir, 'sightings.jsonl'));
      // Only the line being written at the kill can be torn.
      expect(log.report.droppedLines).toBeLessThanOrEqual(1);
      for (const id of acked) expect(log.get(id)).toBeDefined();
      expect(log.recent({ limit: 10_000 }).every((s) => !s.open)).toBe(true);
      await log.close();
    }
  });

  it('the memory facade keeps every acknowledged note, trigger and preference, and takes over the dead writer\'s lock', async () => {
    const acked = { N: new Set<string>(), T: new Set<string>(), P: new Set<string>() };
    for (let round = 0; round < 3; round++) {
      for (const line of await runAndKill('memory', dir, 30)) {
        const [kind, ...rest] = line.split(' ') as ['N' | 'T' | 'P', ...string[]];
        acked[kind].add(rest.join(' '));
      }
      // The killed writer's lock is stale (dead pid): this open takes it over.
      const memory = await Memory.open(dir);
      const anna = memory.concepts.findByName('Anna')!;
      const notes = new Set(memory.notes.forConcept(anna.id, 10_000).map((n) => n.id));
      for (const id of acked.N) expect(notes.has(id)).toBe(true);
      for (const id of acked.T) expect(memory.triggers.get(id)).toBeDefined();
      const likes = new Set(memory.preferences.get(anna.id).likes.map((a) => a.text));
      for (const text of acked.P) expect(likes.has(text)).toBe(true);
      expect(memory.notes.report.droppedLines).toBeLessThanOrEqual(1);
      expect(memory.triggers.report.quarantined).toBeUndefined();
      expect(memory.preferences.report.quarantined).toBeUndefined();
      await memory.close();
    }
  });
});
