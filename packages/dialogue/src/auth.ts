import { createHash, timingSafeEqual } from 'node:crypto';
import type { ClientRole } from '@familiar/contracts';
import type { AccessTokenConfig } from '@familiar/config';

/** Who a token belongs to, once verified. */
export interface Principal {
  name: string;
  role: ClientRole;
  member: string | undefined;
}

/** Whether `principal` holds at least `role` ('viewer': everyone): the one place roles are compared. */
export function hasRole(principal: Principal, role: ClientRole): boolean {
  return role === 'viewer' || principal.role === 'control';
}

interface StoredToken extends Principal {
  hash: Buffer;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * Verifies access tokens in constant time: the presented token is hashed and compared with every stored
 * hash by crypto.timingSafeEqual (equal-length digests), and the loop never exits early, so neither the
 * token's length nor which entry matched shows in the timing.
 */
export class TokenVerifier {
  private readonly tokens: StoredToken[];

  constructor(tokens: readonly AccessTokenConfig[]) {
    this.tokens = tokens.map((t) => ({
      name: t.name,
      role: t.role,
      member: t.member,
      hash: t.sha256 ? Buffer.from(t.sha256, 'hex') : sha256(t.token!),
    }));
  }

  verify(token: string): Principal | null {
    const presented = sha256(token);
    let found: Principal | null = null;
    for (const t of this.tokens) {
      if (timingSafeEqual(presented, t.hash) && found === null) found = { name: t.name, role: t.role, member: t.member };
    }
    return found;
  }
}

/**
 * Failed authentications per remote address in a fixed window. Bounded: at most `maxAddresses` entries,
 * the oldest dropped first (Map keeps insertion order).
 */
export class AuthFailureLimiter {
  private readonly failures = new Map<string, { count: number; windowStart: number }>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
    private readonly maxAddresses = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds until this address may try again; 0 when it may try now. */
  blockedFor(address: string): number {
    const entry = this.failures.get(address);
    if (!entry) return 0;
    const left = entry.windowStart + this.windowMs - this.now();
    if (left <= 0) {
      this.failures.delete(address);
      return 0;
    }
    return entry.count >= this.maxFailures ? left : 0;
  }

  recordFailure(address: string): void {
    const t = this.now();
    const entry = this.failures.get(address);
    if (entry && t - entry.windowStart < this.windowMs) {
      entry.count++;
      return;
    }
    this.failures.delete(address);
    if (this.failures.size >= this.maxAddresses) this.failures.delete(this.failures.keys().next().value!);
    this.failures.set(address, { count: 1, windowStart: t });
  }

  recordSuccess(address: string): void {
    this.failures.delete(address);
  }
}

/** Token bucket: `rate` tokens per second, at most `burst` stored. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
