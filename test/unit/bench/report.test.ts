import { describe, expect, it } from 'vitest';
import { parseConfig, configId } from '../../../scripts/bench/models.ts';
import { BEGIN, END, fits, ISOLATE_LIMIT, renderReport, replaceSection, type BenchResults } from '../../../scripts/bench/report.ts';
import { formatSummary, perTokenMs, summarize } from '../../../scripts/bench/stats.ts';
import { untagBrown } from '../../../scripts/bench/corpus.ts';
import { parseLoadLog } from '../../../scripts/bench/workerd-probe.ts';
import type { SuiteResult } from '../../../scripts/bench/suite.ts';

describe('stats', () => {
  it('takes the median and the spread, ignoring non-finite samples', () => {
    expect(summarize([5, 1, 3])).toEqual({ median: 3, min: 1, max: 5, n: 3 });
    expect(summarize([4, 1, NaN, 3, 2])).toEqual({ median: 2.5, min: 1, max: 4, n: 4 });
    expect(summarize([]).n).toBe(0);
  });
  it('formats one sample without a range and nothing as a dash', () => {
    expect(formatSummary(summarize([12.34]))).toBe('12.3');
    expect(formatSummary(summarize([3, 1, 2]), 0)).toBe('2 (1–3)');
    expect(formatSummary(summarize([]))).toBe('—');
  });
  it('rates a decode run by its median step, so one pause does not count', () => {
    expect(perTokenMs([10, 11, 250, 10, 12])).toBe(11);
  });
});

describe('configs', () => {
  it('round-trips ids and rejects others', () => {
    expect(parseConfig('gpt2-int8-s4')).toEqual({ source: 'gpt2', quant: 'int8', stages: 4, kv: 'float32' });
    expect(configId(parseConfig('distilgpt2:q4:1:kv16'))).toBe('distilgpt2-q4-kv16-s1');
    expect(() => parseConfig('gpt3-int8-s1')).toThrow(/bad config/);
    expect(parseConfig('gpt2-int8-s1-graph')).toEqual({ source: 'gpt2', quant: 'int8', stages: 1, kv: 'float32', attention: 'graph' });
    expect(configId(parseConfig('gpt2-int8-s1-graph'))).toBe('gpt2-int8-s1-graph');
    expect(() => parseConfig('gpt2-int8-s1+fast')).toThrow(/bad config/);
  });
});

describe('inputs', () => {
  it('strips Brown tags and joins punctuation', () => {
    expect(untagBrown("The/at jury/nn said/vbd ``/`` no/at ''/'' ./.")).toBe('The jury said " no ".');
  });
  it('reads the loader timings from its log line', () => {
    expect(parseLoadLog(['[model] x: loaded in 900 ms (fetch+verify 120 ms, sessions 700 ms), 5 MB fetched'])).toEqual({
      fetchMs: 120,
      sessionMs: 700,
    });
    expect(parseLoadLog(['nothing'])).toEqual({});
  });
});

const s = (median: number) => summarize([median * 0.9, median, median * 1.2]);
function suite(decode: number, heap: number): SuiteResult {
  return {
    cold: { loadMs: 1000, firstTokenMs: 100, load: { fetchMs: 200, sessionMs: 700 } },
    warmFirstTokenMs: s(50),
    prefillTokS: s(400),
    decodeMs: { '32': s(decode), '512': s(decode * 2) },
    generateTokS: s(1000 / decode),
    memory: { heap, kvJsBytes: 20 * 2 ** 20, rssPeak: 300 * 2 ** 20 },
  };
}

describe('report', () => {
  const results: BenchResults = {
    machine: {
      cpu: 'Test CPU',
      cores: 2,
      node: 'v20',
      wrangler: '4.86.0',
      workerd: 'workerd x',
      onnxruntimeWeb: '1.30.0',
      onnxruntimeNode: '1.30.0',
      transformersJs: '4.3.1',
      date: 'D',
      command: 'npm run bench',
    },
    suite: { runs: 3, decodeSteps: 8, pasts: [32, 512], genTokens: 64 },
    configs: [
      {
        id: 'gpt2-int8-s1',
        config: { source: 'gpt2', quant: 'int8', stages: 1, kv: 'float32' },
        manifest: {
          config: {
            architecture: 'gpt2',
            n_layer: 12,
            n_head: 12,
            n_embd: 768,
            n_positions: 1024,
            vocab_size: 50257,
            layer_norm_epsilon: 1e-5,
            bos_token_id: 50256,
            eos_token_id: 50256,
            parameters: 124e6,
          },
          memory: { weights_bytes: 128 * 2 ** 20, wasm_heap_estimate_bytes: 0, kv_cache_bytes_per_token: 73728 },
        },
        workerd: { engine: 'workerd', suite: suite(40, 150 * 2 ** 20) },
        coldRuns: [
          { loadMs: 1000, firstTokenMs: 100, load: { fetchMs: 200, sessionMs: 700 } },
          { loadMs: 1200, firstTokenMs: 100, load: { fetchMs: 220, sessionMs: 800 } },
        ],
        node: [
          { engine: 'tfjs-wasm', suite: suite(80, 160 * 2 ** 20) },
          { engine: 'node-native', error: 'boom' },
        ],
      },
    ],
  };
  const md = renderReport(results);

  it('says whether the isolate fits and by how much it does not', () => {
    expect(fits(ISOLATE_LIMIT)).toBe('yes');
    expect(fits(ISOLATE_LIMIT + 10 * 2 ** 20)).toBe('no (+10)');
    expect(fits(undefined)).toBe('—');
    // heap 150 + KV 20 MB: over by 42 MB
    expect(md).toContain('no (+42)');
  });
  it('renders the machine, the cold medians and the ratios against transformers.js', () => {
    expect(md).toContain('Test CPU (2 cores)');
    expect(md).toContain('| 1200 (1100–1300) |'); // cold first token: load + first token per fresh process (median of 2)
    expect(md).toMatch(/workerd vs tfjs-wasm \| 1\.00× \| 1\.00× \| 2\.00× \| 2\.00× \| 2\.00× \|/);
    expect(md).toContain('failed: boom');
  });
  it('takes the memory of one request in a fresh isolate when it was measured', () => {
    const withServe: BenchResults = {
      ...results,
      configs: [{ ...results.configs[0]!, serve: { heap: 100 * 2 ** 20, kvJsBytes: 0, context: 528, rssPeak: 400 * 2 ** 20 } }],
    };
    const row = renderReport(withServe)
      .split('\n')
      .find((l) => l.startsWith('| gpt2-int8-s1 (12×768'))!;
    expect(row).toMatch(/\| 100\.0 \| — \| 100\.0 \| 400\.0 \| yes \|$/); // heap, KV in JS, isolate, VmHWM, fits
  });
  it('replaces only the generated section, or appends it', () => {
    const doc = `# B\nintro\n${BEGIN}\nold\n${END}\noutro\n`;
    expect(replaceSection(doc, 'new')).toBe(`# B\nintro\n${BEGIN}\nnew\n${END}\noutro\n`);
    expect(replaceSection('# B\n', 'x')).toBe(`# B\n\n${BEGIN}\nx\n${END}\n`);
  });
});
