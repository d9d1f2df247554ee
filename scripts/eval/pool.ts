/**
 * Run `task` over `items` with at most `concurrency` in flight; results in input order. The first
 * failure stops new tasks from starting and is rethrown once the in-flight ones settle.
 */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  concurrency: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed: { error: unknown } | null = null;
  async function worker(): Promise<void> {
    while (failed === null && next < items.length) {
      const i = next++;
      try {
        results[i] = await task(items[i]!, i);
      } catch (error) {
        failed ??= { error };
      }
    }
  }
  const n = Math.max(1, Math.min(concurrency, items.length));
  await Promise.all(Array.from({ length: n }, worker));
  if (failed !== null) throw (failed as { error: unknown }).error;
  return results;
}
