import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadBrown, loadWikitext2, sha256Hex, tokenizeDataset, WIKITEXT2_SHA256 } from '../../../scripts/eval/datasets.ts';
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

  // The published WikiText-2 file is CC BY-SA and not shipped (nor fetched): these checks run on a file
  // of our own in its layout; the SHA-256 check is what ties a real run to the published bytes.
  it('WikiText-2 loader: one stream byte for byte, the SHA-256 checked, a missing file named with where to get it', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'wikitext-'));
    const file = path.join(dir, 'wiki.test.raw');
    const text = ' \n = Robert Boulter = \n \n Robert Boulter is an English film and television actor . \n \n = = Career = = \n';
    writeFileSync(file, text);
    expect(() => loadWikitext2(file)).toThrow(expect.objectContaining({ code: 'dataset_sha_mismatch' }));
    const ds = loadWikitext2(file, false);
    expect(ds).toMatchObject({ layout: 'streams', documents: [text], sha256: sha256Hex(text), path: file });
    expect(ds.sha256).not.toBe(WIKITEXT2_SHA256);
    const [ids] = tokenizeDataset(ds, tok.encode);
    expect(ids!.reduce((n, id) => n + tok.byteLength(id), 0)).toBe(Buffer.byteLength(text));
    expect(() => loadWikitext2(path.join(dir, 'absent.raw'))).toThrow(
      expect.objectContaining({ code: 'dataset_missing', message: expect.stringContaining('WIKITEXT2_FILE') }),
    );
  });
});
