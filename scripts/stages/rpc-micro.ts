/**
 * What one RPC between two isolates costs in local workerd (miniflare), apart from any stage work: a gateway
 * Worker calls a Durable Object of another Worker script (as the gateway calls a stage) that returns at once,
 * sending a hidden row and getting back nothing, one logits row, or four. Mean ms per call over 300 sequential
 * calls, three rounds after 2 × 50 warm-up calls: the first round costs up to 3× the third (V8 tiering up,
 * the big buffers' first GCs), so read the last round.
 *
 *   npx tsx scripts/stages/rpc-micro.ts
 *
 * Compare with the per-hop cost bench:stages measures (staged minus one-isolate decode time per RPC):
 * the difference is the stage's own work per call, not the transport.
 */
import { Miniflare } from 'miniflare';

const GATEWAY = `
export default {
  async fetch(req, env) {
    const q = new URL(req.url).searchParams;
    const [n, back] = [Number(q.get('n')), Number(q.get('back'))];
    const stub = env.STAGE.get(env.STAGE.idFromName('x'));
    const hidden = new Float32Array(768);
    await scheduler.wait(1);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await stub.step(hidden, back);
    await scheduler.wait(1);
    return new Response(String((performance.now() - t0 - 1) / n));
  },
};`;
const STAGE = `
import { DurableObject } from 'cloudflare:workers';
export class Stage extends DurableObject {
  step(hidden, back) {
    return back ? new Float32Array(back) : hidden.length;
  }
}
export default { fetch: () => new Response('') };`;

const mf = new Miniflare({
  workers: [
    {
      name: 'gateway',
      modules: true,
      script: GATEWAY,
      compatibilityDate: '2025-01-01',
      durableObjects: { STAGE: { className: 'Stage', scriptName: 'stage' } },
    },
    { name: 'stage', modules: true, script: STAGE, compatibilityDate: '2025-01-01', durableObjects: { STAGE_SELF: 'Stage' } },
  ],
});
try {
  await mf.ready;
  const cases: [string, number][] = [
    ['768 floats there, a number back', 0],
    ['768 floats there, one logits row back (50,257 floats)', 50257],
    ['768 floats there, four logits rows back', 4 * 50257],
  ];
  for (const [, back] of cases) for (let i = 0; i < 2; i++) await mf.dispatchFetch(`http://gw/?n=50&back=${back}`);
  for (let round = 1; round <= 3; round++)
    for (const [what, back] of cases) {
      const res = await mf.dispatchFetch(`http://gw/?n=300&back=${back}`);
      console.log(`round ${round}, ${what}: ${Number(await res.text()).toFixed(3)} ms per call`);
    }
} finally {
  await mf.dispose();
}
