import { describe, expect, it } from 'vitest';
import { ArgsError, parseEvalArgs } from '../../../scripts/eval/args.ts';

describe('parseEvalArgs', () => {
  it('defaults: wikitext2, concurrency 1, context/stride from the server later', () => {
    const o = parseEvalArgs(['--url', 'http://127.0.0.1:8787']);
    expect(o).toMatchObject({ dataset: 'wikitext2', concurrency: 1, verifySha: true, progress: true });
    expect(o.context).toBeUndefined();
    expect(o.stride).toBeUndefined();
  });

  it('reads every option; the API key falls back to EDGE_GPT2_API_KEY', () => {
    const o = parseEvalArgs(
      [
        '--url',
        'http://x',
        '--model',
        'm',
        '--dataset',
        'brown',
        '--context',
        '256',
        '--stride',
        '128',
        '--max-tokens',
        '5000',
        '--concurrency',
        '3',
        '--json',
        'o.json',
        '--markdown',
        'EVAL.md',
        '--label',
        'q4',
        '--no-verify',
        '--no-progress',
      ],
      { EDGE_GPT2_API_KEY: 'k' },
    );
    expect(o).toMatchObject({
      model: 'm',
      dataset: 'brown',
      context: 256,
      stride: 128,
      maxTokens: 5000,
      concurrency: 3,
      json: 'o.json',
      markdown: 'EVAL.md',
      label: 'q4',
      apiKey: 'k',
      verifySha: false,
      progress: false,
    });
    expect(parseEvalArgs(['--url', 'http://x', '--api-key', 'given'], { EDGE_GPT2_API_KEY: 'k' }).apiKey).toBe('given');
  });

  it('--local replaces --url (exactly one of them)', () => {
    expect(parseEvalArgs(['--local', 'model-shards'])).toMatchObject({ local: 'model-shards' });
    expect(() => parseEvalArgs(['--local', 'd', '--url', 'http://x'])).toThrow(ArgsError);
  });

  it('rejects bad input with ArgsError', () => {
    const bad = [
      [],
      ['--url', 'not a url'],
      ['--url', 'http://x', '--dataset', 'ptb'],
      ['--url', 'http://x', '--context', '0'],
      ['--url', 'http://x', '--context', '1'],
      ['--url', 'http://x', '--stride', '-3'],
      ['--url', 'http://x', '--context', '8', '--stride', '9'],
      ['--url', 'http://x', '--concurrency', '1.5'],
      ['--url', 'http://x', '--bogus'],
    ];
    for (const argv of bad) expect(() => parseEvalArgs(argv), argv.join(' ')).toThrow(ArgsError);
  });
});
