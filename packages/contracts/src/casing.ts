/**
 * A copy of `value` with every object key turned from camelCase into snake_case (`lastFrameAt` → `last_frame_at`),
 * at every depth: machine-readable output (the CLI's `--json`, `status.backend`) reads like the WebSocket protocol.
 * Typed arrays and other class instances are left as they are.
 */
export function snakeCaseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeCaseKeys);
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), snakeCaseKeys(v)]));
}
