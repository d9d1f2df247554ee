/** The browser's SSE parser, evaluated from the exact source text the page ships. */
import { describe, expect, it } from 'vitest';
import { SSE_PARSER_JS } from '../../../worker/page/client/index.ts';

type Ev = { event: string; data: string };
type Parser = { feed(chunk: string): void };
const createSseParser = new Function(`${SSE_PARSER_JS}; return createSseParser;`)() as (
  onEvent: (e: Ev) => void,
  onComment: (c: string) => void,
) => Parser;

function parse(chunks: string[]): (Ev | string)[] {
  const out: (Ev | string)[] = [];
  const p = createSseParser(
    (e) => out.push(e),
    (c) => out.push(`comment:${c}`),
  );
  for (const c of chunks) p.feed(c);
  return out;
}

const STREAM =
  ': loading 35% (12.3/35.1 MB)\n\n' +
  'data: {"token":{"text":"é"}}\n\n' +
  'event: error\r\ndata: {"error":"boom",\r\ndata: "error_type":"generation"}\r\n\r\n' +
  'data:no-space\rdata: two\r\r' +
  'id: 7\nretry: 10\n\n' + // no data: nothing dispatched
  'data: [DONE]\n\n' +
  'data: unterminated';

const EXPECTED = [
  'comment:loading 35% (12.3/35.1 MB)',
  { event: 'message', data: '{"token":{"text":"é"}}' },
  { event: 'error', data: '{"error":"boom",\n"error_type":"generation"}' },
  { event: 'message', data: 'no-space\ntwo' },
  { event: 'message', data: '[DONE]' },
];

describe('createSseParser (shipped to the browser)', () => {
  it('parses comments, named events, multi-line data and every line ending', () => {
    expect(parse([STREAM])).toEqual(EXPECTED);
  });

  it('gives the same events however the text is split into chunks', () => {
    for (let i = 0; i <= STREAM.length; i++) {
      expect(parse([STREAM.slice(0, i), STREAM.slice(i)]), `split at ${i}`).toEqual(EXPECTED);
    }
    expect(parse([...STREAM])).toEqual(EXPECTED);
  });

  it('treats a CR at a chunk end followed by LF as one line ending', () => {
    expect(parse(['data: a\r', '\n\r', '\ndata: b\n\n'])).toEqual([
      { event: 'message', data: 'a' },
      { event: 'message', data: 'b' },
    ]);
  });

  it('a field without a colon is a field with an empty value', () => {
    expect(parse(['data\n\n'])).toEqual([{ event: 'message', data: '' }]);
  });
});
