import { describe, expect, it } from 'vitest';
import { renderPage, type PageView } from '../../../worker/page/index.ts';
import { CLIENT_JS } from '../../../worker/page/client/index.ts';
import { evalTable, formatBytes, modelFacts, shardSummary } from '../../../worker/page/facts.ts';
import { shellQuote } from '../../../worker/page/examples.ts';
import { fixtureManifest } from './fixture.ts';

const config = { maxNewTokens: 256, maxInputTokens: 768, maxTotalTokens: 1024, cpuBudgetMs: 25_000, authEnabled: false };

function view(over: Partial<PageView> = {}): PageView {
  return {
    origin: 'https://gpt.example.workers.dev',
    modelId: 'edge-gpt2-brown',
    manifest: fixtureManifest(),
    manifestError: null,
    state: { state: 'unloaded' },
    config,
    streamUrl: '/generate_stream',
    streamFlag: false,
    multiUrl: '/v1/completions',
    ...over,
  };
}

/** HTML text back to characters (the five entities hono/html writes). */
function unescape(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** The visible text of a <dt>label</dt><dd>value</dd> pair. */
function dd(page: string, label: string): string | undefined {
  const re = new RegExp(`<dt>${label}</dt><dd>([^<]*)</dd>`);
  return re.exec(page)?.[1];
}

describe('renderPage', () => {
  it('shows the manifest facts', async () => {
    const page = await renderPage(view());
    expect(page).toContain('<h1>edge-gpt2-brown</h1>');
    expect(dd(page, 'Parameters')).toBe('44.9 M (44,900,352)');
    expect(dd(page, 'Layers / heads / width')).toBe('6 / 8 / 512 (head dim 64)');
    expect(dd(page, 'Context')).toBe('512 tokens');
    expect(dd(page, 'Quantization')).toBe('int8');
    // 2 shards of 30 MB + 15.5 MB; graph 0.15 MB; tokenizer 2.112 MB.
    expect(dd(page, 'Shards')).toBe('2 shards, 45.5 MB in 1 stage graph (150.0 kB); 47.8 MB with tokenizer');
    expect(dd(page, 'Tokenizer')).toBe('hf-tokenizer-json (2.1 MB)');
    expect(dd(page, 'KV cache')).toBe('float32, 24.6 kB per token');
    expect(dd(page, 'Memory estimate')).toBe('90.0 MB WASM heap at full context (weights 45.5 MB)');
    expect(dd(page, 'license')).toBe('MIT');
    expect(dd(page, 'training')).toBe('6 layers, 1 h on 2 CPU cores');
    // The description heads the page (escaped), not repeated in the card.
    expect(page).toContain('<p>A small GPT-2 trained on the Brown corpus &lt;b&gt;for tests&lt;/b&gt; &amp; demos</p>');
    expect(dd(page, 'description')).toBeUndefined();
  });

  it('shows flat card objects as a nested list, deeper ones as JSON, and skips empty ones', async () => {
    const m = fixtureManifest({ training: { status: 'provisional', steps: 300 }, notes: [], extra: { a: { b: 1 } } });
    const page = await renderPage(view({ manifest: m }));
    expect(page).toContain('<dt>training</dt><dd><dl><dt>status</dt><dd>provisional</dd><dt>steps</dt><dd>300</dd></dl></dd>');
    expect(dd(page, 'extra')).toBe('{&quot;a&quot;:{&quot;b&quot;:1}}');
    expect(page).not.toContain('<dt>notes</dt>');
  });

  it('shows the limits, with max_total_tokens capped by the context', async () => {
    const page = await renderPage(view());
    expect(dd(page, 'max_new_tokens')).toBe('256');
    expect(dd(page, 'max_input_tokens')).toBe('511'); // MAX_INPUT_TOKENS 768 > context - 1
    expect(dd(page, 'max_total_tokens')).toBe('512');
    expect(dd(page, 'Authentication')).toMatch(/^open/);
  });

  it('renders card.eval as a table', async () => {
    const page = await renderPage(view());
    expect(page).toContain('<th scope="col">dataset</th><th scope="col">ppl</th><th scope="col">bpb</th>');
    expect(page).toContain('<tr><td>brown-val</td><td>123.457</td><td>1.5</td></tr>');
    expect(page).toContain('<tr><td>wikitext2</td><td>456.7</td><td></td></tr>');
  });

  it('escapes every manifest-derived string', async () => {
    const evil = '<script>alert(1)</script>"\'&';
    const m = fixtureManifest({ description: evil, license: evil, eval: { [evil]: { ppl: evil } } });
    const page = await renderPage(view({ manifest: { ...m, id: evil, source: { ...m.source, name: evil } } }));
    expect(page).not.toContain('<script>alert(1)');
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;');
    // Exactly our two script elements (config JSON + playground) remain.
    expect(page.match(/<script/g)).toHaveLength(2);
  });

  it('keeps the page config JSON inside its <script> element', async () => {
    const page = await renderPage(view({ modelId: 'x</script><script>alert(1)//' }));
    const m = /<script type="application\/json" id="page-config">([^<]*)<\/script>/.exec(page);
    expect(m).not.toBeNull();
    expect(JSON.parse(m![1]!).model).toBe('x</script><script>alert(1)//');
  });

  it("puts the request's origin into every example", async () => {
    const page = await renderPage(view());
    const codes = [...page.matchAll(/<pre tabindex="0"><code id="([^"]+)">([^]*?)<\/code><\/pre>/g)].map((c) => [c[1]!, unescape(c[2]!)]);
    expect(codes.map((c) => c[0])).toEqual(['curl-tgi', 'curl-hf', 'curl-openai', 'js-openai', 'js-hf']);
    for (const [, code] of codes) expect(code).toContain('https://gpt.example.workers.dev');
    const [tgi, hf, openai, jsOpenai, jsHf] = codes.map((c) => c[1]!);
    expect(tgi).toMatch(/^curl -N 'https:\/\/gpt\.example\.workers\.dev\/generate_stream' \\\n/);
    // The -d payload is valid JSON once the shell's single quotes are removed.
    const body = (code: string) => JSON.parse(/-d '(.*)'$/s.exec(code)![1]!);
    expect(body(tgi!).parameters.seed).toBe(42);
    expect(hf).toContain("'https://gpt.example.workers.dev/models/edge-gpt2-brown'");
    expect(body(openai!)).toMatchObject({ model: 'edge-gpt2-brown', stream: true });
    expect(jsOpenai).toContain('baseURL: "https://gpt.example.workers.dev/v1"');
    expect(jsHf).toContain('endpointUrl: "https://gpt.example.workers.dev/models/edge-gpt2-brown"');
    expect(page).not.toContain('Authorization: Bearer');
  });

  it('with auth on: an API key field and bearer tokens in the examples', async () => {
    const page = await renderPage(view({ config: { ...config, authEnabled: true } }));
    expect(page).toContain('<input id="p-api_key" name="api_key" type="password"');
    expect(page).toContain('-H &quot;Authorization: Bearer $API_KEY&quot;');
    expect(page).toContain('apiKey: process.env.API_KEY');
    expect(dd(page, 'Authentication')).toMatch(/^API key required/);
  });

  it('has a label for every form control', async () => {
    const page = await renderPage(view({ config: { ...config, authEnabled: true } }));
    const ids = [...page.matchAll(/<(?:input|textarea)[^>]* id="([^"]+)"/g)].map((m) => m[1]);
    expect(ids).toContain('p-temperature');
    for (const id of ids) expect(page).toContain(`<label for="${id}"`);
    expect(page).toContain('aria-live="polite"');
  });

  it('without a manifest: the reason instead of the card, limits still shown', async () => {
    const page = await renderPage(view({ manifest: null, manifestError: 'manifest <missing>' }));
    expect(page).toContain('<p class="notice">manifest &lt;missing&gt;</p>');
    expect(dd(page, 'max_total_tokens')).toBe('1024');
  });

  it('shows the model state', async () => {
    const loading = await renderPage(
      view({ state: { state: 'loading', startedAt: 0, progress: { phase: 'shards', loadedBytes: 12_300_000, totalBytes: 35_100_000 } } }),
    );
    expect(loading).toContain('<span id="model-state">loading: shards 35% (12.3 MB of 35.1 MB)</span>');
    const failed = await renderPage(view({ state: { state: 'failed', error: 'blob <x> corrupt' } }));
    expect(failed).toContain('the last load failed: blob &lt;x&gt; corrupt');
  });

  it('ships a playground script that parses', () => {
    expect(() => new Function(CLIENT_JS)).not.toThrow();
  });
});

describe('facts helpers', () => {
  it('formats bytes in decimal units', () => {
    expect([999, 1000, 1_500_000, 2_000_000_000].map(formatBytes)).toEqual(['999 B', '1.0 kB', '1.5 MB', '2.00 GB']);
  });
  it('sums shards over stages', () => {
    const m = fixtureManifest();
    const two = { ...m, stages: [m.stages[0]!, m.stages[0]!] };
    expect(shardSummary(two)).toEqual({ shards: 4, shardBytes: 91_000_000, graphs: 2, graphBytes: 300_000 });
  });
  it('counts host tensors as shards and names the layout for host-attention models', () => {
    const m = fixtureManifest();
    const blob = (bytes: number) => ({ key: `blobs/${'a'.repeat(64)}`, bytes, sha256: 'a'.repeat(64) });
    const { graph, ...stage } = m.stages[0]!;
    const host: typeof m = {
      ...m,
      version: 2,
      layout: 'host-attention',
      host: { wte: { ...blob(1_000_000), dtype: 'int8', shape: [1, 1] }, wpe: { ...blob(2_000), dtype: 'float32', shape: [1, 1] } },
      stages: [
        {
          ...stage,
          segments: [
            { graph: graph!, shards: [], inputs: [], outputs: [] },
            { graph: graph!, shards: [], inputs: [], outputs: [] },
          ],
        },
      ],
    };
    const plain = shardSummary(m);
    expect(shardSummary(host)).toEqual({
      ...plain,
      shards: plain.shards + 2,
      shardBytes: plain.shardBytes + 1_002_000,
      graphs: 2,
      graphBytes: 2 * plain.graphBytes,
    });
    const facts = modelFacts(host);
    expect(facts.find((f) => f.label === 'Attention')?.value).toMatch(/host-attention/);
    expect(facts.find((f) => f.label === 'Shards')?.value).toMatch(/2 segment graphs/);
    expect(modelFacts(m).find((f) => f.label === 'Attention')?.value).toMatch(/inside the ONNX graph/);
  });
  it('reads the eval shapes it may get', () => {
    expect(evalTable({ ppl: 30.1, bpb: 1.1 })).toEqual({ columns: ['ppl', 'bpb'], rows: [['30.1', '1.1']] });
    expect(evalTable({ int8: { ppl: 31 }, fp32: { ppl: 30, acc: 0.4 } })).toEqual({
      columns: ['', 'ppl', 'acc'],
      rows: [
        ['int8', '31', ''],
        ['fp32', '30', '0.4'],
      ],
    });
    expect(evalTable('n/a')).toBeNull();
    // `npm run eval --json` results: only the columns a reader compares.
    const wikitext = {
      label: 'int8',
      model: 'm',
      quantization: 'int8',
      dataset: 'wikitext2',
      dataset_sha256: 'ab',
      context: 1024,
      stride: 512,
      tokens_scored: 287644,
      perplexity: 41.23456,
      bits_per_byte: 1.1,
      elapsed_s: 9,
    };
    const lambada = { label: 'int8', model: 'm', quantization: 'int8', dataset: 'lambada', examples: 5153, accuracy: 0.31, perplexity: 60 };
    expect(evalTable([wikitext, lambada])).toEqual({
      columns: [
        'label',
        'dataset',
        'perplexity',
        'bits_per_byte',
        'accuracy',
        'quantization',
        'context',
        'stride',
        'tokens_scored',
        'examples',
      ],
      rows: [
        ['int8', 'wikitext2', '41.2346', '1.1', '', 'int8', '1024', '512', '287644', ''],
        ['int8', 'lambada', '60', '', '0.31', 'int8', '', '', '', '5153'],
      ],
    });
    expect(evalTable([])).toBeNull();
  });
  it('shell-quotes single quotes', () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });
});

describe('limits', () => {
  it('are the ones the routes enforce (worker/service/limits.ts modelLimits) for the model', async () => {
    const page = await renderPage(view({ config: { ...config, maxNewTokens: 1000, maxInputTokens: 900 } }));
    // context 512: total 512, and neither new nor input tokens may take all of it
    expect([dd(page, 'max_new_tokens'), dd(page, 'max_input_tokens'), dd(page, 'max_total_tokens')]).toEqual(['511', '511', '512']);
  });
});
