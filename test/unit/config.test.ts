import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../worker/config.ts';
import { modelLimits } from '../../worker/service/limits.ts';

const env = {
  DEFAULT_MODEL: 'edge-gpt2-brown',
  MODEL_IDS: 'edge-gpt2-brown, other-model',
  MAX_NEW_TOKENS: '256',
  MAX_INPUT_TOKENS: '768',
  MAX_TOTAL_TOKENS: '1024',
  CPU_BUDGET_MS: '25000',
  CORS_ORIGINS: '*',
};

describe('parseConfig', () => {
  it('parses wrangler.toml vars and the API_KEYS secret', () => {
    const c = parseConfig({ ...env, API_KEYS: 'a, b,,c' });
    expect(c).toMatchObject({
      defaultModel: 'edge-gpt2-brown',
      modelIds: ['edge-gpt2-brown', 'other-model'],
      limits: { maxNewTokens: 256, maxInputTokens: 768, maxTotalTokens: 1024 },
      cpuBudgetMs: 25000,
      corsOrigins: '*',
      apiKeys: ['a', 'b', 'c'],
    });
    expect(parseConfig({ ...env, CORS_ORIGINS: 'https://a.example, http://localhost:8787' }).corsOrigins).toEqual([
      'https://a.example',
      'http://localhost:8787',
    ]);
    expect(parseConfig({ ...env, API_KEYS: undefined }).apiKeys).toEqual([]);
    expect(parseConfig({ ...env, STAGE_HOPS: 'gateway' }).stageHops).toBe('gateway');
    expect(parseConfig(env).stageHops).toBeUndefined(); // chained where the stages are wired for it
    expect(parseConfig({ ...env, MODEL_ALIASES: 'gpt2=edge-gpt2-brown, openai-community/gpt2=edge-gpt2-brown' }).modelAliases).toEqual(
      new Map([
        ['gpt2', 'edge-gpt2-brown'],
        ['openai-community/gpt2', 'edge-gpt2-brown'],
      ]),
    );
  });

  it('fails loudly, naming the variable', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ ...env, MAX_NEW_TOKENS: 'lots' }, /MAX_NEW_TOKENS must be a positive integer/],
      [{ ...env, MAX_TOTAL_TOKENS: '0' }, /MAX_TOTAL_TOKENS must be a positive integer/],
      [{ ...env, CPU_BUDGET_MS: undefined }, /CPU_BUDGET_MS is required/],
      [{ ...env, DEFAULT_MODEL: 'x' }, /DEFAULT_MODEL "x" is not listed in MODEL_IDS/],
      [{ ...env, MAX_INPUT_TOKENS: '2000' }, /MAX_INPUT_TOKENS must be < MAX_TOTAL_TOKENS/],
      [{ ...env, CORS_ORIGINS: 'example.com' }, /CORS_ORIGINS entry "example.com"/],
      [{ ...env, MODEL_IDS: 'edge-gpt2-brown,../etc' }, /MODEL_IDS entry "..\/etc"/],
      [{ ...env, MODEL_ALIASES: 'gpt2=nope' }, /must point at one of MODEL_IDS/],
      [{ ...env, MODEL_ALIASES: 'a/b/c=edge-gpt2-brown' }, /needs a new name/],
      [{ ...env, STAGE_HOPS: 'relay' }, /STAGE_HOPS must be "chain" or "gateway"/],
    ];
    for (const [e, re] of bad) expect(() => parseConfig(e)).toThrow(re);
    expect(() => parseConfig({})).toThrow(ConfigError);
  });

  it('caps limits by the model context', () => {
    expect(modelLimits({ maxNewTokens: 256, maxInputTokens: 768, maxTotalTokens: 1024 }, 512)).toEqual({
      maxNewTokens: 256,
      maxInputTokens: 511,
      maxTotalTokens: 512,
      bounds: {
        max_total_tokens: "the model's context n_positions=512",
        max_input_tokens: "the model's context n_positions=512, less 1 for a new token",
      },
    });
    // The server's variables are the bounds when the model's context is larger: nothing to name.
    expect(modelLimits({ maxNewTokens: 256, maxInputTokens: 768, maxTotalTokens: 1024 }, 2048)).toEqual({
      maxNewTokens: 256,
      maxInputTokens: 768,
      maxTotalTokens: 1024,
    });
  });
});
