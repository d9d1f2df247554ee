import { describe, expect, it } from 'vitest';
import { loadBrown, loadWikitext2, tokenizeDataset, WIKITEXT2_SHA256 } from '../../../scripts/eval/datasets.ts';
import { gpt2Tokenizer } from '../../../scripts/eval/tokens.ts';
import { EOS_ID, tokenizeDocs } from '../../../scripts/train/brown.ts';

describe('datasets', () => {
  const tok = gpt2Tokenizer();

  it("Brown is the trainer's val.bin stream token for token (docs each followed by <|endoftext|>)", () => {
    const ds = loadBrown();
    expect(ds.documents).toHaveLength(50);
    const [stream, ...rest] = tokenizeDataset(ds, tok.encode);
    expect(rest).toHaveLength(0);
    expect(Uint16Array.from(stream!)).toEqual(tokenizeDocs(ds.documents));
    expect(stream!.filter((id) => id === EOS_ID)).toHaveLength(50);
    expect(tok.byteLength(EOS_ID)).toBe(0);
  });

  it('--max-tokens cuts across streams in order', () => {
    const ds = { documents: ['one two three', 'four five', 'six'], layout: 'streams' as const };
    const all = tokenizeDataset(ds, tok.encode);
    expect(all.map((s) => s.length)).toEqual([3, 2, 1]);
    expect(tokenizeDataset(ds, tok.encode, 4)).toEqual([all[0], all[1]!.slice(0, 1)]);
    expect(tokenizeDataset({ ...ds, layout: 'eos-joined' }, tok.encode, 5)).toEqual([[...all[0]!, EOS_ID, ...all[1]!.slice(0, 1)]]);
  });

  it('WikiText-2 raw test (../shared/data): the published file, 286,178 GPT-2 tokens, every byte covered', () => {
    const ds = loadWikitext2();
    expect(ds.sha256).toBe(WIKITEXT2_SHA256);
    const [ids] = tokenizeDataset(ds, tok.encode);
    expect(ids).toHaveLength(286_178);
    expect(ids!.reduce((n, id) => n + tok.byteLength(id), 0)).toBe(1_290_547);
  });
});
