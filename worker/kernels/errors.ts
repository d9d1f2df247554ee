/** Errors of the kernel wrapper, each with a machine-readable code. */
export type KernelErrorCode =
  | 'KERNEL_SHAPE' // a size/shape argument the kernels cannot take (E % 16, hd % 4, past + T > cap, …)
  | 'KERNEL_BOUNDS' // a buffer [ptr, ptr + bytes) outside the module's memory
  | 'KERNEL_FREE' // free() of a pointer that is not allocated (double free, foreign pointer)
  | 'KERNEL_OOM'; // the memory cannot grow far enough (4 GiB limit, or the host refused)

export class KernelError extends Error {
  override readonly name = 'KernelError';
  constructor(
    readonly code: KernelErrorCode,
    message: string,
  ) {
    super(message);
  }
}
