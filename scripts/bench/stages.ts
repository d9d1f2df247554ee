/**
 * `npm run bench:stages -- --dir <converted-dir> [--id id] [--resident 4] [--residents 1,2,4] [--stages N] [--skip-timing] [--staged-only] [--streams-one] [--processes one|per-stage] [--lanes L] [--ends gateway|stage] [--hops chain|gateway]`
 *
 * A staged model in local workerd (miniflare: the gateway + one Worker per stage, as `npm run stages` plans
 * them, scripts/stages/local.ts), measured from outside:
 * - memory per isolate at 1024 tokens of context with 1, 2 and 4 resident sequences: each stage's WASM
 *   memories (ORT's heap + our kernels', from its `stats` RPC; they never shrink, so this is the peak) and
 *   every isolate's JS heap (the inspector's Runtime.getHeapUsage, sampled during the run; workerd's
 *   node:v8 returns zeros). Bytes do not depend on machine load: these are results.
 * - cold / warm first token, decode ms/token at 32 and 512 tokens of context, staged vs the same weights
 *   in one isolate (the gateway's `<id>-one`), hence the per-step hop overhead; tokens/s with 1/4/8 streams.
 *   Timings are only comparable on a quiet machine: the 1-min load average is recorded with every figure.
 *   With --rounds R (default 3) each timing is taken R times, staged and one-isolate (or 1 and n streams)
 *   interleaved and their order alternated per round, and the summary gives the median of the per-round
 *   ratios: this VM's speed drifts by up to 1.45× within minutes, so two figures taken apart mislead.
 * - --streams-one: the 1/4/8-stream cells for the one-isolate copy too, in the same rounds (its gateway gets
 *   KV_BUDGET_MB=1024 so that eight sequences are admitted: the copy is over 128 MB anyway), to tell
 *   what the stages cost the concurrency from what the model's own per-row work does.
 * - --processes per-stage: each stage (and the gateway) in a workerd process of its own, so stages compute at
 *   the same time as Durable Objects do in production (scripts/stages/local.ts); default one process.
 *   --lanes L: the gateway's PIPELINE_LANES (steps in flight at once through the stages; default 2).
 *   --ends: where the embedding and head live (npm run stages' default: the gateway where they fit).
 *   --hops: the gateway's STAGE_HOPS: chained (each stage passes the step on; default) or the gateway
 *   calling each stage.
 *   The gateway's WASM memory (the ends, when it holds them) is read from its /health before the
 *   one-isolate copy is loaded into the same isolate.
 * Writes bench-results/stages-<id>-<time>.json and prints a markdown summary.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fetch as mfFetch, type Miniflare } from 'miniflare';
import type { Manifest } from '../../worker/model/manifest.ts';
import type { StageAnswer, StageInfo } from '../../worker/stage/protocol.ts';
import { freePort } from '../lib/free-port.ts';
import { gatewayUrl, referenceId, seedBucket, stageName, startLocal, startTopology } from '../stages/local.ts';
import { planStages } from '../stages/plan.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const MiB = 2 ** 20;
const log = (l: string) => console.log(`[bench:stages] ${l}`);
const load1 = () => Number(loadavg()[0]!.toFixed(2));

/** Runtime.getHeapUsage of every worker through miniflare's inspector proxy. */
async function heapUsage(port: number, workers: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  await Promise.all(
    workers.map(async (w) => {
      const res = await mfFetch(`http://127.0.0.1:${port}/${w}`, { headers: { Upgrade: 'websocket' } });
      const ws = res.webSocket;
      if (!ws) throw new Error(`no inspector for ${w} (status ${res.status})`);
      ws.accept();
      // An isolate busy computing answers only between tasks: wait up to a minute, else record -1.
      out[w] = await new Promise<number>((resolve) => {
        const timer = setTimeout(() => resolve(-1), 60_000);
        ws.addEventListener('message', (ev) => {
          const msg = JSON.parse(String(ev.data)) as { id?: number; result?: { usedSize: number } };
          if (msg.id === 1) {
            clearTimeout(timer);
            resolve(msg.result?.usedSize ?? 0);
          }
        });
        ws.send(JSON.stringify({ id: 1, method: 'Runtime.getHeapUsage' }));
      });
      ws.close();
    }),
  );
  return out;
}

/** A model behind one gateway: what a request goes to, and its name in the logs and results. */
interface Target {
  label: string;
  model: string;
  mf: Miniflare;
  gateway: string;
}

/** To a gateway over miniflare's HTTP socket (its Node-side proxy drops long concurrent requests). */
async function post(t: Target, route: string, body: unknown): Promise<Response> {
  return (await t.mf.dispatchFetch(gatewayUrl(t.gateway, route), {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  })) as unknown as Response;
}

/** One streamed completion: ms to the first token, then each gap between tokens. */
async function stream(
  target: Target,
  prompt: number[],
  maxTokens: number,
  n = 1,
): Promise<{ status: number; firstMs: number; gaps: number[]; tokens: number }> {
  const t0 = performance.now();
  let res: Response;
  try {
    res = await post(target, '/v1/completions', {
      model: target.model,
      prompt,
      max_tokens: maxTokens,
      temperature: 0,
      n,
      stream: true,
      logit_bias: { '50256': -100 },
    });
  } catch (err) {
    log(`request failed after ${((performance.now() - t0) / 1000).toFixed(1)} s: ${String(err)}`);
    return { status: -1, firstMs: 0, gaps: [], tokens: 0 };
  }
  if (res.status !== 200) return { status: res.status, firstMs: 0, gaps: [], tokens: 0 };
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const times: number[] = [];
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (ev.startsWith('data: {') && ev.includes('"text"')) times.push(performance.now());
      else if (ev.includes('error')) log(`stream error event: ${ev.slice(0, 300)}`);
    }
  }
  return { status: 200, firstMs: (times[0] ?? t0) - t0, gaps: times.slice(1).map((t, k) => t - times[k]!), tokens: times.length };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
};

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      dir: { type: 'string' },
      id: { type: 'string' },
      resident: { type: 'string', default: '2' },
      residents: { type: 'string', default: '1,2,4' },
      stages: { type: 'string' },
      'skip-timing': { type: 'boolean', default: false },
      /** Time the staged model only, not the same weights in one isolate (for models whose one-isolate copy is pointless to load here). */
      'staged-only': { type: 'boolean', default: false },
      /** Tokens of context for the memory runs (prompt + 24 new tokens; default 1024). */
      context: { type: 'string', default: '1024' },
      /** Contexts the decode timings start from (default 32,512). */
      pasts: { type: 'string', default: '32,512' },
      rounds: { type: 'string', default: '3' },
      'streams-one': { type: 'boolean', default: false },
      processes: { type: 'string', default: 'one' },
      ends: { type: 'string' },
      lanes: { type: 'string' },
      /** both: a second gateway with the gateway calling each stage, timed beside the chained one. */
      hops: { type: 'string', default: 'chain' },
      /** Only load these stages (no gateway) and report their memory once loaded: for models too big to run whole here. */
      'load-only': { type: 'string' },
    },
  });
  if (!v.dir) throw new Error('--dir <converted model dir> is required');
  const dir = path.resolve(v.dir);
  const id = v.id ?? path.basename(dir);
  const manifest = JSON.parse(readFileSync(path.join(dir, 'models', id, 'manifest.json'), 'utf8')) as Manifest;
  if (v.ends !== undefined && v.ends !== 'gateway' && v.ends !== 'stage') throw new Error('--ends is gateway or stage');
  const plan = planStages(manifest, {
    resident: Number(v.resident),
    context: 1024,
    ...(v.stages ? { stages: Number(v.stages) } : {}),
    ...(v.ends ? { ends: v.ends } : {}),
  });
  log(
    `${id}: ${plan.length} stages: ${plan.map((s) => `${s.ends ? 'ends+' : ''}${s.layers ? `${s.layers[0]}..${s.layers[1] - 1}` : '-'}`).join(' | ')}`,
  );
  const inspectorPort = await freePort();
  if (v['load-only']) return loadOnly(dir, id, plan, v['load-only'].split(',').map(Number), inspectorPort);
  if (v.processes !== 'one' && v.processes !== 'per-stage') throw new Error('--processes is one or per-stage');
  if (v.hops !== 'chain' && v.hops !== 'gateway' && v.hops !== 'both') throw new Error('--hops is chain, gateway or both');
  const top = await startLocal({
    model: id,
    stages: plan.map((s) => ({ layers: s.layers, ends: s.ends })),
    gatewayVars: {
      MAX_INPUT_TOKENS: '1008',
      MAX_TOTAL_TOKENS: '1024',
      MAX_NEW_TOKENS: '256',
      ...(v['streams-one'] ? { KV_BUDGET_MB: '1024' } : {}),
      ...(v.lanes ? { PIPELINE_LANES: v.lanes } : {}),
      STAGE_HOPS: v.hops === 'gateway' ? 'gateway' : 'chain',
    },
    ...(v.hops === 'both' ? { moreGateways: [{ name: 'gateway-hops', vars: { STAGE_HOPS: 'gateway' } }] } : {}),
    inspectorPort,
    processes: v.processes,
  });
  const mf = top.gateway;
  const at = (label: string, model: string, gateway = 'gateway'): Target => ({ label, model, gateway, mf: top.of(gateway) });
  const staged = at(v.hops === 'both' ? `${id} (chained)` : id, id);
  const one = at(referenceId(id), referenceId(id));
  const alsoStaged = v.hops === 'both' ? [at(`${id} (gateway hops)`, id, 'gateway-hops')] : [];
  const heaps = async () => {
    const out: Record<string, number> = {};
    for (const i of top.instances) Object.assign(out, await heapUsage(i.inspectorPort!, i.workers));
    return out;
  };
  const stats = async () =>
    Promise.all(
      plan.map(async (_, k) => {
        const ns = await top.of(stageName(k)).getDurableObjectNamespace('STAGE', stageName(k));
        const a = (await (
          ns.get(ns.idFromName(id)) as unknown as { stats(): Promise<StageAnswer<StageInfo>> }
        ).stats()) as StageAnswer<StageInfo>;
        if (!a.ok) throw new Error(a.message);
        return a.value;
      }),
    );
  const result: Record<string, unknown> = {
    model: id,
    date: new Date().toISOString(),
    processes: v.processes,
    lanes: v.lanes ? Number(v.lanes) : 'default',
    hops: v.hops,
    plan: plan.map((s) => ({ layers: s.layers, ends: s.ends, plannedBytes: s.plannedBytes, budget: s.budget })),
    ends: plan.some((s) => s.ends) ? 'stage' : 'gateway',
  };
  try {
    await top.seed(dir, id);
    const prompt = (n: number) => Array.from({ length: n }, (_, i) => 464 + ((i * 7919) % 20000));
    // Cold first token (every stage loads its part) with a short prompt.
    const cold = await stream(staged, prompt(32), 4);
    result.coldFirstTokenMs = { ms: cold.firstMs, load: load1() };
    log(`cold first token ${cold.firstMs.toFixed(0)} ms (load ${load1()})`);

    const memory: unknown[] = [];
    for (const resident of v.residents!.split(',').map(Number)) {
      let peakJs: Record<string, number> = {};
      let running = true;
      const sampler = (async () => {
        while (running) {
          const h = await heaps().catch(() => ({}) as Record<string, number>);
          for (const [w, b] of Object.entries(h)) peakJs[w] = Math.max(peakJs[w] ?? 0, b);
          await new Promise((r) => setTimeout(r, 500));
        }
      })();
      // One request with `resident` sequences (n): its cache holds them all at once, 1024 positions each.
      const runs = [await stream(staged, prompt(Number(v.context) - 24), 24, resident)];
      running = false;
      await sampler;
      const h = await heaps();
      for (const [w, b] of Object.entries(h)) peakJs[w] = Math.max(peakJs[w] ?? 0, b);
      const s = await stats();
      const health = (await (await mf.dispatchFetch('http://localhost/health')).json()) as { wasm_heap_bytes?: number };
      const row = {
        resident,
        statuses: runs.map((r) => r.status),
        gatewayJsBytes: peakJs.gateway ?? 0,
        gatewayWasmBytes: health.wasm_heap_bytes ?? 0,
        stages: s.map((x, k) => ({
          stage: k,
          layers: x.layers,
          ends: x.ends,
          ortBytes: x.wasm.ort,
          kernelsBytes: x.wasm.kernels,
          jsBytes: peakJs[stageName(k)] ?? 0,
          totalBytes: x.wasm.ort + x.wasm.kernels + (peakJs[stageName(k)] ?? 0),
        })),
        load: load1(),
      };
      memory.push(row);
      const f = (n: number) => (n / MiB).toFixed(1);
      log(
        `${resident} resident × ${v.context}: statuses ${row.statuses.join(',')}, first token ${runs[0]!.firstMs.toFixed(0)} ms; gateway WASM ${f(row.gatewayWasmBytes)} + JS ${f(row.gatewayJsBytes)} MiB; per stage total = ORT + kernels + JS (MiB):`,
      );
      for (const x of row.stages)
        log(
          `  stage ${x.stage} ${x.ends ? 'ends+' : ''}${x.layers ? x.layers.join('..') : '-'}: ${f(x.totalBytes)} = ${f(x.ortBytes)} + ${f(x.kernelsBytes)} + ${f(x.jsBytes)}`,
        );
      peakJs = {};
    }
    result.memory = memory;

    if (!v['skip-timing']) {
      const rounds = Math.max(1, Number(v.rounds));
      const timing: unknown[] = [];
      const models = v['staged-only'] ? [staged, ...alsoStaged] : [one, staged, ...alsoStaged];
      for (const past of v.pasts!.split(',').map(Number)) {
        for (const t of models) await stream(t, prompt(past), 2); // warm
        const decode = new Map<string, number[]>(models.map((t) => [t.label, []]));
        for (let round = 0; round < rounds; round++) {
          for (const t of round % 2 ? [...models].reverse() : models) {
            const r = await stream(t, prompt(past), 33);
            // Mean over the run (events can arrive coalesced in one chunk, so single gaps mislead); median gap kept too.
            const mean = r.gaps.reduce((a, b) => a + b, 0) / Math.max(1, r.gaps.length);
            decode.get(t.label)!.push(mean);
            timing.push({
              model: t.label,
              past,
              round,
              warmFirstTokenMs: r.firstMs,
              decodeMsPerToken: mean,
              medianGapMs: median(r.gaps),
              load: load1(),
            });
            log(
              `${t.label} @${past} round ${round + 1}/${rounds}: first token ${r.firstMs.toFixed(0)} ms, decode ${mean.toFixed(1)} ms/token (median gap ${median(r.gaps).toFixed(1)}) (load ${load1()})`,
            );
          }
        }
        // Per-round ratios (the rounds interleave the targets, so the machine's drift cancels).
        const ratio = (a: Target, b: Target, what: string) => {
          const [x, y] = [decode.get(a.label)!, decode.get(b.label)!];
          const ratios = x.map((v, i) => v / y[i]!);
          log(
            `@${past}: decode ${what}, per round: ${ratios.map((r) => r.toFixed(2)).join(', ')}; median ${median(ratios).toFixed(2)} (medians ${median(x).toFixed(1)} / ${median(y).toFixed(1)} ms)`,
          );
          return { ratios, median: median(ratios) };
        };
        if (!v['staged-only']) {
          const r = ratio(staged, one, `${staged.label} / one isolate`);
          timing.push({ past, stagedOverOne: r.ratios, medianRatio: r.median });
          for (const b of alsoStaged) {
            const q = ratio(b, one, `${b.label} / one isolate`);
            timing.push({ past, target: b.label, stagedOverOne: q.ratios, medianRatio: q.median });
          }
        }
        for (const b of alsoStaged) {
          const q = ratio(staged, b, `${staged.label} / ${b.label}`);
          timing.push({ past, chainedOverGatewayHops: q.ratios, medianRatio: q.median });
        }
      }
      result.timing = timing;
      const concurrency: unknown[] = [];
      const streamModels = [staged, ...alsoStaged, ...(v['streams-one'] ? [one] : [])];
      const perStreams = new Map<string, number[]>();
      for (const t of streamModels)
        for (const n of [1, 4, 8]) {
          // Warm-up at this concurrency first: each stage isolate compiles and tiers up its wasm lazily, per
          // shape, so the first steps with n rows run slower than the steady state being measured.
          await Promise.all(Array.from({ length: n }, (_, i) => stream(t, prompt(32 + i), 8)));
          perStreams.set(`${t.label}/${n}`, []);
        }
      for (let round = 0; round < rounds; round++) {
        for (const t of round % 2 ? [...streamModels].reverse() : streamModels)
          for (const n of round % 2 ? [8, 4, 1] : [1, 4, 8]) {
            const t0 = performance.now();
            const runs = await Promise.all(Array.from({ length: n }, (_, i) => stream(t, prompt(32 + i), 48)));
            const secs = (performance.now() - t0) / 1000;
            const tokens = runs.reduce((a, r) => a + r.tokens, 0);
            perStreams.get(`${t.label}/${n}`)!.push(tokens / secs);
            concurrency.push({
              model: t.label,
              streams: n,
              round,
              tokensPerSecond: tokens / secs,
              statuses: runs.map((r) => r.status),
              load: load1(),
            });
            log(`${t.label}: ${n} streams, round ${round + 1}/${rounds}: ${(tokens / secs).toFixed(1)} tokens/s (load ${load1()})`);
          }
      }
      for (const t of streamModels) {
        const ones = perStreams.get(`${t.label}/1`)!;
        for (const n of [4, 8]) {
          const ratios = perStreams.get(`${t.label}/${n}`)!.map((x, i) => x / ones[i]!);
          log(
            `${t.label}: ${n} streams / 1 stream, per round: ${ratios.map((r) => r.toFixed(2)).join(', ')}; median ${median(ratios).toFixed(2)} (median ${median(perStreams.get(`${t.label}/${n}`)!).toFixed(1)} vs ${median(ones).toFixed(1)} tokens/s)`,
          );
          concurrency.push({ model: t.label, streams: n, overOneStream: ratios, medianRatio: median(ratios) });
        }
      }
      result.concurrency = concurrency;
    }
  } finally {
    await top.dispose();
  }
  const out = path.join(ROOT, 'bench-results');
  mkdirSync(out, { recursive: true });
  const file = path.join(out, `stages-${id}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2));
  log(`results: ${path.relative(ROOT, file)}`);
}

/** Stages of the plan alone: load each (verified fetch + sessions), then its WASM memories and JS heap. */
async function loadOnly(
  dir: string,
  id: string,
  plan: ReturnType<typeof planStages>,
  only: number[],
  inspectorPort: number,
): Promise<void> {
  const mf = await startTopology({ model: id, stages: plan.map((s) => ({ layers: s.layers, ends: s.ends })), inspectorPort, only });
  try {
    await seedBucket(mf, dir, undefined, stageName(only[0]!));
    const f = (n: number) => (n / MiB).toFixed(1);
    for (const k of only) {
      const ns = await mf.getDurableObjectNamespace('STAGE', stageName(k));
      const a = (await (
        ns.get(ns.idFromName(id)) as unknown as { load(): Promise<StageAnswer<StageInfo>> }
      ).load()) as StageAnswer<StageInfo>;
      if (!a.ok) throw new Error(a.message);
      const js = (await heapUsage(inspectorPort, [stageName(k)]))[stageName(k)] ?? -1;
      const x = a.value;
      const kv = x.budget.kvBytesPerToken * 1024;
      log(
        `${id} stage ${k} ${x.ends ? 'ends+' : ''}${x.layers ? x.layers.join('..') : '-'} loaded: ORT ${f(x.wasm.ort)} + kernels ${f(x.wasm.kernels)} + JS ${f(js)} = ${f(x.wasm.ort + x.wasm.kernels + js)} MiB; + KV of one 1024-token sequence ${f(kv)} MiB (+ activations ≤ ${f(x.budget.activationBytes)} MiB) → ${f(x.wasm.ort + x.wasm.kernels + js + kv + x.budget.activationBytes)} MiB; planned ${f(plan[k]!.plannedBytes)} MiB (load ${load1()})`,
      );
    }
  } finally {
    await mf.dispose();
  }
}

// Exits once the results are written: with a process per Worker, something of miniflare's dev registry
// outlives every dispose() (no workerd left) and would keep Node waiting forever.
main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`[bench:stages] ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
