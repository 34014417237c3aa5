import { describe, expect, it } from 'vitest';
import { FamiliarError, type EncodedFrame } from '@familiar/contracts';
import { FrameMailbox } from './mailbox.ts';
import { backoffDelay } from './source.ts';

const frame = (seq: number, capturedAt: number): EncodedFrame => ({ cameraId: 'cam', seq, capturedAt, jpeg: new Uint8Array([0xff, 0xd8, seq & 0xff, 0xff, 0xd9]) });

describe('FrameMailbox', () => {
  it('drops frames above the fps cap on arrival, and counts them', () => {
    const box = new FrameMailbox({ fps: 10 });
    let accepted = 0;
    // 30 fps for 3 s against a 10 fps cap.
    for (let i = 0; i < 90; i++) if (box.put(frame(i, 1000 + (i * 1000) / 30))) accepted++;
    expect(accepted).toBeGreaterThanOrEqual(29);
    expect(accepted).toBeLessThanOrEqual(31);
    const c = box.counters;
    expect(c.captured).toBe(90);
    expect(c.dropped + c.processed + (box.pending ? 1 : 0)).toBe(90);
  });

  it('lets a camera running at the cap through even with jitter', () => {
    const box = new FrameMailbox({ fps: 10 });
    let accepted = 0;
    for (let i = 0; i < 50; i++) {
      const jitter = i % 2 === 0 ? -6 : 6;
      if (box.put(frame(i, 1000 + i * 100 + jitter))) accepted++;
      box.poll();
    }
    expect(accepted).toBe(50);
  });

  it('keeps only the latest frame for a slow consumer: drops counted, memory bounded', async () => {
    const box = new FrameMailbox({ fps: 1000 });
    for (let i = 1; i <= 100; i++) box.put(frame(i, i * 10));
    const got = await box.take();
    expect(got.seq).toBe(100);
    expect(box.counters).toEqual({ captured: 100, processed: 1, dropped: 99 });
    expect(box.pending).toBe(false);
  });

  it('hands a frame straight to a waiting consumer, and iterates until closed', async () => {
    const box = new FrameMailbox({ fps: 100 });
    const waiting = box.take();
    box.put(frame(1, 0));
    expect((await waiting).seq).toBe(1);
    const seen: number[] = [];
    const consumer = (async () => {
      for await (const f of box.frames()) seen.push(f.seq);
    })();
    for (let i = 2; i <= 4; i++) {
      box.put(frame(i, i * 100));
      await new Promise((r) => setImmediate(r));
    }
    box.close();
    await consumer;
    expect(seen).toEqual([2, 3, 4]);
    expect(box.put(frame(5, 1000))).toBe(false);
    await expect(box.take()).rejects.toMatchObject({ code: 'CANCELLED' });
  });

  it('cancels a wait on abort', async () => {
    const box = new FrameMailbox({ fps: 5 });
    const ac = new AbortController();
    const p = box.take(ac.signal);
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(FamiliarError);
    box.put(frame(1, 0));
    expect(box.pending).toBe(true);
  });

  it('rejects a nonsensical fps', () => {
    expect(() => new FrameMailbox({ fps: 0 })).toThrow(FamiliarError);
  });
});

describe('backoffDelay', () => {
  it('doubles, caps, and jitters within bounds', () => {
    const policy = { initialMs: 100, maxMs: 1000, jitter: 0.2 };
    expect([0, 1, 2, 3, 4, 10].map((a) => backoffDelay(a, policy, () => 0.5))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelay(0, policy, () => 0)).toBe(80);
    expect(backoffDelay(0, policy, () => 1)).toBe(120);
    expect(backoffDelay(50, policy, () => 1)).toBe(1000);
  });
});
