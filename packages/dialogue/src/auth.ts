import { createHash, timingSafeEqual } from 'node:crypto';
import { FamiliarError, type ClientRole, type NoteReaderInfo } from '@familiar/contracts';
import { memberKey } from './reminders.ts';
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

/**
 * Who a command speaks for (an ask's asker, a note's speaker, a reminder's creator). Only the control role
 * may name someone else; any other token speaks as its own member (or, without one, as nobody in particular:
 * `fallback`). Naming another member is refused rather than silently replaced, so a client learns it.
 */
export function speakerOf<F>(principal: Principal, given: string | undefined, field: string, fallback: F): string | F {
  const own = principal.member;
  if (hasRole(principal, 'control')) return given ?? own ?? fallback;
  if (given !== undefined && (own === undefined || memberKey(given) !== memberKey(own))) {
    throw new FamiliarError('FORBIDDEN', `${field} must be this token's own member${own ? ` (${own})` : ''}; only the control role may speak for others`);
  }
  return own ?? fallback;
}

/** Which notes a principal reads: the control role all (undefined), a member their own private ones too. */
export function noteReader(principal: Principal): NoteReaderInfo | undefined {
  return hasRole(principal, 'control') ? undefined : { member: principal.member ?? null };
}

interface StoredToken extends Principal {
  hash: Buffer;
}

export function sha256(text: string): Buffer {
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
    return this.verifyDigest(sha256(token));
  }

  /** As verify, given the token's SHA-256 (a connection keeps only that, to be re-checked when tokens are reloaded). */
  verifyDigest(presented: Buffer): Principal | null {
    let found: Principal | null = null;
    for (const t of this.tokens) {
      if (timingSafeEqual(presented, t.hash) && found === null) found = { name: t.name, role: t.role, member: t.member };
    }
    return found;
  }

  /** Names of the configured tokens (for the reload audit line; never the tokens). */
  names(): string[] {
    return this.tokens.map((t) => t.name);
  }
}

/** Back-off before the first attempt past the limit is answered; doubles with each further failure. */
const FIRST_BACKOFF_MS = 250;

/**
 * Failed authentications per remote address in a fixed window. Past `maxFailures` an attempt from the
 * address is not refused but answered only after a back-off, the right token still accepted: a third party
 * (another page in the owner's browser, another program on the owner's machine) can slow guessing from an
 * address but never lock its owner out. Bounded: at most `maxAddresses` entries, the oldest dropped first.
 */
export class AuthFailureLimiter {
  private readonly failures = new Map<string, { count: number; windowStart: number }>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
    private readonly maxBackoffMs: number,
    private readonly maxAddresses = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds to wait before answering an attempt from this address; 0 when under the limit. */
  backoffFor(address: string): number {
    const entry = this.failures.get(address);
    if (!entry) return 0;
    if (entry.windowStart + this.windowMs <= this.now()) {
      this.failures.delete(address);
      return 0;
    }
    const over = entry.count - this.maxFailures;
    return over < 0 ? 0 : Math.min(this.maxBackoffMs, FIRST_BACKOFF_MS * 2 ** Math.min(over, 20));
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
