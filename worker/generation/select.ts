/**
 * Selection without a full sort, for top_k over 50,257 logits.
 *
 * Quickselect (Hoare partition, median-of-three pivot): reorders ids[0..n) so that position `kth`
 * holds the id with the (kth+1)-th largest logit; returns that id. Deterministic for a given input.
 */
export function select(row: Float32Array, ids: Int32Array, n: number, kth: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const pivot = median3(row[ids[lo]!]!, row[ids[mid]!]!, row[ids[hi]!]!);
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (row[ids[i]!]! > pivot) i++;
      while (row[ids[j]!]! < pivot) j--;
      if (i <= j) {
        const t = ids[i]!;
        ids[i] = ids[j]!;
        ids[j] = t;
        i++;
        j--;
      }
    }
    if (kth <= j) hi = j;
    else if (kth >= i) lo = i;
    else break;
  }
  return ids[kth]!;
}

function median3(a: number, b: number, c: number): number {
  return Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
}
