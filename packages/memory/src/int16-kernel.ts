/**
 * The inner loop of exact search as a tiny WebAssembly SIMD module, assembled here from its opcodes (no toolchain,
 * no native addon: it runs wherever V8 runs, x86-64 and arm64 alike).
 *
 * Gallery rows and queries are int16 (a unit vector scaled by {@link INT16_SCALE}); `i32x4.dot_i16x8_s` does 8
 * multiply-adds per instruction, four times what plain JS does, and int16 rows halve the memory read per pass. The
 * integer dot products are exact and cannot overflow: by Cauchy–Schwarz every partial sum is at most
 * ‖row‖·‖query‖ ≤ (SCALE·(1+ε))² < 2³¹. The caller turns them into similarities with a proven error bound and
 * rescores the few rows that bound leaves in doubt in float, so the answers stay exact.
 */

/** int16 value of a unit-vector component of 1. */
export const INT16_SCALE = 32767;
/** Queries scored per pass over the gallery: each row is read from memory once for all of them. */
export const QUERY_BLOCK = 4;
/** Components per SIMD step (8 × int16 = 128 bits); rows are padded with zeros to a multiple of this. */
export const LANES = 8;

/**
 * `dots(rows, n, steps, queries, out)`: for row i of `n` (each `steps` × 8 int16 from byte offset `rows`) and query t
 * of {@link QUERY_BLOCK}, writes the int32 dot product to `out + 4·(i·QUERY_BLOCK + t)`. Queries are interleaved by
 * step: step s of query t is at `queries + 16·(s·QUERY_BLOCK + t)`, so every load in the loop has a constant offset.
 */
export type DotsKernel = (rows: number, n: number, steps: number, queries: number, out: number) => void;

/** The slice of the WebAssembly API this module uses (the project's TypeScript lib has no DOM/WebAssembly types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number }) => WasmMemory;
}
const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

export interface Int16Kernel {
  memory: WasmMemory;
  dots: DotsKernel;
}

// ------------------------------------------------------------------ a minimal assembler

const OP = {
  block: 0x02,
  loop: 0x03,
  br: 0x0c,
  brIf: 0x0d,
  end: 0x0b,
  localGet: 0x20,
  localSet: 0x21,
  i32Store: 0x36,
  i32Const: 0x41,
  i32Eqz: 0x45,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i32Shl: 0x74,
  simd: 0xfd,
} as const;
const SIMD = { v128Load: 0x00, v128Const: 0x0c, i32x4ExtractLane: 0x1b, i32x4Add: 0xae, i32x4DotI16x8S: 0xba } as const;
const TYPE = { i32: 0x7f, v128: 0x7b, func: 0x60, void: 0x40 } as const;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
}

const name = (s: string): number[] => [...uleb(s.length), ...Buffer.from(s, 'utf8')];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const get = (local: number): number[] => [OP.localGet, ...uleb(local)];
const set = (local: number): number[] => [OP.localSet, ...uleb(local)];
const i32 = (n: number): number[] => [OP.i32Const, ...sleb(n)];
const simd = (op: number): number[] => [OP.simd, ...uleb(op)];
/** v128.load with a 16-byte alignment hint and a constant byte offset. */
const load = (offset: number): number[] => [...simd(SIMD.v128Load), 4, ...uleb(offset)];

/** The body of {@link DotsKernel}. Locals: params 0-4, then i32 scratch, then v128 accumulators and temporaries. */
function dotsBody(): number[] {
  const [ROWS, N, STEPS, QUERIES, OUT] = [0, 1, 2, 3, 4];
  const [I, K, RP, QP, OUTP, ROW_BYTES] = [5, 6, 7, 8, 9, 10];
  const ACC = 11; // QUERY_BLOCK accumulators
  const G = ACC + QUERY_BLOCK;
  const code: number[] = [];
  const emit = (...parts: number[][]): void => {
    for (const p of parts) code.push(...p);
  };
  emit(get(STEPS), i32(4), [OP.i32Shl], set(ROW_BYTES)); // 16 bytes per step
  emit(i32(0), set(I), get(ROWS), set(RP), get(OUT), set(OUTP));
  emit([OP.block, TYPE.void, OP.loop, TYPE.void]); // for each row
  emit(get(I), get(N), [OP.i32GeU, OP.brIf, 1]);
  for (let t = 0; t < QUERY_BLOCK; t++) emit(simd(SIMD.v128Const), new Array<number>(16).fill(0), set(ACC + t));
  emit(get(QUERIES), set(QP), get(STEPS), set(K));
  emit([OP.block, TYPE.void, OP.loop, TYPE.void]); // for each step of 8 components
  emit(get(K), [OP.i32Eqz, OP.brIf, 1]);
  emit(get(RP), load(0), set(G));
  for (let t = 0; t < QUERY_BLOCK; t++) {
    emit(get(ACC + t), get(G), get(QP), load(16 * t), simd(SIMD.i32x4DotI16x8S), simd(SIMD.i32x4Add), set(ACC + t));
  }
  emit(get(RP), i32(16), [OP.i32Add], set(RP));
  emit(get(QP), i32(16 * QUERY_BLOCK), [OP.i32Add], set(QP));
  emit(get(K), i32(1), [OP.i32Sub], set(K));
  emit([OP.br, 0, OP.end, OP.end]);
  for (let t = 0; t < QUERY_BLOCK; t++) {
    emit(get(OUTP));
    emit(get(ACC + t), simd(SIMD.i32x4ExtractLane), [0]);
    for (let lane = 1; lane < 4; lane++) emit(get(ACC + t), simd(SIMD.i32x4ExtractLane), [lane], [OP.i32Add]);
    emit([OP.i32Store, 2, ...uleb(4 * t)]);
  }
  emit(get(OUTP), i32(4 * QUERY_BLOCK), [OP.i32Add], set(OUTP));
  emit(get(I), i32(1), [OP.i32Add], set(I));
  emit([OP.br, 0, OP.end, OP.end]);
  emit([OP.end]);
  const locals = [...uleb(2), ...uleb(6), TYPE.i32, ...uleb(QUERY_BLOCK + 1), TYPE.v128];
  const body = [...locals, ...code];
  return [...uleb(body.length), ...body];
}

function moduleBytes(): Uint8Array {
  const funcType = [TYPE.func, 5, TYPE.i32, TYPE.i32, TYPE.i32, TYPE.i32, TYPE.i32, 0];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [1, ...funcType]),
    ...section(2, [1, ...name('env'), ...name('memory'), 0x02, 0x00, 0x01]), // import memory, min 1 page
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('dots'), 0x00, 0]),
    ...section(10, [1, ...dotsBody()]),
  ]);
}

let compiled: object | null | undefined;

/** The compiled module, or null where this engine has no WebAssembly SIMD. */
function kernelModule(): object | null {
  if (compiled === undefined) {
    const bytes = moduleBytes();
    compiled = wasm?.validate(bytes) ? new wasm.Module(bytes) : null;
  }
  return compiled;
}

/** A kernel instance over its own growable memory, or null where WebAssembly SIMD is unavailable. */
export function createInt16Kernel(): Int16Kernel | null {
  const module = kernelModule();
  if (!module || !wasm) return null;
  const memory = new wasm.Memory({ initial: 1 });
  const instance = new wasm.Instance(module, { env: { memory } });
  return { memory, dots: instance.exports['dots'] as DotsKernel };
}
