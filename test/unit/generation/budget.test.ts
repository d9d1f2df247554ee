import { describe, expect, it } from 'vitest';
import { BudgetError, checkBudget, costPriorFor, CpuMeter, DEFAULT_COST_PRIOR, type CostPrior } from '../../../worker/generation/index.ts';

const limits = { maxNewTokens: 256, maxInputTokens: 768, maxTotalTokens: 1024 };

function budgetError(f: () => void): BudgetError {
  try {
    f();
  } catch (e) {
    if (e instanceof BudgetError) return e;
    throw e;
  }
  throw new Error('expected a BudgetError');
}

describe('checkBudget', () => {
  it('accepts requests within every limit, including the exact bounds', () => {
    expect(() => checkBudget(10, 20, limits)).not.toThrow();
    expect(() => checkBudget(768, 256, limits)).not.toThrow();
    expect(() => checkBudget(0, 0, limits)).not.toThrow();
  });

  it('names max_new_tokens', () => {
    const e = budgetError(() => checkBudget(10, 1000, limits));
    expect(e).toMatchObject({ limit: 'max_new_tokens', value: 1000, max: 256 });
    expect(e.message).toBe('max_new_tokens must be <= 256 (MAX_NEW_TOKENS), got 1000');
    expect(budgetError(() => checkBudget(10, -1, limits)).limit).toBe('max_new_tokens');
    expect(budgetError(() => checkBudget(10, 1.5, limits)).limit).toBe('max_new_tokens');
  });

  it('names max_input_tokens', () => {
    const e = budgetError(() => checkBudget(900, 10, limits));
    expect(e).toMatchObject({ limit: 'max_input_tokens', value: 900, max: 768 });
    expect(e.message).toBe('input is 900 tokens, over the limit of 768 (MAX_INPUT_TOKENS)');
  });

  it('names max_total_tokens', () => {
    const e = budgetError(() => checkBudget(768, 256, { ...limits, maxTotalTokens: 1000 }));
    expect(e).toMatchObject({ limit: 'max_total_tokens', value: 1024, max: 1000 });
    expect(e.message).toMatch(/^inputs \+ max_new_tokens \(1024\) must be <= 1000/);
  });
});

describe('CpuMeter', () => {
  const prior: CostPrior = { fixedMs: 0, msPerNewToken: 10, msPerPrefillToken: 2, msPerPastPosition: 0 };

  it('charges the prior when the clock is frozen (Workers) and refuses a step that would overrun', async () => {
    const meter = new CpuMeter(100, prior, () => 1234);
    await meter.time({ batch: 1, past: 0, seq: 5 }, async () => {}); // prefill: 5 × 2 ms
    expect(meter.spentMs).toBe(10);
    let steps = 0;
    while (meter.canAfford({ batch: 1, past: 5 + steps, seq: 1 })) {
      await meter.time({ batch: 1, past: 5 + steps, seq: 1 }, async () => {});
      steps++;
    }
    expect(steps).toBe(9); // 10 + 9 × 10 = 100: a tenth step would overrun
    expect(meter.spentMs).toBeLessThanOrEqual(100);
  });

  it('scales the estimate with batch and past length', () => {
    const meter = new CpuMeter(1000, { fixedMs: 1, msPerNewToken: 10, msPerPrefillToken: 2, msPerPastPosition: 0.5 }, () => 0);
    expect(meter.estimate({ batch: 1, past: 0, seq: 1 })).toBe(1 + 10 + 0.5);
    expect(meter.estimate({ batch: 3, past: 9, seq: 1 })).toBe(1 + 30 + 3 * 10 * 0.5);
    expect(meter.estimate({ batch: 1, past: 0, seq: 100 })).toBe(1 + 200 + 50);
  });

  it('calibrates from decode steps when the clock advances', async () => {
    let t = 0;
    const meter = new CpuMeter(1000, prior, () => t);
    await meter.time({ batch: 1, past: 0, seq: 1 }, async () => {
      t += 4; // the machine is 2.5× faster than the prior
    });
    expect(meter.scale).toBeCloseTo(0.4);
    expect(meter.estimate({ batch: 2, past: 1, seq: 1 })).toBeCloseTo(8);
    expect(meter.spentMs).toBe(4);
  });

  it('counts wall time spent outside forward', () => {
    let t = 0;
    const meter = new CpuMeter(100, prior, () => t);
    t = 95;
    expect(meter.spentMs).toBe(95);
    expect(meter.canAfford({ batch: 1, past: 0, seq: 1 })).toBe(false);
  });

  it('a clock jump after frozen steps is charged on top of their estimates (never under-counts)', async () => {
    let t = 0;
    const meter = new CpuMeter(1000, prior, () => t);
    for (let i = 0; i < 3; i++) await meter.time({ batch: 1, past: i, seq: 1 }, async () => {}); // frozen: 3 × 10
    await meter.time({ batch: 1, past: 3, seq: 1 }, async () => {
      t += 50; // I/O let the clock catch up with everything so far
    });
    expect(meter.spentMs).toBe(80);
  });
});

describe('costPriorFor', () => {
  it('gives ≈ 40 ms/token for GPT-2 small int8 and scales with the model and quantization', () => {
    const small = costPriorFor({ n_layer: 12, n_embd: 768, vocab_size: 50257 }, 'int8');
    expect(small.msPerNewToken).toBeCloseTo(40, 6);
    expect(small.msPerPastPosition).toBeCloseTo(0.1, 6);
    expect(DEFAULT_COST_PRIOR).toEqual(small);
    const medium = costPriorFor({ n_layer: 24, n_embd: 1024, vocab_size: 50257 }, 'int8');
    expect(medium.msPerNewToken / small.msPerNewToken).toBeCloseTo(
      (12 * 24 * 1024 ** 2 + 1024 * 50257) / (12 * 12 * 768 ** 2 + 768 * 50257),
      6,
    );
    expect(costPriorFor({ n_layer: 12, n_embd: 768, vocab_size: 50257 }, 'q4').msPerNewToken).toBeCloseTo(400, 6);
    const tiny = costPriorFor({ n_layer: 2, n_embd: 64, vocab_size: 50257 }, 'int8');
    expect(tiny.msPerNewToken).toBeGreaterThan(0.5);
    expect(tiny.msPerNewToken).toBeLessThan(2); // the LM head dominates a tiny model
  });

  it('counts the MLP at its real width (n_inner), 4 x n_embd when absent or null', () => {
    const small = costPriorFor({ n_layer: 12, n_embd: 768, vocab_size: 50257 }, 'int8');
    expect(costPriorFor({ n_layer: 12, n_embd: 768, vocab_size: 50257, n_inner: null }, 'int8')).toEqual(small);
    expect(costPriorFor({ n_layer: 12, n_embd: 768, vocab_size: 50257, n_inner: 3072 }, 'int8')).toEqual(small);
    const narrow = costPriorFor({ n_layer: 12, n_embd: 768, vocab_size: 50257, n_inner: 768 }, 'int8');
    // per layer 4·E² (attention) + 2·E·n_inner (MLP) instead of 12·E²
    expect(narrow.msPerNewToken / small.msPerNewToken).toBeCloseTo(
      (12 * 6 * 768 ** 2 + 768 * 50257) / (12 * 12 * 768 ** 2 + 768 * 50257),
      6,
    );
  });
});
