/**
 * A stage Worker: one part of a host-attention model in its own isolates (deployed as one script per
 * stage, `npm run stages` writes their configs). The weights live at module scope, once per isolate; the
 * Durable Object `Stage` gives the gateway a sticky address for the per-sequence KV caches and answers its
 * RPC (protocol.ts). The gateway uses one object per stage script (idFromName(model id)): instances of one
 * class may share an isolate and its 128 MB, so more objects per script would not add memory, only split it.
 */
import { DurableObject } from 'cloudflare:workers';
import { r2BlobSource } from '../model/blobs.ts';
import { workerdOrt } from '../model/ort-workerd.ts';
import { parseStageVars, type StageVars } from './config.ts';
import { createStageRuntime, type StageRuntime } from './part.ts';
import type { StageClient, StageHeadRequest, StageOp, StageStepRequest } from './protocol.ts';

export interface StageEnv extends StageVars {
  /** R2: the same bucket as the gateway's (content-addressed blobs + manifests). */
  MODEL_BUCKET: R2Bucket;
  /**
   * The next stage's Stage class (every stage but the last): a step is passed on from stage to stage, one
   * call from the gateway per step instead of one per stage (see README.md, "Hops").
   */
  NEXT_STAGE?: DurableObjectNamespace;
}

let runtime: StageRuntime | { error: string } | undefined;

function runtimeFor(env: StageEnv): StageRuntime | { error: string } {
  if (!runtime) {
    try {
      const config = parseStageVars(env);
      const ns = env.NEXT_STAGE;
      // The same object of the next script as the gateway's (idFromName(model id)), a fresh stub per call.
      const next = ns && (() => ns.get(ns.idFromName(config.model)) as unknown as StageClient);
      runtime = createStageRuntime(config, r2BlobSource(env.MODEL_BUCKET), workerdOrt, console.log, next);
    } catch (e) {
      runtime = { error: `stage misconfigured: ${(e as Error).message}` };
      console.error(`[stage] ${runtime.error}`);
    }
  }
  return runtime;
}

export class Stage extends DurableObject<StageEnv> {
  private readonly rt: StageRuntime | { error: string };

  constructor(ctx: DurableObjectState, env: StageEnv) {
    super(ctx, env);
    this.rt = runtimeFor(env);
    // A new incarnation of the object: whatever sequences an earlier one held are gone with it.
    if (!('error' in this.rt)) this.rt.reset();
  }

  private get ok(): StageRuntime {
    if ('error' in this.rt) throw new Error(this.rt.error);
    return this.rt;
  }

  load() {
    return 'error' in this.rt ? misconfigured(this.rt.error) : this.rt.load();
  }
  step(req: StageStepRequest) {
    return 'error' in this.rt ? misconfigured(this.rt.error) : this.rt.step(req);
  }
  head(req: StageHeadRequest) {
    return 'error' in this.rt ? misconfigured(this.rt.error) : this.rt.head(req);
  }
  apply(ops: StageOp[]) {
    return 'error' in this.rt ? misconfigured(this.rt.error) : this.rt.apply(ops);
  }
  stats() {
    return 'error' in this.rt ? misconfigured(this.rt.error) : this.rt.stats();
  }
  /** Resets this object (operators; what the platform does to an object whose isolate ran out of memory). */
  reset(): void {
    this.ok.reset();
    this.ctx.abort('reset');
  }
}

function misconfigured(message: string) {
  return Promise.resolve({ ok: false as const, code: 'load_failed' as const, message, loadCode: 'manifest_invalid' });
}

export default {
  fetch(request, env) {
    const rt = runtimeFor(env);
    if (new URL(request.url).pathname === '/health') {
      return Response.json(
        'error' in rt
          ? { status: 'misconfigured', error: rt.error }
          : { status: 'ok', stage: rt.config.stage, model: rt.config.model, layers: rt.config.spec.layers, ends: rt.config.spec.ends },
      );
    }
    return Response.json({ error: 'a stage Worker answers its gateway over RPC only', error_type: 'not_found' }, { status: 404 });
  },
} satisfies ExportedHandler<StageEnv>;
