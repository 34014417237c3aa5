/**
 * Cheap checks on a raw client message before JSON.parse sees it. V8 parses nesting iteratively, so a 16 MB
 * message of "[[[[…" does not overflow the stack: it blocks the event loop for seconds and allocates half a
 * gigabyte instead, for every client that sends one. No protocol message nests deeper than 3.
 */

/** Deepest array/object nesting a client message may have. */
export const MAX_JSON_DEPTH = 32;

/** Largest first message: an auth message with the longest token the schema allows fits in well under this. */
export const MAX_AUTH_MESSAGE_BYTES = 4096;

const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const COMMA = 0x2c;

/** Occurrences of `byte` in `buf`, counting no further than `limit` + 1 (memchr speed). */
function countUpTo(buf: Buffer, byte: number, limit: number): number {
  let n = 0;
  for (let i = buf.indexOf(byte); i !== -1 && n <= limit; i = buf.indexOf(byte, i + 1)) n++;
  return n;
}

/**
 * Whether the JSON text in `buf` may hold more than `max` values: every array, object and further element
 * opens with a bracket or follows a comma, so counting those bytes (memchr, strings included, which only
 * over-counts) bounds what JSON.parse would allocate before it runs. A 16 MiB "[{},{},…]" holds five million
 * values; no protocol message needs more than a few hundred.
 */
export function widerThan(buf: Buffer, max: number): boolean {
  let n = countUpTo(buf, OPEN_ARRAY, max);
  if (n > max) return true;
  n += countUpTo(buf, OPEN_OBJECT, max - n);
  if (n > max) return true;
  return n + countUpTo(buf, COMMA, max - n) > max;
}

/**
 * Whether the JSON text in `buf` nests arrays and objects deeper than `max` (brackets inside strings do not
 * count). A message with at most `max` opening brackets in all cannot, and is let through after two memchr
 * passes, so a large photo upload costs next to nothing; anything else is scanned once, without allocating.
 */
export function nestsDeeperThan(buf: Buffer, max: number = MAX_JSON_DEPTH): boolean {
  if (countUpTo(buf, OPEN_ARRAY, max) + countUpTo(buf, OPEN_OBJECT, max) <= max) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}
