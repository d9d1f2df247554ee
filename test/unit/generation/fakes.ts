/**
 * Deterministic fakes of the generation contracts, shared by the generation and routes tests.
 *
 * FakeTokenizer: byte-level like GPT-2 — ids 0..255 are single bytes, then multi-byte merges (some of
 * which split UTF-8 characters), then `<|endoftext|>` (special, the EOS).
 * FakeLM: a CausalLM whose KV cache really records each row's token history, so the logits of a
 * position are a pure function of the tokens before it (`logits(history)`). It asserts every call is
 * consistent (cache alive, batch and length match, rows equal length, context respected) and counts
 * forwards, selectRows and releases, so a loop bug fails the test instead of passing by luck.
 */
import type { CausalLM, ForwardRequest, ForwardResult, KVCache, LMConfig, TextTokenizer } from '../../../worker/generation/types.ts';

const utf8 = new TextEncoder();

/** Merges beyond the 256 byte tokens. Several end or start inside a multi-byte character. */
const FAKE_MERGES: readonly Uint8Array[] = [
  utf8.encode('Hello'),
  utf8.encode(' world'),
  utf8.encode(' the'),
  utf8.encode('STOP'),
  utf8.encode('\n\n'),
  utf8.encode('é'), // [c3 a9] whole
  Uint8Array.of(0xf0, 0x9f), // first half of most emoji
  Uint8Array.of(0x98, 0x80), // second half of 😀
  Uint8Array.of(0xe4, 0xb8), // first two bytes of 中
  Uint8Array.of(0xad, 0x20), // last byte of 中 + space
  utf8.encode('e\u0301'), // e + combining acute (same look as é, different text)
];

export class FakeTokenizer implements TextTokenizer {
  readonly vocabSize: number;
  readonly eosTokenId: number;
  private readonly table: Uint8Array[];

  constructor(merges: readonly Uint8Array[] = FAKE_MERGES) {
    this.table = [...Array.from({ length: 256 }, (_, b) => Uint8Array.of(b)), ...merges, utf8.encode('<|endoftext|>')];
    this.vocabSize = this.table.length;
    this.eosTokenId = this.vocabSize - 1;
  }

  /** Greedy longest match over the UTF-8 bytes (good enough for tests; not real BPE). */
  encode(text: string): number[] {
    const bytes = utf8.encode(text);
    const ids: number[] = [];
    for (let i = 0; i < bytes.length;) {
      let best = bytes[i]!;
      let bestLen = 1;
      for (let id = 256; id < this.eosTokenId; id++) {
        const t = this.table[id]!;
        if (t.length > bestLen && t.every((b, k) => bytes[i + k] === b)) {
          best = id;
          bestLen = t.length;
        }
      }
      ids.push(best);
      i += bestLen;
    }
    return ids;
  }

  decode(ids: readonly number[]): string {
    const parts = ids.map((id) => this.tokenBytes(id));
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(all);
  }

  tokenBytes(id: number): Uint8Array {
    const t = this.table[id];
    if (!t) throw new RangeError(`token id ${id} out of range`);
    return t;
  }

  isSpecial(id: number): boolean {
    return id === this.eosTokenId;
  }
}

interface FakeCache extends KVCache {
  readonly rows: readonly (readonly number[])[];
  readonly serial: number;
}

export type LogitsFn = (history: readonly number[]) => Float32Array;

export interface FakeLMStats {
  forwards: ForwardRequest[];
  selects: { fromBatch: number; rows: number[] }[];
  releases: number;
  created: number;
}

export class FakeLM implements CausalLM {
  readonly config: LMConfig;
  readonly stats: FakeLMStats = { forwards: [], selects: [], releases: 0, created: 0 };
  /** Caches handed out and not yet consumed by forward nor released. */
  private readonly alive = new Set<number>();
  private readonly dead = new Set<number>();
  private serial = 0;

  constructor(
    readonly logits: LogitsFn,
    config: Partial<LMConfig> & { vocabSize: number },
    /** Runs before each forward (e.g. to abort, or to throw). */
    private readonly beforeForward?: (req: ForwardRequest, call: number) => void | Promise<void>,
  ) {
    this.config = { nPositions: 64, nEmbd: 8, nLayer: 1, eosTokenId: config.vocabSize - 1, bosTokenId: config.vocabSize - 1, ...config };
  }

  /** Caches still holding memory: must be 0 once a generation has ended, however it ended. */
  get liveCaches(): number {
    return this.alive.size;
  }

  async forward(req: ForwardRequest): Promise<ForwardResult> {
    await this.beforeForward?.(req, this.stats.forwards.length);
    this.stats.forwards.push(req);
    const seq = req.inputIds[0]?.length ?? 0;
    if (seq === 0) throw new Error('FakeLM: empty input');
    if (req.inputIds.some((r) => r.length !== seq)) throw new Error('FakeLM: ragged batch');
    const cache = req.cache === null ? null : this.use(req.cache);
    if (cache && cache.batch !== req.inputIds.length) {
      throw new Error(`FakeLM: cache batch ${cache.batch} but ${req.inputIds.length} input rows`);
    }
    const past = cache?.length ?? 0;
    if (past + seq > this.config.nPositions) throw new Error(`FakeLM: ${past + seq} positions > ${this.config.nPositions}`);
    for (const r of req.inputIds) for (const id of r) if (!(id >= 0 && id < this.config.vocabSize)) throw new Error(`FakeLM: bad id ${id}`);
    if (cache) this.consume(cache); // the input cache now belongs to the model

    const rows = req.inputIds.map((ids, b) => [...(cache?.rows[b] ?? []), ...ids]);
    const positions = req.logitsFor === 'all' ? seq : 1;
    const V = this.config.vocabSize;
    const logits = new Float32Array(rows.length * positions * V); // [batch, positions, vocab]
    rows.forEach((history, b) => {
      for (let k = 0; k < positions; k++) {
        const end = past + seq - positions + k + 1; // tokens up to and including this position
        logits.set(this.logits(history.slice(0, end)), (b * positions + k) * V);
      }
    });
    await Promise.resolve();
    return { logits, positions, cache: this.make(rows) };
  }

  selectRows(cache: KVCache, rows: readonly number[]): KVCache {
    const c = this.use(cache);
    this.stats.selects.push({ fromBatch: c.batch, rows: [...rows] });
    if (rows.length === 0) throw new Error('FakeLM: selectRows with no rows');
    return this.make(
      rows.map((r) => {
        const row = c.rows[r];
        if (!row) throw new Error(`FakeLM: row ${r} out of ${c.batch}`);
        return row;
      }),
    );
  }

  release(cache: KVCache): void {
    const c = cache as FakeCache;
    if (this.alive.delete(c.serial)) {
      this.dead.add(c.serial);
      this.stats.releases++;
    }
  }

  private make(rows: (readonly number[])[]): FakeCache {
    const serial = ++this.serial;
    this.alive.add(serial);
    this.stats.created++;
    return { batch: rows.length, length: rows[0]?.length ?? 0, rows, serial };
  }

  private use(cache: KVCache): FakeCache {
    const c = cache as FakeCache;
    if (!this.alive.has(c.serial)) throw new Error(`FakeLM: cache ${c.serial} used after release/forward`);
    return c;
  }

  private consume(c: FakeCache): void {
    this.alive.delete(c.serial);
    this.dead.add(c.serial);
  }
}

/** Pseudo-random but deterministic logits of a history: a hash of (last 2 tokens, position, seed). */
export function hashLogits(vocabSize: number, seed = 1, scale = 4): LogitsFn {
  return (history) => {
    const out = new Float32Array(vocabSize);
    const a = history[history.length - 1] ?? 0;
    const b = history[history.length - 2] ?? 0;
    let h = (Math.imul(a + 1, 0x9e3779b1) ^ Math.imul(b + 7, 0x85ebca6b) ^ Math.imul(history.length, 0xc2b2ae35) ^ seed) >>> 0;
    for (let i = 0; i < vocabSize; i++) {
      h = (Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      out[i] = ((h / 4294967296) * 2 - 1) * scale;
    }
    return out;
  };
}

/** Logits that make `script(history)` the argmax by `margin`, on top of `base` (hash logits by default). */
export function scriptedLogits(vocabSize: number, script: (history: readonly number[]) => number, margin = 10): LogitsFn {
  const base = hashLogits(vocabSize);
  return (history) => {
    const out = base(history);
    const want = script(history);
    out[want] = Math.max(...out) + margin;
    return out;
  };
}

/** Drains a generator into an array. */
export async function collect<T>(gen: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const e of gen) out.push(e);
  return out;
}

/** No lone surrogates (String.prototype.isWellFormed is ES2024, beyond our lib setting). */
export function isWellFormed(s: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}
