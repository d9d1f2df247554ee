/**
 * The routes' fake model with hidden states: generation's FakeLM (which records every row's history in
 * its KV cache) wrapped so that `hidden: true` returns [batch, seq, nEmbd] where each position's vector
 * is a pure function of the tokens up to it — causal, like a real decoder — and the fake manifest
 * declares the `last_hidden_state` output. Tests compute the expected features with `expectedHidden`.
 */
import type { CausalLM, ForwardRequest, ForwardResult, KVCache } from '../../../../worker/generation/types.ts';
import type { LoadedModel } from '../../../../worker/model/types.ts';
import { hashLogits, type FakeLM } from '../../generation/fakes.ts';
import { fakeProvider, type FakeProvider } from '../helpers.ts';

const N_EMBD = 8;
const hiddenOf = hashLogits(N_EMBD, 11, 1);

/** The fake's hidden states of `ids` (no cache): row-major [tokens, nEmbd]. */
export function expectedHidden(ids: readonly number[]): number[][] {
  return ids.map((_, t) => Array.from(hiddenOf(ids.slice(0, t + 1))));
}

class HiddenFakeLM implements CausalLM {
  /** Every forward's request, as the model saw it. */
  readonly calls: ForwardRequest[] = [];
  constructor(readonly inner: FakeLM) {}

  get config() {
    return this.inner.config;
  }

  async forward(req: ForwardRequest): Promise<ForwardResult> {
    this.calls.push(req);
    const r = await this.inner.forward(req);
    if (!req.hidden) return r;
    const rows = (r.cache as KVCache & { rows: readonly (readonly number[])[] }).rows; // full histories
    const seq = req.inputIds[0]!.length;
    const past = rows[0]!.length - seq;
    const hidden = new Float32Array(rows.length * seq * N_EMBD); // [batch, seq, n_embd]
    rows.forEach((h, b) => {
      for (let k = 0; k < seq; k++) hidden.set(hiddenOf(h.slice(0, past + k + 1)), (b * seq + k) * N_EMBD);
    });
    return { ...r, hidden };
  }

  selectRows(cache: KVCache, rows: readonly number[]): KVCache {
    return this.inner.selectRows(cache, rows);
  }

  release(cache: KVCache): void {
    this.inner.release(cache);
  }
}

export interface FeatureProvider extends FakeProvider {
  hlm: HiddenFakeLM;
}

/** fakeProvider whose model has hidden states (and says so in its manifest). */
export function featureProvider(opts: Parameters<typeof fakeProvider>[0] = {}): FeatureProvider {
  const p = fakeProvider(opts);
  if (p.lm.config.nEmbd !== N_EMBD) throw new Error('featureProvider: FakeLM nEmbd changed');
  const hlm = new HiddenFakeLM(p.lm);
  const get = p.get.bind(p);
  const withHidden = (m: LoadedModel): LoadedModel => ({
    ...m,
    lm: hlm,
    manifest: { ...m.manifest, stages: m.manifest.stages.map((s) => ({ ...s, outputs: [...s.outputs, 'logits', 'last_hidden_state'] })) },
  });
  return Object.assign(p, {
    hlm,
    get: async (id: string, onProgress?: Parameters<FakeProvider['get']>[1]) => withHidden(await get(id, onProgress)),
  });
}
