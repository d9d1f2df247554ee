/**
 * The measurement protocol, the same for every engine (workerd over HTTP, ORT in Node, transformers.js):
 * a Probe does the work, the suite times it from the outside and repeats it.
 *
 *   cold first token   load + the first 32-token prefill in a fresh process (one sample per fresh process)
 *   warm first token   32-token prompt → first token, model loaded and warmed up (6 s of untimed prefills)
 *   prefill            128-token prompt → tokens/s
 *   decode             ms/token at `past` tokens of context (median step of each run; runs start from
 *                      the same past)
 *   generate           the engine's whole generation loop, greedy, 32-token prompt + `genTokens` new
 *                      tokens → tokens/s including the prefill (what a user sees)
 */
import { perTokenMs, summarize, type Summary } from './stats.ts';

export interface LoadInfo {
  /** In-engine breakdown when the engine can clock it (workerd's local clock advances; checked). */
  fetchMs?: number;
  sessionMs?: number;
}

export interface MemInfo {
  /** ORT's WASM heap (memory.buffer.byteLength), bytes; absent for native ORT. */
  heap?: number;
  /** KV cache bytes held in JS at the largest decode past. */
  kvJsBytes?: number;
  /** Peak resident set of the process (VmHWM), bytes. */
  rssPeak?: number;
}

export interface Probe {
  load(): Promise<LoadInfo>;
  /** Prefill `ids`, return the greedy next token. */
  first(ids: number[]): Promise<number>;
  /** `runs` runs of `steps` greedy decode steps, each run starting after the same prompt `ids`; per-step ms. */
  decode(ids: number[], steps: number, runs: number): Promise<number[][]>;
  /** The engine's generation loop: `newTokens` greedy tokens (EOS ignored) after `ids`. */
  generate(ids: number[], newTokens: number): Promise<void>;
  memory(): Promise<MemInfo>;
}

export interface SuiteOptions {
  runs: number;
  decodeSteps: number;
  pasts: readonly number[];
  genTokens: number;
  /** Token ids of a long natural prompt; prompts are its prefixes. */
  corpus: readonly number[];
  log?: (line: string) => void;
}

export interface ColdResult {
  loadMs: number;
  firstTokenMs: number;
  load: LoadInfo;
}

export interface SuiteResult {
  cold: ColdResult;
  warmFirstTokenMs: Summary;
  prefillTokS: Summary;
  /** past → ms/token */
  decodeMs: Record<string, Summary>;
  generateTokS: Summary;
  memory: MemInfo;
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const r = await fn();
  return [performance.now() - t0, r];
}

export function prompt(corpus: readonly number[], n: number): number[] {
  if (corpus.length < n) throw new Error(`the prompt corpus has ${corpus.length} tokens, ${n} needed`);
  return corpus.slice(0, n);
}

/** Load + first token in a process that has not loaded the model yet. */
export async function coldStart(probe: Probe, corpus: readonly number[]): Promise<ColdResult> {
  const [loadMs, load] = await timed(() => probe.load());
  const [firstTokenMs] = await timed(() => probe.first(prompt(corpus, 32)));
  return { loadMs, firstTokenMs, load };
}

/** Untimed work between the cold start and the warm measurements (see runSuite). */
const WARMUP_MS = 6_000;

export async function runSuite(probe: Probe, o: SuiteOptions): Promise<SuiteResult> {
  const log = o.log ?? (() => {});
  const cold = await coldStart(probe, o.corpus);
  log(`cold: load ${cold.loadMs.toFixed(0)} ms + first token ${cold.firstTokenMs.toFixed(0)} ms`);
  const p32 = prompt(o.corpus, 32);
  const p128 = prompt(o.corpus, 128);
  // V8 compiles WebAssembly with its baseline compiler first and tiers hot code up in the background: in
  // workerd the first 128-token prefills after a load ran ~25 % slower than a few seconds later
  // (`npm run bench:warmup`). Warm figures are taken after WARMUP_MS of untimed prefills, for every engine.
  for (const until = performance.now() + WARMUP_MS; performance.now() < until;) await probe.first(p128);
  const warm: number[] = [];
  const prefill: number[] = [];
  for (let r = 0; r < o.runs; r++) {
    warm.push((await timed(() => probe.first(p32)))[0]);
    prefill.push(128 / ((await timed(() => probe.first(p128)))[0] / 1000));
  }
  log(`warm first token ${summarize(warm).median.toFixed(1)} ms, prefill ${summarize(prefill).median.toFixed(0)} tok/s`);
  const decodeMs: Record<string, Summary> = {};
  for (const past of o.pasts) {
    const runs = await probe.decode(prompt(o.corpus, past), o.decodeSteps, o.runs);
    decodeMs[String(past)] = summarize(runs.map(perTokenMs));
    log(`decode @${past}: ${decodeMs[String(past)]!.median.toFixed(1)} ms/token`);
  }
  const gen: number[] = [];
  for (let r = 0; r < Math.max(1, Math.ceil(o.runs / 2)); r++) {
    const [ms] = await timed(() => probe.generate(p32, o.genTokens));
    gen.push(o.genTokens / (ms / 1000));
  }
  log(`generate ${summarize(gen).median.toFixed(1)} tok/s`);
  return {
    cold,
    warmFirstTokenMs: summarize(warm),
    prefillTokS: summarize(prefill),
    decodeMs,
    generateTokS: summarize(gen),
    memory: await probe.memory(),
  };
}
