import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  base64ToFloat32,
  cleanTempFiles,
  decodeEnvelope,
  encodeEnvelope,
  float32ToBase64,
  quarantineFile,
  readVerified,
  removeFileDurable,
  writeFileAtomic,
  writeVerified,
} from './atomic.ts';
import { caught, makeTempDir, mountTinyTmpfs, removeDir } from './test-helpers.ts';

const SPEC = { format: 'familiar.test', version: 2 };
let dir: string;

beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await removeDir(dir);
});

describe('writeFileAtomic', () => {
  it('creates and replaces a file, leaving no temp file, readable by the owner only', async () => {
    const file = path.join(dir, 'a.json');
    await writeFileAtomic(file, 'first');
    await writeFileAtomic(file, new TextEncoder().encode('second'));
    expect(await readFile(file, 'utf8')).toBe('second');
    expect(await readdir(dir)).toEqual(['a.json']);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('fails with STORE_IO when the directory is missing, and creates nothing', async () => {
    const err = await caught(writeFileAtomic(path.join(dir, 'missing', 'a.json'), 'x'));
    expect(err.code).toBe('STORE_IO');
    expect(err.details?.errno).toBe('ENOENT');
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('keeps the target and removes the temp file when the final rename fails', async () => {
    const target = path.join(dir, 'taken');
    await mkdir(target);
    await writeFile(path.join(target, 'inside'), 'keep me');
    const err = await caught(writeFileAtomic(target, 'new bytes'));
    expect(err.code).toBe('STORE_IO');
    expect(await readFile(path.join(target, 'inside'), 'utf8')).toBe('keep me');
    expect(await readdir(dir)).toEqual(['taken']);
  });

  it('on a full disk (real ENOSPC) rejects with STORE_IO and leaves the previous file intact', async (ctx) => {
    const mnt = path.join(dir, 'mnt');
    await mkdir(mnt);
    const unmount = mountTinyTmpfs(mnt, 64);
    if (unmount === undefined) return ctx.skip('cannot mount a tmpfs here (needs root)');
    try {
      const file = path.join(mnt, 'doc.json');
      await writeVerified(file, SPEC, { n: 1 });
      const err = await caught(writeVerified(file, SPEC, { big: 'x'.repeat(200 * 1024) }));
      expect(err.code).toBe('STORE_IO');
      expect(err.details?.errno).toBe('ENOSPC');
      expect(await readVerified(file, SPEC)).toEqual({ n: 1 });
      expect(await readdir(mnt)).toEqual(['doc.json']);
    } finally {
      unmount();
    }
  });
});

describe('envelopes', () => {
  it('round-trips a payload through a file', async () => {
    const file = path.join(dir, 'doc.json');
    const payload = { name: 'Billy 🐶', n: [1, 2.5, -0, 1e21], nested: { '1': 'a', b: null } };
    await writeVerified(file, SPEC, payload);
    expect(await readVerified(file, SPEC)).toEqual(JSON.parse(JSON.stringify(payload)));
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ format: 'familiar.test', version: 2 });
  });

  it('reads an older version and resolves undefined for a missing file', async () => {
    expect(decodeEnvelope(encodeEnvelope({ format: 'familiar.test', version: 1 }, { a: 1 }), SPEC)).toEqual({ a: 1 });
    expect(await readVerified(path.join(dir, 'none.json'), SPEC)).toBeUndefined();
  });

  it('detects every kind of damage with STORE_CORRUPT and a reason', () => {
    const text = encodeEnvelope(SPEC, { vector: 'AAAAAAAAgD8=', name: 'Anna' });
    const reason = (t: string, spec = SPEC): unknown => {
      try {
        decodeEnvelope(t, spec);
      } catch (err) {
        expect((err as { code: string }).code).toBe('STORE_CORRUPT');
        return (err as { details: { reason: string } }).details.reason;
      }
      return 'accepted';
    };
    expect(reason(text.slice(0, text.length - 10))).toBe('parse');
    expect(reason('')).toBe('parse');
    expect(reason(text.replace('Anna', 'Anne'))).toBe('checksum');
    expect(reason(text.replace('AAAAAAAAgD8=', 'AAAAAAAAgD4='))).toBe('checksum');
    expect(reason(text, { format: 'familiar.other', version: 2 })).toBe('format');
    expect(reason(text, { format: 'familiar.test', version: 1 })).toBe('version');
    expect(reason('{"format":"familiar.test","version":1,"payload":{}}')).toBe('format');
    expect(reason('[1,2]')).toBe('parse');
  });
});

describe('file housekeeping', () => {
  it('removes leftover temp files only (optionally of one base name)', async () => {
    await writeFile(path.join(dir, 'a.json'), 'keep');
    await writeFile(path.join(dir, 'a.json.tmp-0123456789ab'), 'torn');
    await writeFile(path.join(dir, 'b.jsonl.tmp-ba9876543210'), 'torn');
    await writeFile(path.join(dir, 'c.json.tmp-notours'), 'keep');
    expect(await cleanTempFiles(dir, 'b.jsonl')).toEqual(['b.jsonl.tmp-ba9876543210']);
    expect(await cleanTempFiles(dir)).toEqual(['a.json.tmp-0123456789ab']);
    expect((await readdir(dir)).sort()).toEqual(['a.json', 'c.json.tmp-notours']);
    expect(await cleanTempFiles(path.join(dir, 'missing'))).toEqual([]);
  });

  it('quarantines and durably removes files', async () => {
    const file = path.join(dir, 'x.json');
    await writeFile(file, 'garbage');
    const moved = await quarantineFile(file, 1234);
    expect(path.basename(moved)).toBe('x.json.corrupt-1234');
    expect(await readFile(moved, 'utf8')).toBe('garbage');
    expect(await removeFileDurable(moved)).toBe(true);
    expect(await removeFileDurable(moved)).toBe(false);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('float32 base64', () => {
  it('round-trips bit-exactly, including from a view into a larger buffer', () => {
    const big = new Float32Array([9, 0.1, -2.5e-8, Math.PI, Number.MAX_VALUE, -0, 7]);
    const v = big.subarray(1, 6);
    const back = base64ToFloat32(float32ToBase64(v))!;
    expect(Array.from(back)).toEqual(Array.from(v));
    expect(Object.is(back[4], -0)).toBe(true);
    expect(base64ToFloat32('AAA=')).toBeUndefined();
  });
});
