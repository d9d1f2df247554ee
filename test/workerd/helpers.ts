/** Test helpers that run inside workerd: seed R2 from the Node-side FIXTURES service. */
import { env } from 'cloudflare:workers';
import { argmax } from '../../worker/generation/logits.ts';
import type { CausalLM } from '../../worker/generation/types.ts';
import type { BlobSource } from '../../worker/model/types.ts';
import { r2BlobSource } from '../../worker/model/blobs.ts';

/**
 * A request to the Node-side FIXTURES service. Retried: miniflare's Node server drops idle keep-alive
 * connections (after ~5 s), and workerd may reuse one just as it closes ("Network connection lost")
 * — which happens whenever a test computes for a while between two fixture requests.
 */
export async function fixtureFetch(path: string, init?: RequestInit): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await env.FIXTURES.fetch(`http://fixtures/${path}`, init);
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

export async function fixture(path: string): Promise<Uint8Array> {
  const res = await fixtureFetch(path);
  if (!res.ok) throw new Error(`fixture ${path}: ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

export async function fixtureText(path: string): Promise<string> {
  return new TextDecoder().decode(await fixture(path));
}

/** Puts every key of `keys` (manifest last, as upload does) into the bucket; returns the keys. */
export async function seed(keys: string[], read: (key: string) => Promise<Uint8Array>): Promise<string[]> {
  const ordered = [...keys.filter((k) => !k.endsWith('manifest.json')), ...keys.filter((k) => k.endsWith('manifest.json'))];
  for (const key of ordered) await env.MODEL_BUCKET.put(key, await read(key));
  return ordered;
}

/** The R2 source with a per-key read counter. */
export function countingR2(): BlobSource & { gets: Map<string, number> } {
  const inner = r2BlobSource(env.MODEL_BUCKET);
  const gets = new Map<string, number>();
  return {
    gets,
    get(key) {
      gets.set(key, (gets.get(key) ?? 0) + 1);
      return inner.get(key);
    },
  };
}

/** Greedy decode of `steps` tokens after `prompt`: the tokens and each step's logits (logits[0] is the prompt's last position). */
export async function greedy(lm: CausalLM, prompt: number[], steps: number) {
  let r = await lm.forward({ inputIds: [prompt], cache: null, logitsFor: 'last' });
  const tokens: number[] = [];
  const logits: Float32Array[] = [r.logits];
  for (let i = 0; i < steps; i++) {
    tokens.push(argmax(r.logits));
    r = await lm.forward({ inputIds: [[tokens.at(-1)!]], cache: r.cache, logitsFor: 'last' });
    logits.push(r.logits);
  }
  lm.release(r.cache);
  return { tokens, logits };
}
