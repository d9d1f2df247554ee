import { describe, expect, it } from 'vitest';
import { encodeSSE, jsonMessage } from '../../../../worker/http/sse-encode.ts';
import { createTgiStreamEncoder, tgiGenerateResponse } from '../../../../worker/dialects/tgi/wire.ts';
import type { DoneEvent, TokenEvent } from '../../../../worker/service/collect.ts';

const tok = (index: number, id: number, text: string, logprob = -1.5, top?: TokenEvent['top'], final = false): TokenEvent => ({
  type: 'token',
  sequence: 0,
  index,
  id,
  text,
  logprob,
  special: false,
  final,
  ...(top ? { top } : {}),
});

const done = (text: string, finishReason: DoneEvent['finishReason'], generatedTokens: number, limit?: DoneEvent['limit']): DoneEvent => ({
  type: 'done',
  sequence: 0,
  text,
  finishReason,
  generatedTokens,
  ...(limit ? { limit } : {}),
});

describe('encodeSSE', () => {
  it('writes data, event and id fields, one data line per line of data, and a blank line', () => {
    expect(encodeSSE({ data: '{"a":1}' })).toBe('data: {"a":1}\n\n');
    expect(encodeSSE({ event: 'error', id: '7', data: 'x' })).toBe('event: error\nid: 7\ndata: x\n\n');
    expect(encodeSSE({ data: 'a\nb\r\nc\rd' })).toBe('data: a\ndata: b\ndata: c\ndata: d\n\n');
    expect(encodeSSE({ data: '' })).toBe('data: \n\n');
    expect(encodeSSE({ data: '[DONE]' })).toBe('data: [DONE]\n\n');
  });
  it('writes comments, one per line', () => {
    expect(encodeSSE({ comment: 'loading 35% (12.3/35.1 MB)' })).toBe(': loading 35% (12.3/35.1 MB)\n\n');
    expect(encodeSSE({ comment: 'a\nb' })).toBe(': a\n: b\n\n');
  });
  it('refuses newlines in event/id (they would split the message)', () => {
    expect(() => encodeSSE({ event: 'a\nb', data: '' })).toThrow(/CR or LF/);
  });
  it('JSON data never spans lines, even when strings hold newlines', () => {
    expect(encodeSSE(jsonMessage({ text: 'a\nb' }))).toBe('data: {"text":"a\\nb"}\n\n');
  });
});

describe('TGI stream encoder', () => {
  const opts = { seed: 42, details: true, prefix: '', inputLength: 3, isSpecial: (id: number) => id === 99 };
  it('sends each token at once, holds only the final one for its done, and puts generated_text + details on it', () => {
    const enc = createTgiStreamEncoder(opts);
    const out: string[] = [];
    for (const m of enc.token(tok(0, 10, ' a'))) out.push(encodeSSE(m));
    expect(out).toHaveLength(1); // not final: no one-step lag
    for (const m of enc.token(tok(1, 11, 'b', -0.25, undefined, true))) out.push(encodeSSE(m));
    expect(out).toHaveLength(1); // final: waits for its done event
    for (const m of enc.done(done(' ab', 'eos_token', 2))) out.push(encodeSSE(m));
    expect(out.join('')).toBe(
      'data: {"index":1,"token":{"id":10,"text":" a","logprob":-1.5,"special":false},"generated_text":null,"details":null}\n\n' +
        'data: {"index":2,"token":{"id":11,"text":"b","logprob":-0.25,"special":false},"generated_text":" ab",' +
        '"details":{"finish_reason":"eos_token","generated_tokens":2,"seed":42,"input_length":3,"finish_detail":"eos_token"}}\n\n',
    );
  });
  it('says on the final event which limit ended a "length" sequence: cpu_budget and max_new_tokens differ', () => {
    const last = (limit: DoneEvent['limit']) => {
      const enc = createTgiStreamEncoder(opts);
      enc.token(tok(0, 10, '!', -1, undefined, true));
      return enc
        .done(done('!', 'length', 1, limit))
        .map(encodeSSE)
        .join('');
    };
    const head = 'data: {"index":1,"token":{"id":10,"text":"!","logprob":-1,"special":false},"generated_text":"!",';
    expect(last('cpu_budget')).toBe(
      head + '"details":{"finish_reason":"length","generated_tokens":1,"seed":42,"input_length":3,"finish_detail":"cpu_budget"}}\n\n',
    );
    expect(last('max_new_tokens')).toBe(
      head + '"details":{"finish_reason":"length","generated_tokens":1,"seed":42,"input_length":3,"finish_detail":"max_new_tokens"}}\n\n',
    );
  });
  it('omits details unless asked, prefixes the prompt for return_full_text, adds top_tokens when present', () => {
    const enc = createTgiStreamEncoder({ ...opts, details: false, prefix: 'Hi' });
    enc.token(tok(0, 10, '!', -1, [{ id: 99, text: '<|endoftext|>', logprob: -Infinity }], true));
    const [last] = enc.done(done('!', 'length', 1, 'cpu_budget'));
    expect(encodeSSE(last!)).toBe(
      'data: {"index":1,"token":{"id":10,"text":"!","logprob":-1,"special":false},' +
        '"top_tokens":[{"id":99,"text":"<|endoftext|>","logprob":null,"special":true}],' +
        '"generated_text":"Hi!","details":null}\n\n',
    );
  });
});

describe('TGI GenerateResponse', () => {
  const base = { seed: null, prefix: '', inputLength: 2, isSpecial: () => false, decoderInputDetails: true, bestOf: false };
  const gen = {
    prompt: {
      type: 'prompt' as const,
      tokens: [
        { id: 1, text: 'a', logprob: null },
        { id: 2, text: 'b', logprob: -2 },
      ],
    },
    sequences: [
      {
        index: 0,
        tokens: [tok(0, 5, 'x')],
        done: { type: 'done' as const, sequence: 0, finishReason: 'stop_sequence' as const, generatedTokens: 1, text: 'x' },
      },
    ],
  };
  it('has generated_text only, without details', () => {
    expect(tgiGenerateResponse(gen, { ...base, details: false })).toEqual({ generated_text: 'x' });
  });
  it('has TGI details with prefill (first logprob null) and tokens', () => {
    expect(JSON.stringify(tgiGenerateResponse(gen, { ...base, details: true }))).toBe(
      '{"generated_text":"x","details":{"finish_reason":"stop_sequence","generated_tokens":1,"seed":null,' +
        '"prefill":[{"id":1,"text":"a","logprob":null},{"id":2,"text":"b","logprob":-2}],' +
        '"tokens":[{"id":5,"text":"x","logprob":-1.5,"special":false}],"finish_detail":"stop_sequence"}}',
    );
  });
  it('best_of picks the highest cumulative logprob and lists the others', () => {
    const seq = (i: number, lp: number, text: string) => ({
      index: i,
      tokens: [{ ...tok(0, 5, text, lp), sequence: i }],
      done: { type: 'done' as const, sequence: i, finishReason: 'length' as const, generatedTokens: 1, text },
    });
    const r = tgiGenerateResponse(
      { prompt: null, sequences: [seq(0, -3, 'low'), seq(1, -0.5, 'high')] },
      { ...base, details: true, bestOf: true, seed: 9 },
    );
    expect(r.generated_text).toBe('high');
    const d = r.details as { best_of_sequences: { generated_text: string; seed: number }[] };
    expect(d.best_of_sequences.map((s) => s.generated_text)).toEqual(['low']);
  });
});
