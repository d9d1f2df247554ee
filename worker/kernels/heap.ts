/**
 * First-fit allocator over a WebAssembly.Memory, kept in JS: the kernels own no memory of their own.
 * Blocks are 16-byte aligned and sized in multiples of 16 (v128 loads are fastest aligned). The free
 * list is sorted by address and coalesced on free, so alloc/free in any order does not fragment the
 * heap beyond what live blocks force. Offset 0 is never handed out, so 0 can mean "no buffer".
 */
import { KernelError } from './errors.ts';

const ALIGN = 16;
const PAGE = 65536;

export interface Heap {
  alloc(bytes: number): number;
  free(ptr: number): void;
  liveBytes(): number;
}

interface Block {
  ptr: number;
  size: number;
}

export function createHeap(memory: WebAssembly.Memory): Heap {
  const free: Block[] = []; // sorted by ptr, no two adjacent
  const live = new Map<number, number>(); // ptr → size
  let end = ALIGN; // everything in [ALIGN, end) is either live or in `free`
  let liveTotal = 0;

  /** Inserts [ptr, ptr+size) into the free list, merging with its neighbours. */
  function release(ptr: number, size: number): void {
    let i = 0;
    while (i < free.length && free[i]!.ptr < ptr) i++;
    const prev = free[i - 1];
    const next = free[i];
    if (prev && prev.ptr + prev.size === ptr) {
      prev.size += size;
      if (next && prev.ptr + prev.size === next.ptr) {
        prev.size += next.size;
        free.splice(i, 1);
      }
    } else if (next && ptr + size === next.ptr) {
      next.ptr = ptr;
      next.size += size;
    } else {
      free.splice(i, 0, { ptr, size });
    }
  }

  /** Grows the memory so that a free block of at least `size` ends at the top of the heap. */
  function grow(size: number): void {
    const last = free[free.length - 1];
    const tailFree = last && last.ptr + last.size === end ? last.size : 0;
    const needEnd = end + (size - tailFree);
    const bytes = memory.buffer.byteLength;
    if (needEnd > bytes) {
      const pages = Math.ceil((needEnd - bytes) / PAGE);
      try {
        memory.grow(pages);
      } catch (err) {
        throw new KernelError('KERNEL_OOM', `cannot grow kernel memory by ${pages} pages: ${String(err)}`);
      }
    }
    const newEnd = memory.buffer.byteLength;
    release(end, newEnd - end);
    end = newEnd;
  }

  return {
    alloc(bytes) {
      if (!Number.isInteger(bytes) || bytes < 0) throw new KernelError('KERNEL_SHAPE', `alloc(${bytes}): bytes must be an integer ≥ 0`);
      const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
      let i = free.findIndex((b) => b.size >= size);
      if (i < 0) {
        grow(size);
        i = free.findIndex((b) => b.size >= size);
      }
      const block = free[i]!;
      const ptr = block.ptr;
      if (block.size === size) free.splice(i, 1);
      else {
        block.ptr += size;
        block.size -= size;
      }
      live.set(ptr, size);
      liveTotal += size;
      return ptr;
    },
    free(ptr) {
      const size = live.get(ptr);
      if (size === undefined) throw new KernelError('KERNEL_FREE', `free(${ptr}): not an allocated block (double free or foreign pointer)`);
      live.delete(ptr);
      liveTotal -= size;
      release(ptr, size);
    },
    liveBytes: () => liveTotal,
  };
}
