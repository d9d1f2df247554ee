/**
 * Bench-only Worker entry (run by `npm run bench` through `wrangler dev`, never deployed). It loads a
 * model id from the MODEL_BUCKET binding with the Worker's own code (worker/model over ORT-web in
 * workerd) and exposes one JSON endpoint per measured action, so the Node driver can time each request
 * from outside: workerd's clock is not trusted to advance during CPU work (see clock()).
 *
 *   GET  /health                      liveness (the driver waits for it)
 *   GET  /bench/clock?ms=N            busy-loops N ms of Date.now(): does the clock advance here?
 *   POST /bench/load {id}             loadModel: manifest, fetch+verify, sessions (in-worker timings too)
 *   POST /bench/fetch {id}            fetch + verify every blob only (drops the bytes)
 *   POST /bench/prefill {id, ids}     prefill one row; keeps the cache, answers its handle + argmax
 *   POST /bench/fork {handle}         copy of a cache (so decode runs can start from the same past)
 *   POST /bench/decode {id, handle, steps}  greedy decode `steps` tokens from the cache (consumed)
 *   POST /bench/generate {id, ids, new}     the real generation loop (worker/generation), greedy
 *   POST /bench/stage {id, stage, past, seq} one stage alone in this isolate (per-stage heap)
 *   GET  /bench/mem                   WASM heap bytes + JS-held KV bytes of live caches
 *   POST /bench/release               drops every cache
 */
import { argmax, defaultParams, generate } from '../../worker/generation/index.ts';
import type { KVCache } from '../../worker/generation/types.ts';
import { fetchBlobs, fetchManifest, loadModel, r2BlobSource, type LoadedModel } from '../../worker/model/index.ts';
import type { R2Reader } from '../../worker/model/blobs.ts';
import { workerdOrt } from '../../worker/model/ort-workerd.ts';
import { kvJsBytes } from './kv-bytes.ts';
import { runStageAlone } from './stage-alone.ts';
import { prefill } from './prefill.ts';
import { manifestBlobs } from '../../worker/model/manifest.ts';
import { useExpSum } from '../../worker/generation/logits.ts';
import { workerdExpSum } from '../../worker/kernels/workerd.ts';

interface Env {
  MODEL_BUCKET: R2Reader;
}

useExpSum(workerdExpSum()); // as the Worker does (worker/index.ts)

const models = new Map<string, Promise<LoadedModel>>();
const caches = new Map<number, { id: string; cache: KVCache; bytes: number }>();
let nextHandle = 1;

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

function model(env: Env, id: string, log?: (l: string) => void): Promise<LoadedModel> {
  let m = models.get(id);
  if (!m) {
    m = loadModel(r2BlobSource(env.MODEL_BUCKET), id, { runtime: workerdOrt(), log: log ?? (() => {}) });
    m.catch(() => models.delete(id));
    models.set(id, m);
  }
  return m;
}

function keep(id: string, lm: LoadedModel, cache: KVCache): number {
  const handle = nextHandle++;
  caches.set(handle, { id, cache, bytes: kvJsBytes(lm.manifest, cache.length, cache.batch) });
  return handle;
}

function take(handle: number): { id: string; cache: KVCache } {
  const c = caches.get(handle);
  if (!c) throw new Error(`no cache ${handle}`);
  caches.delete(handle);
  return c;
}

async function route(req: Request, env: Env): Promise<Response> {
  const url = new URL(req.url);
  const body = req.method === 'POST' ? ((await req.json()) as Record<string, unknown>) : {};
  const id = String(body.id ?? '');
  switch (url.pathname) {
    case '/health':
      return json({ ok: true });
    case '/bench/clock': {
      // If Date.now() is frozen during CPU work this spins until the guard count, and says so.
      const ms = Number(url.searchParams.get('ms') ?? 50);
      const t0 = Date.now();
      let spins = 0;
      while (Date.now() - t0 < ms && spins < 2e8) spins++;
      return json({ advanced: Date.now() - t0 >= ms, elapsed: Date.now() - t0, spins });
    }
    case '/bench/load': {
      const lines: string[] = [];
      const lm = await model(env, id, (l) => lines.push(l));
      return json({ heap: workerdOrt().heapBytes(), log: lines, stages: lm.manifest.stages.length });
    }
    case '/bench/fetch': {
      const source = r2BlobSource(env.MODEL_BUCKET);
      const m = await fetchManifest(source, id);
      let bytes = 0;
      for (const b of await fetchBlobs(source, manifestBlobs(m).slice(1))) bytes += b.byteLength;
      return json({ bytes });
    }
    case '/bench/prefill': {
      const lm = await model(env, id);
      const ids = body.ids as number[];
      const r = await prefill(lm.lm, ids, 64); // as generate(): chunked, with room for the decode steps that follow
      return json({ handle: keep(id, lm, r.cache), next: argmax(r.logits), heap: workerdOrt().heapBytes() });
    }
    case '/bench/fork': {
      const src = caches.get(Number(body.handle));
      if (!src) throw new Error(`no cache ${String(body.handle)}`);
      const lm = await model(env, src.id);
      return json({ handle: keep(src.id, lm, lm.lm.selectRows(src.cache, [0])) });
    }
    case '/bench/decode': {
      const { id: mid, cache: start } = take(Number(body.handle));
      const lm = await model(env, mid);
      let cache = start;
      let next = Number(body.token ?? 0);
      const steps = Number(body.steps ?? 1);
      const stepMs: number[] = [];
      for (let i = 0; i < steps; i++) {
        const t0 = performance.now(); // local workerd advances its clock during CPU work (GET /bench/clock)
        const r = await lm.lm.forward({ inputIds: [[next]], cache, logitsFor: 'last' });
        cache = r.cache;
        next = argmax(r.logits);
        stepMs.push(performance.now() - t0);
      }
      const past = cache.length;
      const heap = workerdOrt().heapBytes();
      const js = kvJsBytes(lm.manifest, cache.length, cache.batch);
      lm.lm.release(cache);
      return json({ next, past, heap, kvJsBytes: js, stepMs });
    }
    case '/bench/generate': {
      const lm = await model(env, id);
      const params = { ...defaultParams(), maxNewTokens: Number(body.new ?? 16), stopOnEos: false, cpuBudgetMs: 1e9 };
      let tokens = 0;
      for await (const ev of generate(lm.lm, lm.tokenizer, body.ids as number[], params)) if (ev.type === 'token') tokens++;
      return json({ tokens, heap: workerdOrt().heapBytes() });
    }
    case '/bench/serve': {
      // One request as the Worker serves it (generate(): chunked prefill, capacity hint, decode, release),
      // in an isolate that has done nothing else: its heap is what the 128 MB limit would see.
      const lm = await model(env, id);
      const ids = body.ids as number[];
      const params = { ...defaultParams(), maxNewTokens: Number(body.new ?? 16), stopOnEos: false, cpuBudgetMs: 1e9 };
      let tokens = 0;
      for await (const ev of generate(lm.lm, lm.tokenizer, ids, params)) if (ev.type === 'token') tokens++;
      const kvJs = kvJsBytes(lm.manifest, ids.length + tokens, 1);
      return json({ heap: workerdOrt().heapBytes(), kvJsBytes: kvJs, tokens, context: ids.length + tokens });
    }
    case '/bench/stage':
      return json(await runStageAlone(r2BlobSource(env.MODEL_BUCKET), workerdOrt(), body));
    case '/bench/mem': {
      let js = 0;
      for (const c of caches.values()) js += c.bytes;
      return json({ heap: workerdOrt().heapBytes(), kvJsBytes: js, caches: caches.size });
    }
    case '/bench/release': {
      for (const [h, c] of caches) {
        (await model(env, c.id)).lm.release(c.cache);
        caches.delete(h);
      }
      return json({ ok: true });
    }
    default:
      return json({ error: `no route ${url.pathname}` }, 404);
  }
}

export default {
  async fetch(req: Request, env: Env): Promise<Response> {
    try {
      return await route(req, env);
    } catch (err) {
      return json({ error: String((err as Error)?.message ?? err).slice(0, 500) }, 500);
    }
  },
};
