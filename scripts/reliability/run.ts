/**
 * `npm run test:reliability [-- --short] [--seed N]`: the Worker under abuse and load, against a real
 * `wrangler dev` on 127.0.0.1 (a private local R2 seeded from model-shards/). Phases:
 *   refusals     the Worker's CPU (workerd's /proc times) per refused request of each kind: over-long
 *                prompt, over-cap /tokenize, 16 MiB body, malformed JSON, wrong key, bad parameter (a figure:
 *                locally the process also runs wrangler's proxy worker and receives the bytes)
 *   hostile      ≥ 10,000 seeded hostile requests over every route (1,000 with --short), 16 in flight
 *   big bodies   8–16 MiB bodies, with Content-Length and chunked, on every body route
 *   auth         missing / wrong / near-miss / malformed keys → 401, the right key → 200
 *   streams      64 concurrent seeded streams (16 with --short), each equal to its solo run
 *   disconnects  a storm of clients that go away mid-generation (streaming and not); the server answers after
 *   store faults missing/truncated manifest, corrupt/truncated/missing blob on fresh model ids → 503 +
 *                Retry-After; repaired in the bucket while the server runs → 200 without a restart
 *   quotas       a metered key (API_KEY_QUOTAS, a KeyQuota Durable Object): N concurrent requests spend
 *                at most its quota (usage reported = tokens charged), then 429 + Retry-After + x-ratelimit-*
 * Prints ONE summary line of figures and exits 1 when any goal is missed (5xx, hang, dead server,
 * unequal stream, fault not refused or not recovered). Times are wall-clock on a shared machine
 * (`uptime` load printed with them), never asserted.
 */
import { execSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { manifestBlobs, manifestKey, parseManifest } from '../../worker/model/manifest.ts';
import { withLocalBucket } from '../lib/r2-local.ts';
import type { BucketWriter } from '../lib/r2-seed.ts';
import { pool, send, sseData, type Received } from './client.ts';
import { ROOT, STATE_ROOT, seedBucket, startDevServer, tail } from './dev-server.ts';
import { Gen, bigBody, hostileRequest } from './hostile.ts';

const { values } = parseArgs({ options: { short: { type: 'boolean' }, seed: { type: 'string' } } });
const SHORT = values.short ?? false;
const SEED = Number(values.seed ?? 16);
const HOSTILE = SHORT ? 1_000 : 10_000;
const STREAMS = SHORT ? 16 : 64;
const STORM = SHORT ? 30 : 120;
const KEY = `rk-${SEED}-0123456789abcdef`;
const QKEY = `rq-${SEED}-${crypto.randomUUID()}`; // fresh: the bucket's state (and the key's ledger) persists between runs
const QUOTA = 600; // tokens per day for QKEY
const QUOTA_REQUESTS = SHORT ? 12 : 32;
const FAULTS = ['manifest-missing', 'manifest-truncated', 'blob-corrupt', 'blob-truncated', 'blob-missing'] as const;

const stats = {
  requests: 0,
  ours5xx: 0,
  proxy5xx: 0,
  hangs: 0,
  connErrors: 0,
  maxRefusalMs: 0,
  /** The Worker's CPU ms per refused request, for the costliest kind of refusal. */
  refusalCpuMs: 0,
  refusalCpuKind: '',
  big: 0,
  bigOk: 0,
  auth: 0,
  authOk: 0,
  streamsEqual: 0,
  storm: 0,
  faultsRefused: 0,
  faultsRecovered: 0,
  quotaSpent: 0,
  quota429: 0,
  overloaded: 0,
  drainS: 0,
};
const failures: string[] = [];
const fail = (what: string) => {
  if (failures.length < 40) failures.push(what);
};

/** Every answer is tallied: 5xx (ours: JSON error bodies; the dev proxy's: text), hangs, socket errors. */
function tally(label: string, r: Received, allow503 = false, allowOverload = false): void {
  stats.requests++;
  // The overload guard's designed refusal. A storm client that went away after the headers never read
  // the body: its 503 + Retry-After is that same refusal (the CI run and a full run each saw one counted
  // as a server error with an empty body).
  const cut = r.error === 'aborted' && r.body === '';
  if (allowOverload && r.status === 503 && r.headers['retry-after'] && (cut || /"overloaded"|server_overloaded/.test(r.body))) {
    stats.overloaded++;
    return;
  }
  if (r.error === 'hang') {
    stats.hangs++;
    fail(`hang: ${label}`);
  } else if (r.error && r.error !== 'aborted') {
    stats.connErrors++;
    fail(`${r.error}: ${label}`);
  } else if (r.status >= 500 && !(allow503 && r.status === 503)) {
    if ((r.headers['content-type'] ?? '').includes('json')) stats.ours5xx++;
    else stats.proxy5xx++;
    fail(`${r.status}: ${label}: ${r.body.slice(0, 160)}`);
  }
  if (r.status >= 400 && r.status < 500) stats.maxRefusalMs = Math.max(stats.maxRefusalMs, r.ms);
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const modelId = await seedBucket();
  const faultIds = FAULTS.map((f) => `fault-${f}`);
  const logFile = path.join(ROOT, '.tmp', 'reliability', 'wrangler-dev.log');
  const dev = await startDevServer({
    modelId,
    logFile,
    vars: {
      MODEL_IDS: [modelId, ...faultIds].join(','),
      API_KEYS: `${KEY},${QKEY}`,
      API_KEY_QUOTAS: JSON.stringify({ [createHash('sha256').update(QKEY).digest('hex')]: { tokens_per_day: QUOTA } }),
      LOAD_RETRY_BACKOFF_MS: '250,2000',
      MAX_NEW_TOKENS: '256',
    },
  });
  const auth = { authorization: `Bearer ${KEY}` };
  const url = (p: string) => dev.url + p;
  const post = (p: string, body: unknown, extra: Parameters<typeof send>[0] extends infer S ? Partial<S> : never = {}) =>
    send({ method: 'POST', url: url(p), headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify(body), ...extra });
  try {
    // Warm the model so every later figure is about requests, not the first load.
    const warm = await post('/generate', { inputs: 'Hello', parameters: { max_new_tokens: 1 } });
    if (warm.status !== 200) throw new Error(`warm-up failed: ${warm.status} ${warm.body.slice(0, 200)}`);

    // refusal cost: the Worker's CPU per refused request, one kind at a time, one request in flight
    const refusals: [string, () => Promise<Received>, number][] = [
      ['prompt over the limit (512 KiB)', () => post('/generate', { inputs: 'a'.repeat(1 << 19) }), 422],
      ['/tokenize over the cap (512 KiB)', () => post('/tokenize', { inputs: 'a'.repeat(1 << 19) }), 422],
      [
        '16 MiB body',
        () =>
          send({
            method: 'POST',
            url: url('/generate'),
            headers: { 'content-type': 'application/json', ...auth },
            body: bigBody(16 << 20),
          }),
        413,
      ],
      [
        'malformed JSON',
        () => send({ method: 'POST', url: url('/generate'), headers: { 'content-type': 'application/json', ...auth }, body: '{"inputs":' }),
        422,
      ],
      [
        'wrong key',
        () =>
          send({
            method: 'POST',
            url: url('/generate'),
            headers: { 'content-type': 'application/json', authorization: 'Bearer nope' },
            body: '{"inputs":"Hi"}',
          }),
        401,
      ],
      ['bad parameter', () => post('/generate', { inputs: 'Hi', parameters: { temperature: -1 } }), 422],
    ];
    const REFUSALS = SHORT ? 10 : 40;
    // Two passes; each kind's lower figure counts. A one-off cost landing in a window (the warm-up's tail:
    // a major GC after the model load, waitUntil work) once made the first kind measured read 60–70 ms
    // against 10–15 ms on its own.
    const perKind = new Map<string, number>();
    for (let pass = 0; pass < 2; pass++) {
      for (const [kind, ask, want] of refusals) {
        const cpu0 = dev.workerdCpuMs();
        for (let i = 0; i < REFUSALS; i++) {
          const r = await ask();
          tally(`refusal: ${kind}`, r);
          if (r.status !== want) fail(`refusal: ${kind} → ${r.status}, want ${want}: ${r.body.slice(0, 120)}`);
        }
        const perRequest = (dev.workerdCpuMs() - cpu0) / REFUSALS;
        perKind.set(kind, Math.min(perKind.get(kind) ?? Infinity, perRequest));
      }
    }
    // A figure, not a pass/fail: under `wrangler dev` the workerd process also runs the dev proxy worker,
    // which relays every byte of the body, and receives the bytes; a deployed Worker is billed for neither.
    for (const [kind, ms] of perKind) {
      console.log(`[reliability] refusal CPU: ${kind}: ${ms.toFixed(1)} ms per request (workerd process)`);
      if (ms > stats.refusalCpuMs) [stats.refusalCpuMs, stats.refusalCpuKind] = [ms, kind];
    }
    console.log(`[reliability] the costliest refusal: ${stats.refusalCpuKind} (refusal_cpu_ms in the summary)`);

    // hostile
    const g = new Gen(SEED);
    const reqs = Array.from({ length: HOSTILE }, () => hostileRequest(g, modelId, KEY));
    await pool(reqs, 16, async (h) => {
      const r = await send({
        method: h.method,
        url: url(h.path),
        headers: h.headers,
        ...(h.body !== undefined ? { body: h.body } : {}),
        timeoutMs: 60_000,
      });
      tally(h.label, r);
    });

    // big bodies
    const bigRoutes = [
      '/',
      '/generate',
      '/generate_stream',
      '/v1/completions',
      `/models/${modelId}`,
      '/tokenize',
      '/v1/embeddings',
      '/nope',
    ];
    const sizes = SHORT ? [8 << 20, 16 << 20] : [8 << 20, 12 << 20, 16 << 20];
    for (const size of sizes) {
      const body = bigBody(size);
      for (const route of SHORT ? bigRoutes.slice(0, 4) : bigRoutes) {
        for (const chunked of [false, true]) {
          const r = await send({
            method: 'POST',
            url: url(route),
            headers: { 'content-type': 'application/json', ...auth },
            body,
            chunked,
            timeoutMs: 60_000,
          });
          stats.big++;
          tally(`POST ${route} ${size >> 20} MiB ${chunked ? 'chunked' : 'CL'}`, r);
          if (r.status === (route === '/nope' ? 404 : 413)) stats.bigOk++;
          else fail(`big body ${route} ${size >> 20} MiB ${chunked ? 'chunked' : 'CL'} → ${r.status} ${r.error ?? ''}`);
        }
      }
    }

    // auth
    const wrong = [
      '',
      'Bearer',
      `Bearer ${KEY.slice(0, -1)}`,
      `Bearer ${KEY}0`,
      `Bearer ${KEY.slice(1)}`,
      `Bearer ${KEY.replace('r', 'R')}`,
      `Basic ${KEY}`,
      `Bearer ${KEY} x`,
    ];
    for (const [i, a] of [...wrong, `Bearer ${KEY}`].entries()) {
      for (const route of ['/generate', '/v1/completions', `/models/${modelId}`, '/tokenize', '/info']) {
        const get = route === '/info';
        const r = await send({
          method: get ? 'GET' : 'POST',
          url: url(route),
          headers: { 'content-type': 'application/json', ...(a ? { authorization: a } : {}) },
          ...(get
            ? {}
            : {
                body: JSON.stringify(
                  route.includes('completions') ? { prompt: 'Hi', max_tokens: 1 } : { inputs: 'Hi', parameters: { max_new_tokens: 1 } },
                ),
              }),
        });
        tally(`auth ${i} ${route}`, r);
        stats.auth++;
        const want = i < wrong.length ? 401 : 200;
        if (r.status === want) stats.authOk++;
        else fail(`auth "${a.slice(0, 12)}…" ${route} → ${r.status}, want ${want}`);
      }
    }

    // streams: each equal to its solo run
    const streamReq = (i: number) => ({
      inputs: `Stream ${i % 8} said`,
      parameters: { max_new_tokens: 24, do_sample: true, seed: 1000 + (i % 8), top_k: 40 },
    });
    const finalText = (r: Received) => {
      const last = sseData(r.body).at(-1) as { generated_text?: string } | undefined;
      return last?.generated_text ?? `(no final event: ${r.status} ${r.error ?? ''})`;
    };
    const solo: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await post('/generate_stream', streamReq(i));
      tally(`solo stream ${i}`, r);
      solo.push(finalText(r));
    }
    const together = await Promise.all(
      Array.from({ length: STREAMS }, (_, i) => post('/generate_stream', streamReq(i), { timeoutMs: 300_000 })),
    );
    together.forEach((r, i) => {
      tally(`stream ${i}`, r);
      if (finalText(r) === solo[i % 8]) stats.streamsEqual++;
      else
        fail(
          `stream ${i} differs from its solo run: ${JSON.stringify(finalText(r)).slice(0, 80)} vs ${JSON.stringify(solo[i % 8]).slice(0, 80)}`,
        );
    });

    // disconnect storm
    const sg = new Gen(SEED + 1);
    await pool(
      Array.from({ length: STORM }, (_, i) => i),
      16,
      async (i) => {
        const route = sg.pick(['/generate', '/generate_stream', '/v1/completions', `/models/${modelId}`]);
        const body = route.includes('completions')
          ? { prompt: 'The jury said', max_tokens: 200, stream: sg.chance(0.5) }
          : { inputs: 'The jury said', parameters: { max_new_tokens: 200 } };
        const r = await post(route, body, { abortAfterMs: sg.int(400), timeoutMs: 120_000 });
        tally(`storm ${i} ${route}`, r, false, true);
        stats.storm++;
      },
    );
    // Locally a non-streaming request whose client left runs to its end (request.signal does not fire
    // in local workerd before the response starts): wait until the instance takes work again.
    const drain0 = performance.now();
    for (let i = 0; i < 120; i++) {
      const probe = await post('/generate', { inputs: 'Hi', parameters: { max_new_tokens: 1 } });
      tally('probe after the storm', probe, false, true);
      if (probe.status !== 503) break;
      await new Promise((res) => setTimeout(res, Number(probe.headers['retry-after'] ?? 1) * 1000));
    }
    stats.drainS = (performance.now() - drain0) / 1000;
    const after = await post('/generate_stream', streamReq(0));
    tally('after the storm', after);
    if (finalText(after) !== solo[0]) fail('after the storm a stream differs from its solo run');
    // Nothing the storm started may hold a slot for good: once its abandoned generations have ended,
    // 64 at once (the overload bound) must all be served. Retried (Retry-After) for up to 3 minutes.
    let served = 0;
    for (let round = 0; round < 60 && served < 64; round++) {
      const full = await Promise.all(
        Array.from({ length: 64 }, (_, i) =>
          post(i % 2 ? '/generate_stream' : '/generate', { inputs: 'Hi', parameters: { max_new_tokens: 2 } }, { timeoutMs: 300_000 }),
        ),
      );
      full.forEach((r, i) => tally(`after the storm, 64 at once: ${i}`, r, false, true));
      served = full.filter((r) => r.status === 200).length;
      if (served < 64) await new Promise((res) => setTimeout(res, 3_000));
    }
    stats.drainS = (performance.now() - drain0) / 1000;
    if (served < 64) fail(`after the storm only ${served} of 64 at once were served after 3 minutes: slots leaked`);

    // store faults, repaired while the server runs
    await storeFaults(dev.url, modelId, auth);

    // quotas: concurrent requests of the metered key never spend more than its quota
    const qauth = { authorization: `Bearer ${QKEY}` };
    const qres = await Promise.all(
      Array.from({ length: QUOTA_REQUESTS }, (_, i) =>
        send({
          method: 'POST',
          url: url(i % 2 ? '/v1/completions' : '/generate'),
          headers: { 'content-type': 'application/json', ...qauth },
          body: JSON.stringify(
            i % 2
              ? { prompt: `Quota ${i} said`, max_tokens: 48 }
              : { inputs: `Quota ${i} said`, parameters: { max_new_tokens: 48, details: true, decoder_input_details: true } },
          ),
          timeoutMs: 120_000,
        }),
      ),
    );
    for (const [i, r] of qres.entries()) {
      tally(`quota ${i}`, r);
      if (r.status === 429) stats.quota429++;
      else if (r.status === 200) {
        const b = JSON.parse(r.body) as { usage?: { total_tokens: number }; details?: { generated_tokens: number; prefill: unknown[] } };
        stats.quotaSpent += b.usage ? b.usage.total_tokens : b.details!.generated_tokens + b.details!.prefill.length;
      } else fail(`quota ${i} → ${r.status} ${r.body.slice(0, 120)}`);
    }
    // Concurrent requests may end (max_tokens) a few tokens short of the quota: then the next request is
    // still served, cut at the quota (finish_detail "quota"), and the one after it is refused.
    const askOver = () =>
      send({
        method: 'POST',
        url: url('/v1/completions'),
        headers: { 'content-type': 'application/json', ...qauth },
        body: JSON.stringify({ prompt: 'Hi', max_tokens: 48 }),
      });
    let over = await askOver();
    tally('quota after', over);
    if (over.status === 200 && stats.quotaSpent < QUOTA) {
      const b = JSON.parse(over.body) as { usage: { total_tokens: number }; choices: { finish_detail?: string }[] };
      stats.quotaSpent += b.usage.total_tokens;
      if (b.choices[0]?.finish_detail !== 'quota') fail(`the request that reached the quota ended by ${b.choices[0]?.finish_detail}`);
      over = await askOver();
      tally('quota after, again', over);
    }
    if (stats.quotaSpent > QUOTA) fail(`quota overshoot: ${stats.quotaSpent} tokens spent of ${QUOTA}`);
    if (
      over.status !== 429 ||
      !(Number(over.headers['retry-after']) >= 1) ||
      over.headers['x-ratelimit-remaining-tokens'] === undefined ||
      !/rate_limit_exceeded/.test(over.body)
    ) {
      fail(
        `after ${stats.quotaSpent} of ${QUOTA} tokens → ${over.status} retry-after=${over.headers['retry-after']} ${over.body.slice(0, 120)}`,
      );
    }
    const up = await send({ method: 'GET', url: url('/health') });
    if (up.status !== 200 || !dev.alive()) fail('the dev server is not up at the end');

    const load = execSync('uptime')
      .toString()
      .trim()
      .replace(/.*load average: /, '');
    const line =
      `reliability${SHORT ? ' (short)' : ''}: requests=${stats.requests} 5xx_ours=${stats.ours5xx} 5xx_proxy=${stats.proxy5xx} ` +
      `hangs=${stats.hangs} conn_errors=${stats.connErrors} big_bodies=${stats.bigOk}/${stats.big} auth=${stats.authOk}/${stats.auth} ` +
      `streams_equal=${stats.streamsEqual}/${STREAMS} disconnects=${stats.storm} store_faults_refused=${stats.faultsRefused}/${FAULTS.length} ` +
      `recovered=${stats.faultsRecovered}/${FAULTS.length} quota_spent=${stats.quotaSpent}/${QUOTA} quota_429=${stats.quota429} overloaded_503=${stats.overloaded} storm_drain_s=${Math.round(stats.drainS)} server_up=${up.status === 200 && dev.alive() ? 'yes' : 'NO'} ` +
      `max_refusal_wall_ms=${Math.round(stats.maxRefusalMs)} refusal_cpu_ms=${stats.refusalCpuMs.toFixed(1)} wall_s=${Math.round((performance.now() - t0) / 1000)} load=${load.replace(/ /g, '')}`;
    console.log(line);
  } finally {
    await dev.stop();
  }
  if (failures.length > 0) {
    console.error(`reliability: ${failures.length} failure(s):\n  ${failures.join('\n  ')}\n(wrangler log: ${logFile})`);
    // CI keeps only the output: the log's errors go with it.
    const errors = tail(logFile, 100_000)
      .split('\n')
      .filter((l) => /error|exception|\b5\d\d\b/i.test(l))
      .slice(-30);
    if (errors.length > 0) console.error(`wrangler log, lines naming errors (last ${errors.length}):\n  ${errors.join('\n  ')}`);
    process.exitCode = 1;
  }

  async function storeFaults(base: string, id: string, authHeaders: Record<string, string>): Promise<void> {
    const manifest = parseManifest(JSON.parse(readFileSync(path.join(ROOT, 'model-shards', manifestKey(id)), 'utf8')));
    const blobs = manifestBlobs(manifest);
    const shard = [...blobs].sort((a, b) => b.bytes - a.bytes)[0]!;
    const good = new Uint8Array(readFileSync(path.join(ROOT, 'model-shards', shard.key)));
    const manifestFor = (fid: string) =>
      JSON.stringify({ ...JSON.parse(readFileSync(path.join(ROOT, 'model-shards', manifestKey(id)), 'utf8')), id: fid });
    const ask = (fid: string) =>
      send({
        method: 'POST',
        url: `${base}/models/${fid}`,
        headers: { 'content-type': 'application/json', ...authHeaders },
        body: JSON.stringify({ inputs: 'Hi', parameters: { max_new_tokens: 2 }, options: { wait_for_model: true } }),
      });
    const withBucket = <T>(fn: (b: BucketWriter & { delete(k: string): Promise<void> }) => Promise<T>) =>
      withLocalBucket(STATE_ROOT, fn as (b: BucketWriter) => Promise<T>);
    for (const fault of FAULTS) {
      const fid = `fault-${fault}`;
      await withBucket(async (b) => {
        if (fault === 'manifest-missing') return b.delete(manifestKey(fid));
        if (fault === 'manifest-truncated')
          return void (await b.put(manifestKey(fid), new TextEncoder().encode(manifestFor(fid).slice(0, 200))));
        await b.put(manifestKey(fid), new TextEncoder().encode(manifestFor(fid)));
        if (fault === 'blob-missing') return b.delete(shard.key);
        const bad = fault === 'blob-truncated' ? good.slice(0, good.byteLength >> 1) : good.slice();
        if (fault === 'blob-corrupt') bad[bad.byteLength >> 1]! ^= 0x40;
        await b.put(shard.key, bad);
      });
      const r = await ask(fid);
      tally(`fault ${fault}`, r, true);
      const retryAfter = Number(r.headers['retry-after']);
      if (r.status === 503 && retryAfter >= 1 && /model could not be loaded/.test(r.body)) stats.faultsRefused++;
      else fail(`fault ${fault} → ${r.status} retry-after=${r.headers['retry-after']} ${r.body.slice(0, 160)}`);
      // Repair: what `npm run upload` does (blob, then the manifest), then wait out the back-off.
      await withBucket(async (b) => {
        await b.put(shard.key, good);
        await b.put(manifestKey(fid), new TextEncoder().encode(manifestFor(fid)));
      });
      await new Promise((res) => setTimeout(res, (Number.isFinite(retryAfter) ? retryAfter : 2) * 1000 + 100));
      const ok = await ask(fid);
      tally(`fault ${fault} repaired`, ok, true);
      if (ok.status === 200) stats.faultsRecovered++;
      else fail(`fault ${fault} not recovered: ${ok.status} ${ok.body.slice(0, 160)}`);
    }
  }
}

main().catch((err: unknown) => {
  console.error(`reliability: ${err instanceof Error ? err.stack : String(err)}`);
  console.error(tail(path.join(ROOT, '.tmp', 'reliability', 'wrangler-dev.log')));
  process.exit(1);
});
