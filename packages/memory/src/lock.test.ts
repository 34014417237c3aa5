import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConceptStore } from './concept-store.ts';
import { LOCK_FILE_NAME, StoreLock, type LockOwner } from './lock.ts';
import { caught, makeTempDir, randomUnit, removeDir, seededRandom } from './test-helpers.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
let dir: string;
let children: ChildProcess[] = [];

beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  for (const c of children) c.kill('SIGKILL');
  children = [];
  await removeDir(dir);
});

/** A pid that certainly ran on this host and has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  return r.pid!;
}

/** A live process that is not us. */
function liveChild(): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  children.push(child);
  return child;
}

async function writeLock(owner: Partial<LockOwner>): Promise<void> {
  const full = { pid: 1, hostname: os.hostname(), startedAt: Date.now() - 60_000, nonce: 'feedfacefeedface', ...owner };
  await writeFile(path.join(dir, LOCK_FILE_NAME), JSON.stringify(full));
}

describe('StoreLock', () => {
  it('records pid, hostname and start time; a second holder is refused until it is released', async () => {
    const lock = await StoreLock.acquire(dir);
    const owner = (await StoreLock.holder(dir))!;
    expect(owner).toMatchObject({ pid: process.pid, hostname: os.hostname() });
    expect(Math.abs(owner.startedAt - Date.now())).toBeLessThan(60_000);
    const err = await caught(StoreLock.acquire(dir));
    expect(err.code).toBe('STORE_IO');
    expect(err.message).toContain(`in use by process ${process.pid} (${os.hostname()}`);
    expect(err.details).toMatchObject({ pid: process.pid });
    await lock.release();
    await lock.release();
    expect(await StoreLock.holder(dir)).toBeUndefined();
    await (await StoreLock.acquire(dir)).release();
  });

  it('takes over a stale lock: dead pid, our own pid from a previous life, unreadable content', async () => {
    const logs: string[] = [];
    const log = (_level: string, message: string) => logs.push(message);
    for (const stale of [{ pid: deadPid() }, { pid: process.pid }]) {
      await writeLock(stale);
      const lock = await StoreLock.acquire(dir, { log });
      expect((await StoreLock.holder(dir))!.nonce).toBe(lock.owner.nonce);
      await lock.release();
    }
    await writeFile(path.join(dir, LOCK_FILE_NAME), 'garbage');
    await (await StoreLock.acquire(dir, { log })).release();
    expect(logs.filter((m) => m.includes('stale'))).toHaveLength(3);
  });

  it('refuses a live process on this host, and a lock from another host (with what to do)', async () => {
    const child = liveChild();
    await writeLock({ pid: child.pid! });
    const live = await caught(StoreLock.acquire(dir));
    expect(live.code).toBe('STORE_IO');
    expect(live.message).toContain(`in use by process ${child.pid}`);
    expect(live.message).toMatch(/read-only/);

    await writeLock({ pid: deadPid(), hostname: 'some-other-robot' });
    const remote = await caught(StoreLock.acquire(dir));
    expect(remote.message).toContain('some-other-robot');
    expect(remote.message).toContain(`delete ${path.join(dir, LOCK_FILE_NAME)}`);
  });

  it.runIf(process.platform === 'linux')('takes over when the pid was reused by another program (its start time differs)', async () => {
    const child = liveChild();
    await writeLock({ pid: child.pid!, processStart: '1' });
    await (await StoreLock.acquire(dir)).release();
  });

  it('keeps a second process out of an open store, lets a reader in, and recovers after the writer is killed', async () => {
    const store = await ConceptStore.open(dir);
    await store.add({ name: 'Anna', kind: 'person', views: [{ space: 'face', vector: randomUnit(16, seededRandom(1)), origin: 'a.jpg' }] });
    // A real second process trying to open the same store for writing.
    const script = `import { ConceptStore } from ${JSON.stringify(pathToFileURL(path.join(HERE, 'concept-store.ts')).href)};
      try { await ConceptStore.open(${JSON.stringify(dir)}); console.log('OPENED'); process.exit(0); }
      catch (e) { console.log(e.code + ' ' + e.message); process.exit(3); }`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: HERE, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(3);
    expect(r.stdout).toContain(`STORE_IO the store ${dir} is in use by process ${process.pid}`);

    // A read-only snapshot needs no lock and writes nothing.
    const reader = await ConceptStore.open(dir, { readOnly: true });
    expect(reader.findByName('anna')?.name).toBe('Anna');
    expect((await caught(reader.add({ name: 'Tom', kind: 'person' }))).code).toBe('STORE_IO');
    await reader.close();
    await store.close();

    // A writer that dies holding the lock (kill -9) leaves a stale lock; the next open takes it over.
    const holder = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script.replace("process.exit(0)", 'setTimeout(() => {}, 60000)')], { cwd: HERE, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(holder);
    await new Promise<void>((resolve) => holder.stdout!.on('data', (d: Buffer) => d.toString().includes('OPENED') && resolve()));
    expect((await caught(ConceptStore.open(dir))).message).toContain(`process ${holder.pid}`);
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    const again = await ConceptStore.open(dir);
    expect(again.size).toBe(1);
    await again.close();
    expect(await readFile(path.join(dir, LOCK_FILE_NAME), 'utf8').catch(() => 'gone')).toBe('gone');
  });
});
