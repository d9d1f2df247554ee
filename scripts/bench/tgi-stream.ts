/**
 * The benchmarks' client stream (bench:batching, bench:profile): one seeded, sampled TGI /generate_stream
 * request, read to its end with eventsource-parser.
 */
import { createParser } from 'eventsource-parser';

/** Stream `i` of a cell: `tokens` new tokens; resolves to each token event's arrival (ms since `t0`). An error event throws. */
export async function tgiStream(url: string, i: number, tokens: number, t0: number): Promise<number[]> {
  const res = await fetch(`${url}/generate_stream`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      inputs: `Stream ${i}: it was late in the evening when`,
      parameters: { max_new_tokens: tokens, do_sample: true, seed: 1000 + i, temperature: 1.0 },
    }),
  });
  if (res.status !== 200) throw new Error(`stream ${i}: HTTP ${res.status} ${await res.text()}`);
  const times: number[] = [];
  let failure: string | null = null;
  const parser = createParser({
    onEvent: (e) => {
      const data = JSON.parse(e.data) as { token?: unknown; error?: string };
      if (data.error) failure = data.error;
      else if (data.token) times.push(performance.now() - t0);
    },
  });
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
  if (failure) throw new Error(`stream ${i}: ${failure}`);
  return times;
}
