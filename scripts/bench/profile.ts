/**
 * `npm run bench:profile [-- options]`: where the Worker's CPU goes while it serves concurrent streams. Starts
 * the Worker (worker/index.ts under `wrangler dev`, the bench's local R2, MAX_BATCH_ROWS 16), warms it up,
 * then for each stream count takes a V8 CPU profile of the Worker's isolate through wrangler's inspector
 * (Profiler.start / stop) while that many seeded TGI /generate_stream requests run. Prints, per stream count,
 * the inclusive CPU time per decode step of the frames that matter (the model's kernels, sampling, GC) and
 * the top frames by self time; writes each profile to .tmp/profile/<model>-<n>.cpuprofile (open it in
 * Chrome DevTools' Performance panel).
 *
 *   --config <id>      model (models.ts; default distilgpt2-int8-s1; bundled-int8-s1 is model-shards/)
 *   --streams a,b,…    concurrent streams (1,8)
 *   --tokens N         new tokens per stream (48)
 *   --kv-budget MB     the Worker's KV_BUDGET_MB (64: enough for 8 distilgpt2 streams)
 *
 * Sampling at 200 µs slows the isolate a little; read the shares and the per-step split, not the absolute
 * speed (that is `npm run bench:batching`). WASM frames are named by function index (wasm-function[i]): the
 * i-th function of worker/kernels/gpt2-kernels.wat, counting the module's functions in order.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fetch as mfFetch } from 'miniflare';
import { startDevServer } from './dev-server.ts';
import { parseConfig, servedModel } from './models.ts';
import { benchState, seedBench } from './seed.ts';
import { tgiStream } from './tgi-stream.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const { values } = parseArgs({
  options: {
    config: { type: 'string', default: 'distilgpt2-int8-s1' },
    streams: { type: 'string', default: '1,8' },
    tokens: { type: 'string', default: '48' },
    'kv-budget': { type: 'string', default: '64' },
  },
});
const TOKENS = Number(values.tokens);

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self and inclusive µs per frame (named function + file + line; a frame counts once per sample however deep). */
function summarize(p: Profile): { self: Map<string, number>; incl: Map<string, number>; total: number } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (n: ProfileNode) =>
    `${n.callFrame.functionName || '(anonymous)'}${n.callFrame.url ? ` ${n.callFrame.url.split('/').at(-1)}:${n.callFrame.lineNumber}` : ''}`;
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    const leaf = name(byId.get(id)!);
    self.set(leaf, (self.get(leaf) ?? 0) + dt);
    const seen = new Set<string>();
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const k = name(byId.get(x)!);
      if (seen.has(k)) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + dt);
    }
  });
  return { self, incl, total };
}

const concurrent = async (url: string, n: number) =>
  (await Promise.all(Array.from({ length: n }, (_, i) => tgiStream(url, i, TOKENS, 0)))).reduce((a, t) => a + t.length, 0);

async function main(): Promise<void> {
  const config = parseConfig(values.config!);
  const model = servedModel(ROOT, config, console.log);
  await seedBench(ROOT, [model.dir], console.log);
  const counts = values.streams!.split(',').map(Number);
  const server = await startDevServer(ROOT, benchState(ROOT).persistTo, path.join(ROOT, '.tmp', 'bench', 'profile.log'), undefined, {
    entry: 'worker/index.ts',
    vars: { MODEL_IDS: model.id, DEFAULT_MODEL: model.id, MAX_BATCH_ROWS: '16', KV_BUDGET_MB: values['kv-budget']! },
  });
  const outDir = path.join(ROOT, '.tmp', 'profile');
  mkdirSync(outDir, { recursive: true });
  try {
    for (const n of [1, Math.max(...counts), 1, Math.max(...counts)]) await concurrent(server.url, n); // load, tier up
    const targets = (await (await fetch(`http://127.0.0.1:${server.inspectorPort}/json`)).json()) as { webSocketDebuggerUrl: string }[];
    // miniflare's fetch speaks the WebSocket upgrade (Node 20 has no global WebSocket).
    const upgrade = await mfFetch(targets[0]!.webSocketDebuggerUrl.replace(/^ws:/, 'http:'), { headers: { Upgrade: 'websocket' } });
    const ws = upgrade.webSocket;
    if (!ws) throw new Error(`the inspector refused a WebSocket (HTTP ${upgrade.status})`);
    ws.accept();
    let nextId = 0;
    const pending = new Map<number, (result: unknown) => void>();
    ws.addEventListener('message', (ev) => {
      const msg = JSON.parse(String(ev.data)) as { id?: number; result?: unknown };
      if (msg.id !== undefined) pending.get(msg.id)?.(msg.result);
    });
    const send = <T>(method: string, params?: unknown) =>
      new Promise<T>((resolve) => {
        const id = ++nextId;
        pending.set(id, resolve as (r: unknown) => void);
        ws.send(JSON.stringify({ id, method, params }));
      });
    await send('Profiler.enable');
    await send('Profiler.setSamplingInterval', { interval: 200 });
    for (const n of counts) {
      await send('Profiler.start');
      const t0 = performance.now();
      const tokens = await concurrent(server.url, n);
      const wall = performance.now() - t0;
      const { profile } = await send<{ profile: Profile }>('Profiler.stop');
      const file = path.join(outDir, `${model.id}-${n}.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      const { self, incl, total } = summarize(profile);
      const steps = tokens / n;
      const perStep = (us: number) => `${(us / 1000 / steps).toFixed(2)} ms`;
      const pick = (re: RegExp) => [...incl].filter(([k]) => re.test(k)).reduce((a, [, v]) => Math.max(a, v), 0);
      console.log(
        `\n${model.id}, ${n} stream(s): ${tokens} tokens in ${wall.toFixed(0)} ms (${((tokens / wall) * 1000).toFixed(1)} tokens/s while profiled); ` +
          `${(total / 1000).toFixed(0)} ms sampled, ${perStep(total)} per step of ${n} row(s) [${path.relative(ROOT, file)}]`,
      );
      console.log(
        `  per step: model forward ${perStep(pick(/^withScratch /))}, LM head ${perStep(pick(/^headU7 /))}, dense layers ${perStep(pick(/^linearU7 /))}, ` +
          `attention ${perStep(pick(/^attention /))}, sampling (pick: softmax, draw, logprob) ${perStep(pick(/^pick /))}, ` +
          `GC ${perStep(self.get('(garbage collector)') ?? 0)}, idle ${perStep(self.get('(idle)') ?? 0)}`,
      );
      for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 12))
        console.log(`  ${(v / 1000).toFixed(0).padStart(6)} ms self  ${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}`);
    }
    ws.close();
  } finally {
    await server.stop();
  }
}

await main();
