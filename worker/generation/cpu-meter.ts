/**
 * CPU budget for one generation: decides, before each forward, whether the step still fits.
 *
 * Why not just read a clock: in Workers, `Date.now()` and `performance.now()` are frozen while
 * JavaScript runs (a Spectre mitigation) and only advance across I/O. A loop of forwards with no I/O
 * between them reads 0 ms per step, and the platform would kill the request at its CPU limit while
 * the clock says nothing was spent. So every step is *charged* at least what a cost model predicts:
 *
 *   estimate(batch, past, seq) = scale × (fixedMs + batch × seq × msPerToken(seq) + batch × (past + seq) × msPerPastPosition)
 *
 * where msPerToken is `msPerNewToken` for decode steps (seq = 1: a matrix-vector product per layer)
 * and `msPerPrefillToken` for prefill (matrix-matrix products amortise the weights). The per-position
 * term covers attention and copying the KV cache between JS and the WASM heap each step. The prior is
 * passed in and should be conservative (measured on the slowest quantization we serve).
 *
 * Calibration: when the clock does advance over a decode step (Node, local dev, or a Worker step that
 * spanned I/O), `scale` becomes Σ observed / Σ prior over those steps, so the model tracks the real
 * speed of this machine and model. A step that reads 0 ms is uninformative (frozen clock) and is
 * charged at the estimate; a step whose clock advanced is charged what it read.
 *
 * Spent = max(Σ charges, clock elapsed since the meter started). The second term turns the budget into
 * a wall-clock budget where the clock works (`cpuBudgetMs` is a "wall/CPU budget"), and catches CPU
 * burnt outside forward (sampling, detokenizing, the consumer). Both terms over-count rather than
 * under-count: a clock jump after frozen steps is charged on top of their estimates. That is the safe
 * direction — stopping a little early ends with finish_reason "length"; stopping late is a killed request.
 */

export interface CostPrior {
  /** Per forward call, whatever its size (graph dispatch, tensor setup). */
  fixedMs: number;
  /** Per row per new token in a decode step (seq = 1). */
  msPerNewToken: number;
  /** Per row per token in a prefill (seq > 1). */
  msPerPrefillToken: number;
  /** Per row per position in the cache after the step (attention + KV copies). */
  msPerPastPosition: number;
}

export interface StepShape {
  batch: number;
  /** Cache length before the step. */
  past: number;
  /** Tokens fed per row in this step. */
  seq: number;
}

export class CpuMeter {
  private readonly startedAt: number;
  private charged = 0;
  private observedSum = 0;
  private priorSum = 0;

  constructor(
    readonly budgetMs: number,
    private readonly prior: CostPrior,
    private readonly now: () => number,
  ) {
    this.startedAt = now();
  }

  /** Ratio of observed to predicted decode cost (1 until the clock has advanced over a decode step). */
  get scale(): number {
    return this.priorSum > 0 && this.observedSum > 0 ? this.observedSum / this.priorSum : 1;
  }

  get spentMs(): number {
    return Math.max(this.charged, this.now() - this.startedAt);
  }

  estimate(shape: StepShape): number {
    return this.scale * this.priorCost(shape);
  }

  /** True when `shape`'s step is predicted to finish within the budget. */
  canAfford(shape: StepShape): boolean {
    return this.spentMs + this.estimate(shape) <= this.budgetMs;
  }

  /**
   * Runs one forward and charges it (see the header for what is charged). `share` reads the compute the
   * step says is this request's (a batched step's share, generation/scheduler.ts) instead of the clock
   * around it, which would also count the steps of others it waited for.
   */
  async time<T>(shape: StepShape, step: () => Promise<T>, share?: (result: T) => number | undefined): Promise<T> {
    const predicted = this.estimate(shape);
    const t0 = this.now();
    const result = await step();
    this.record(shape, share?.(result) ?? this.now() - t0, predicted);
    return result;
  }

  private record(shape: StepShape, observed: number, predicted: number): void {
    if (observed > 0 && shape.seq === 1) {
      // Only decode steps calibrate: they are what the remaining budget is spent on, and a prefill's
      // ratio to its prior says little about a decode step's.
      this.observedSum += observed;
      this.priorSum += this.priorCost(shape);
    }
    this.charged += observed > 0 ? observed : predicted;
  }

  private priorCost({ batch, past, seq }: StepShape): number {
    const p = this.prior;
    const perToken = seq === 1 ? p.msPerNewToken : p.msPerPrefillToken;
    return p.fixedMs + batch * seq * perToken + batch * (past + seq) * p.msPerPastPosition;
  }
}
