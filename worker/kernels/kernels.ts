/**
 * TypeScript face of gpt2-kernels.wasm: a JS-side allocator over the module's memory, typed views,
 * and checked calls into the kernels. Runs in Node and workerd (no Node imports): the caller brings
 * the compiled WebAssembly.Module (node.ts reads the file, workerd.ts imports it as a module).
 *
 * Contract for every kernel call: pointers are byte offsets into `memory` (from alloc()), sizes are
 * element counts. Shapes and buffer bounds are checked here, so a wrong call throws a KernelError
 * instead of computing garbage or trapping in WASM.
 */
import { KernelError } from './errors.ts';
import { createHeap } from './heap.ts';

export interface Kernels {
  readonly memory: WebAssembly.Memory;
  /** 16-byte aligned offset of `bytes` fresh bytes (contents undefined); grows the memory when needed. */
  alloc(bytes: number): number;
  free(ptr: number): void;
  /** Runs `fn` with an allocator whose blocks are all freed when `fn` returns or throws. */
  withScratch<T>(fn: (alloc: (bytes: number) => number) => T): T;
  /** Views: create them right before use — memory.grow() detaches earlier views. */
  f32(ptr: number, length: number): Float32Array;
  i8(ptr: number, length: number): Int8Array;
  bytes(ptr: number, length: number): Uint8Array;
  /** memory.buffer.byteLength (never shrinks). */
  heapBytes(): number;
  /** bytes currently allocated, rounded up to 16 per block (for tests/leak checks). */
  liveBytes(): number;
  /** LM head on f32 weights: out f32 [rows, V] = x f32 [rows, E] · (w f32 [V, E])ᵀ. E % 4 == 0. */
  headF32(xPtr: number, rows: number, wPtr: number, V: number, E: number, outPtr: number): void;
  /**
   * Causal attention, one batch row of one layer. q f32 [T, H*hd] at positions past..past+T-1;
   * k, v f32 [H, cap, hd] with positions 0..past+T-1 already written; out f32 [T, H*hd].
   * Scale 1/sqrt(hd); scratch managed inside. hd % 4 == 0, past + T ≤ cap.
   */
  attend(qPtr: number, T: number, past: number, kPtr: number, vPtr: number, cap: number, H: number, hd: number, outPtr: number): void;
  /**
   * Writes T new positions into a cache f32 [H, cap, hd] at past..past+T-1. src holds position i's
   * heads at src[i*srcStride + h*hd ..] (floats): srcStride = H*hd for a split k or v [T, H*hd],
   * 3*H*hd when src points at the k (or v) third of a fused qkv row [T, 3*H*hd].
   */
  kvAppend(srcPtr: number, T: number, srcStride: number, H: number, hd: number, dstPtr: number, cap: number, past: number): void;
  /**
   * Per-row 7-bit quantization for linearU7: xq u8 [M, K] in [0, 127], xs f32 [M] (scales), zp i32 [M]
   * (zero points) from x f32 [M, K]. K % 16 == 0.
   */
  quantU7(xPtr: number, M: number, K: number, xqPtr: number, xsPtr: number, zpPtr: number): void;
  /**
   * out f32 [M, N] = (or += when `add`) dequant(xq [M, K]) · (W i8 [N, K])ᵀ · ws[n] + bias[n], with
   * colsum i32 [N] = Σ_k W[n, k] (the zero-point correction). `w` holds W in interleaved blocks of four
   * columns (see the .wat; scripts/convert/quantize.ts interleaveColumns4). K % 16 == 0, N % 4 == 0.
   */
  linearU7(
    q: { xq: number; xs: number; zp: number },
    M: number,
    K: number,
    w: { w: number; N: number; colsum: number; scale: number; bias: number },
    outPtr: number,
    add: boolean,
  ): void;
  /**
   * LM head on quantU7's rows: out f32 [rows, V] = dequant(xq [rows, E]) · (w i8 [V, E])ᵀ, row v scaled by
   * scale f32 [V], with colsum i32 [V] = Σ_e w[v, e] (rowSumI8). w's first V & ~3 rows in interleave4's
   * layout (linearU7's), the last V % 4 row-major. E % 16 == 0.
   */
  headU7(
    q: { xq: number; xs: number; zp: number },
    rows: number,
    E: number,
    wPtr: number,
    V: number,
    colsumPtr: number,
    scalePtr: number,
    outPtr: number,
  ): void;
  /** out i32 [V] = Σ_e w[v, e] for w i8 [V, E]. E % 16 == 0. */
  rowSumI8(wPtr: number, V: number, E: number, outPtr: number): void;
  /**
   * In place: the first N & ~3 rows of w i8 [N, K], row-major, into linearU7's interleaved blocks of four
   * (the layout headU7 reads; scripts/convert/quantize.ts interleaveColumns4 computes the same). The last
   * N % 4 rows stay as they are. K % 16 == 0.
   */
  interleave4(wPtr: number, N: number, K: number): void;
  /** out f32 [M, E] = layer norm of x f32 [M, E] (out may be x). E % 4 == 0. */
  layerNorm(xPtr: number, M: number, E: number, gammaPtr: number, betaPtr: number, eps: number, outPtr: number): void;
  /** gelu_new (GPT-2's tanh approximation) in place over n floats; n % 4 == 0. */
  geluNew(xPtr: number, n: number): void;
  /** max of x f32 [n]; -Infinity when every entry is -Infinity. */
  rowMax(xPtr: number, n: number): number;
  /**
   * w f64 [n] = exp(x[i] − max) by the kernels' f32 exp (−Infinity entries give 0), and Σ w in a fixed order
   * (the .wat; worker/generation/logits.ts expSumJs computes the same bits in JS).
   */
  expSum(xPtr: number, n: number, max: number, wPtr: number): number;
}

interface Exports {
  memory: WebAssembly.Memory;
  head_f32(x: number, rows: number, w: number, V: number, E: number, out: number): void;
  attend(
    q: number,
    T: number,
    past: number,
    k: number,
    v: number,
    cap: number,
    H: number,
    hd: number,
    out: number,
    scratch: number,
    scale: number,
  ): void;
  kv_append(src: number, T: number, stride: number, H: number, hd: number, dst: number, cap: number, past: number): void;
  quant_u7(x: number, M: number, K: number, xq: number, xs: number, zp: number): void;
  linear_u7(
    xq: number,
    M: number,
    K: number,
    w: number,
    N: number,
    colsum: number,
    ws: number,
    bias: number,
    xs: number,
    zp: number,
    out: number,
    add: number,
  ): void;
  head_u7(
    xq: number,
    rows: number,
    E: number,
    w: number,
    V: number,
    colsum: number,
    scale: number,
    xs: number,
    zp: number,
    out: number,
  ): void;
  rowsum_i8(w: number, V: number, E: number, out: number): void;
  interleave4(w: number, N: number, K: number, tmp: number): void;
  layer_norm(x: number, M: number, E: number, gamma: number, beta: number, eps: number, out: number): void;
  gelu_new(x: number, n: number): void;
  row_max(x: number, n: number): number;
  exp_sum(x: number, n: number, max: number, w: number): number;
}

export function createKernels(module: WebAssembly.Module): Kernels {
  const ex = new WebAssembly.Instance(module, {}).exports as unknown as Exports;
  const memory = ex.memory;
  const heap = createHeap(memory);

  // Scratch reused across calls, grown (never shrunk) to the largest request seen.
  const scratch = { ptr: 0, bytes: 0 };
  function scratchFor(bytes: number): number {
    if (bytes > scratch.bytes) {
      if (scratch.ptr) heap.free(scratch.ptr);
      scratch.bytes = Math.max(bytes, scratch.bytes * 2);
      scratch.ptr = heap.alloc(scratch.bytes);
    }
    return scratch.ptr;
  }

  function withScratch<T>(fn: (alloc: (bytes: number) => number) => T): T {
    const ptrs: number[] = [];
    try {
      return fn((bytes) => {
        const p = heap.alloc(bytes);
        ptrs.push(p);
        return p;
      });
    } finally {
      for (const p of ptrs) heap.free(p);
    }
  }

  function shape(ok: boolean, what: string): void {
    if (!ok) throw new KernelError('KERNEL_SHAPE', what);
  }
  function dims(args: Record<string, number>, min = 1): void {
    for (const [name, n] of Object.entries(args)) shape(Number.isInteger(n) && n >= min, `${name} = ${n}: must be an integer ≥ ${min}`);
  }
  /** [ptr, ptr + bytes) must lie inside the memory (a WASM trap would say much less). */
  function inside(name: string, ptr: number, bytes: number): void {
    if (!Number.isInteger(ptr) || ptr < 0 || ptr + bytes > memory.buffer.byteLength)
      throw new KernelError(
        'KERNEL_BOUNDS',
        `${name}: [${ptr}, ${ptr + bytes}) is outside the kernel memory (${memory.buffer.byteLength} bytes)`,
      );
  }

  return {
    memory,
    alloc: heap.alloc,
    free: heap.free,
    withScratch,
    f32: (ptr, length) => new Float32Array(memory.buffer, ptr, length),
    i8: (ptr, length) => new Int8Array(memory.buffer, ptr, length),
    bytes: (ptr, length) => new Uint8Array(memory.buffer, ptr, length),
    heapBytes: () => memory.buffer.byteLength,
    liveBytes: heap.liveBytes,

    headF32(xPtr, rows, wPtr, V, E, outPtr) {
      dims({ rows, V, E });
      shape(E % 4 === 0, `headF32: E = ${E} must be a multiple of 4`);
      inside('x', xPtr, rows * E * 4);
      inside('w', wPtr, V * E * 4);
      inside('out', outPtr, rows * V * 4);
      ex.head_f32(xPtr, rows, wPtr, V, E, outPtr);
    },

    attend(qPtr, T, past, kPtr, vPtr, cap, H, hd, outPtr) {
      dims({ T, cap, H, hd });
      dims({ past }, 0);
      shape(hd % 4 === 0, `attend: hd = ${hd} must be a multiple of 4`);
      shape(past + T <= cap, `attend: past + T = ${past + T} exceeds the cache capacity ${cap}`);
      const scores = scratchFor(Math.ceil((past + T) / 4) * 16); // f32 [past + T], rounded up to whole v128s
      inside('q', qPtr, T * H * hd * 4);
      inside('k', kPtr, H * cap * hd * 4);
      inside('v', vPtr, H * cap * hd * 4);
      inside('out', outPtr, T * H * hd * 4);
      ex.attend(qPtr, T, past, kPtr, vPtr, cap, H, hd, outPtr, scores, 1 / Math.sqrt(hd));
    },

    kvAppend(srcPtr, T, srcStride, H, hd, dstPtr, cap, past) {
      dims({ T, H, hd, cap });
      dims({ past }, 0);
      shape(hd % 4 === 0, `kvAppend: hd = ${hd} must be a multiple of 4`);
      shape(srcStride >= H * hd, `kvAppend: srcStride = ${srcStride} is less than H*hd = ${H * hd}`);
      shape(past + T <= cap, `kvAppend: past + T = ${past + T} exceeds the cache capacity ${cap}`);
      inside('src', srcPtr, ((T - 1) * srcStride + H * hd) * 4);
      inside('dst', dstPtr, H * cap * hd * 4);
      ex.kv_append(srcPtr, T, srcStride, H, hd, dstPtr, cap, past);
    },

    quantU7(xPtr, M, K, xqPtr, xsPtr, zpPtr) {
      dims({ M, K });
      shape(K % 16 === 0, `quantU7: K = ${K} must be a multiple of 16`);
      inside('x', xPtr, M * K * 4);
      inside('xq', xqPtr, M * K);
      inside('xs', xsPtr, M * 4);
      inside('zp', zpPtr, M * 4);
      ex.quant_u7(xPtr, M, K, xqPtr, xsPtr, zpPtr);
    },

    linearU7(q, M, K, w, outPtr, add) {
      const { N } = w;
      dims({ M, K, N });
      shape(K % 16 === 0 && K <= 65536, `linearU7: K = ${K} must be a multiple of 16 and ≤ 65536`);
      shape(N % 4 === 0, `linearU7: N = ${N} must be a multiple of 4`);
      inside('xq', q.xq, M * K);
      inside('xs', q.xs, M * 4);
      inside('zp', q.zp, M * 4);
      inside('w', w.w, N * K);
      inside('colsum', w.colsum, N * 4);
      inside('scale', w.scale, N * 4);
      inside('bias', w.bias, N * 4);
      inside('out', outPtr, M * N * 4);
      ex.linear_u7(q.xq, M, K, w.w, N, w.colsum, w.scale, w.bias, q.xs, q.zp, outPtr, add ? 1 : 0);
    },

    headU7(q, rows, E, wPtr, V, colsumPtr, scalePtr, outPtr) {
      dims({ rows, E, V });
      shape(E % 16 === 0 && E <= 65536, `headU7: E = ${E} must be a multiple of 16 and ≤ 65536`);
      inside('xq', q.xq, rows * E);
      inside('xs', q.xs, rows * 4);
      inside('zp', q.zp, rows * 4);
      inside('w', wPtr, V * E);
      inside('colsum', colsumPtr, V * 4);
      inside('scale', scalePtr, V * 4);
      inside('out', outPtr, rows * V * 4);
      ex.head_u7(q.xq, rows, E, wPtr, V, colsumPtr, scalePtr, q.xs, q.zp, outPtr);
    },

    rowSumI8(wPtr, V, E, outPtr) {
      dims({ V, E });
      shape(E % 16 === 0, `rowSumI8: E = ${E} must be a multiple of 16`);
      inside('w', wPtr, V * E);
      inside('out', outPtr, V * 4);
      ex.rowsum_i8(wPtr, V, E, outPtr);
    },

    interleave4(wPtr, N, K) {
      dims({ N, K });
      shape(K % 16 === 0, `interleave4: K = ${K} must be a multiple of 16`);
      inside('w', wPtr, N * K);
      const N4 = N & ~3;
      if (N4 > 0) withScratch((alloc) => ex.interleave4(wPtr, N4, K, alloc(4 * K)));
    },

    layerNorm(xPtr, M, E, gammaPtr, betaPtr, eps, outPtr) {
      dims({ M, E });
      shape(E % 4 === 0, `layerNorm: E = ${E} must be a multiple of 4`);
      inside('x', xPtr, M * E * 4);
      inside('gamma', gammaPtr, E * 4);
      inside('beta', betaPtr, E * 4);
      inside('out', outPtr, M * E * 4);
      ex.layer_norm(xPtr, M, E, gammaPtr, betaPtr, eps, outPtr);
    },

    geluNew(xPtr, n) {
      dims({ n });
      shape(n % 4 === 0, `geluNew: n = ${n} must be a multiple of 4`);
      inside('x', xPtr, n * 4);
      ex.gelu_new(xPtr, n);
    },

    rowMax(xPtr, n) {
      dims({ n });
      inside('x', xPtr, n * 4);
      return ex.row_max(xPtr, n);
    },

    expSum(xPtr, n, max, wPtr) {
      dims({ n });
      inside('x', xPtr, n * 4);
      inside('w', wPtr, n * 8);
      return ex.exp_sum(xPtr, n, max, wPtr);
    },
  };
}
