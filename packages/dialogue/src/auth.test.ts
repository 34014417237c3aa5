import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AuthFailureLimiter, TokenBucket, TokenVerifier } from './auth.ts';

describe('TokenVerifier', () => {
  it('accepts clear-text and sha256 tokens with their roles, rejects others', () => {
    const v = new TokenVerifier([
      { name: 'console', role: 'control', token: 'control-token-0123456789' },
      { name: 'phone', role: 'viewer', sha256: createHash('sha256').update('viewer-token-0123456789').digest('hex'), member: 'Anna' },
    ]);
    expect(v.verify('control-token-0123456789')).toEqual({ name: 'console', role: 'control', member: undefined });
    expect(v.verify('viewer-token-0123456789')).toEqual({ name: 'phone', role: 'viewer', member: 'Anna' });
    expect(v.verify('viewer-token-012345678')).toBeNull();
    expect(v.verify('')).toBeNull();
  });
});

describe('AuthFailureLimiter', () => {
  it('backs off an address past maxFailures within the window (doubling, capped), and forgets after it', () => {
    let now = 0;
    const l = new AuthFailureLimiter(3, 1000, 1000, 2, () => now);
    for (let i = 0; i < 3; i++) {
      expect(l.backoffFor('a')).toBe(0);
      l.recordFailure('a');
    }
    expect(l.backoffFor('a')).toBe(250);
    l.recordFailure('a');
    expect(l.backoffFor('a')).toBe(500);
    l.recordFailure('a');
    l.recordFailure('a');
    expect(l.backoffFor('a')).toBe(1000);
    expect(l.backoffFor('b')).toBe(0);
    now = 1001;
    expect(l.backoffFor('a')).toBe(0);
  });

  it('keeps at most maxAddresses entries', () => {
    const l = new AuthFailureLimiter(1, 60_000, 4000, 2, () => 0);
    l.recordFailure('a');
    l.recordFailure('b');
    l.recordFailure('c');
    expect(l.backoffFor('a')).toBe(0);
    expect(l.backoffFor('c')).toBeGreaterThan(0);
  });
});

describe('TokenBucket', () => {
  it('allows a burst, then the sustained rate', () => {
    let now = 0;
    const b = new TokenBucket(10, 3, () => now);
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
    now = 100;
    expect([b.take(), b.take()]).toEqual([true, false]);
  });
});
