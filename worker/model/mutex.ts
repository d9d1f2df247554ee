/**
 * A FIFO async mutex. One ORT instance is single-threaded and session.run is not reentrant, so
 * concurrent requests take turns per forward call (they interleave at step granularity).
 */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
