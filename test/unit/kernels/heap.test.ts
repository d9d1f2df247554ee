import { describe, expect, it } from 'vitest';
import { createHeap } from '../../../worker/kernels/heap.ts';
import { KernelError } from '../../../worker/kernels/errors.ts';
import { nodeKernels } from '../../../worker/kernels/node.ts';
import { freshKernels } from './wasm.ts';

const memory = (pages = 1, maximum = 64) => new WebAssembly.Memory({ initial: pages, maximum });

describe('heap (first-fit, coalescing)', () => {
  it('hands out 16-byte aligned, non-overlapping blocks and never offset 0', () => {
    const heap = createHeap(memory());
    const blocks = [1, 15, 16, 17, 100, 0, 3].map((n) => ({ ptr: heap.alloc(n), n: Math.max(16, Math.ceil(n / 16) * 16) }));
    for (const b of blocks) {
      expect(b.ptr % 16).toBe(0);
      expect(b.ptr).toBeGreaterThan(0);
    }
    const sorted = [...blocks].sort((a, b) => a.ptr - b.ptr);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.ptr).toBeGreaterThanOrEqual(sorted[i - 1]!.ptr + sorted[i - 1]!.n);
    expect(heap.liveBytes()).toBe(blocks.reduce((s, b) => s + b.n, 0));
  });

  it('reuses freed space first-fit and coalesces neighbours in any free order', () => {
    const heap = createHeap(memory());
    const a = heap.alloc(64);
    const b = heap.alloc(64);
    const c = heap.alloc(64);
    const d = heap.alloc(64);
    heap.free(b);
    expect(heap.alloc(32)).toBe(b); // first fit: the hole left by b
    heap.free(b);
    heap.free(c); // b+c coalesce (c's left neighbour is free)
    expect(heap.alloc(128)).toBe(b);
    heap.free(b);
    heap.free(a); // a+b+c coalesce (right neighbour free)
    expect(heap.alloc(192)).toBe(a);
    heap.free(a);
    heap.free(d);
    expect(heap.liveBytes()).toBe(0);
    expect(heap.alloc(65536 - 16)).toBe(a); // everything merged back into one block of the first page
  });

  it('grows the memory when needed, keeping data and earlier pointers valid', () => {
    const mem = memory(1, 64);
    const heap = createHeap(mem);
    const a = heap.alloc(1000);
    new Uint8Array(mem.buffer, a, 1000).fill(7);
    const big = heap.alloc(3 * 65536); // does not fit in page 1 → grows
    expect(mem.buffer.byteLength).toBeGreaterThanOrEqual(4 * 65536);
    expect(big + 3 * 65536).toBeLessThanOrEqual(mem.buffer.byteLength);
    expect(new Uint8Array(mem.buffer, a, 1000).every((x) => x === 7)).toBe(true);
    // the free tail before the growth is merged with the new pages: one contiguous block
    expect(big).toBe(a + 1008);
    heap.free(a);
    heap.free(big);
    expect(heap.liveBytes()).toBe(0);
  });

  it('throws KERNEL_FREE on double free or a foreign pointer, KERNEL_OOM past the maximum', () => {
    const heap = createHeap(memory(1, 2));
    const a = heap.alloc(16);
    heap.free(a);
    expect(() => heap.free(a)).toThrow(expect.objectContaining({ code: 'KERNEL_FREE' }));
    expect(() => heap.free(a + 16)).toThrow(KernelError);
    expect(() => heap.alloc(3 * 65536)).toThrow(expect.objectContaining({ code: 'KERNEL_OOM' }));
    expect(() => heap.alloc(-1)).toThrow(expect.objectContaining({ code: 'KERNEL_SHAPE' }));
    expect(heap.liveBytes()).toBe(0);
  });

  it('survives a random alloc/free workload: no overlap, live bytes back to 0', () => {
    const heap = createHeap(memory(1, 256));
    let seed = 12345;
    const next = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const live: { ptr: number; bytes: number }[] = [];
    for (let step = 0; step < 2000; step++) {
      if (live.length && next() < 0.45) heap.free(live.splice(Math.floor(next() * live.length), 1)[0]!.ptr);
      else {
        const bytes = Math.floor(next() * 5000);
        live.push({ ptr: heap.alloc(bytes), bytes });
      }
    }
    const sorted = [...live].sort((a, b) => a.ptr - b.ptr);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.ptr).toBeGreaterThanOrEqual(sorted[i - 1]!.ptr + sorted[i - 1]!.bytes);
    for (const b of live) heap.free(b.ptr);
    expect(heap.liveBytes()).toBe(0);
  });
});

describe('Kernels memory API', () => {
  it('views read and write the module memory; heapBytes grows with alloc', () => {
    const k = freshKernels();
    const before = k.heapBytes();
    const p = k.alloc(8);
    k.f32(p, 2).set([1.5, -2]);
    expect(Array.from(k.bytes(p, 8))).toEqual(Array.from(new Uint8Array(new Float32Array([1.5, -2]).buffer)));
    k.i8(p, 1)[0] = -1;
    expect(k.bytes(p, 1)[0]).toBe(255);
    const big = k.alloc(2 * 65536);
    expect(k.heapBytes()).toBeGreaterThan(before);
    expect(k.f32(p, 1)[0]).not.toBe(1.5); // byte 0 was overwritten through the i8 view…
    expect(k.f32(p + 4, 1)[0]).toBe(-2); // …and the rest survived the growth
    k.free(p);
    k.free(big);
    expect(k.liveBytes()).toBe(0);
  });

  it('nodeKernels() caches one instance', () => {
    expect(nodeKernels()).toBe(nodeKernels());
  });
});
