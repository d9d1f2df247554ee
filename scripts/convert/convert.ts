/**
 * HF GPT-2 checkpoint -> stage graphs + content-addressed shards + tokenizer + manifest, laid out like R2:
 *   <out>/blobs/<sha256>, <out>/models/<id>/manifest.json
 * Everything is written into a temp dir beside <out> first; blobs are then moved in (identical ones already
 * there are reused) and the manifest is written last, so a failed run never leaves a manifest behind.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import {
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  MANIFEST_VERSION_HOST,
  MANIFEST_VERSION_KERNELS,
  blobKey,
  innerWidth,
  manifestKey,
  parseManifest,
  type Manifest,
  type Segment,
  type Stage,
} from '../../worker/model/manifest.ts';
import { parameterCount } from '../lib/gpt2-names.ts';
import { sha256File, sha256Hex } from '../lib/sha256.ts';
import { openCheckpoint } from './checkpoint.ts';
import { ConvertError } from './errors.ts';
import { buildStage } from './gpt2-graph.ts';
import { buildSegment, writeHostTensors, writeKernelSegment, type HostTensorOut } from './host-graph.ts';
import { kvBytesPerToken, wasmHeapEstimate } from './memory.ts';
import { GraphBuilder } from './onnx-builder.ts';
import { ShardWriter } from './shards.ts';
import type { ActivationScales, QuantMethod, WeightContext } from './weights.ts';

export const CONVERTER = 'edge-gpt2/convert@1';

export interface ConvertOptions {
  input: string;
  out: string;
  id: string;
  quant?: QuantMethod;
  /** int8 host-attention only: activation scales per row (default; batch-invariant) or per tensor (the old DynamicQuantizeMatMul). */
  activations?: ActivationScales;
  stages?: number;
  kv?: 'float32' | 'float16';
  /**
   * Where attention runs: `host` (the Worker's kernels; KV cache outside ORT — the fast path) or `graph`
   * (MultiHeadAttention inside ORT). Default: host where it applies (int8/fp32, one stage, float32 cache,
   * n_embd a multiple of 16), else graph.
   */
  attention?: 'host' | 'graph';
  /**
   * int8 host-attention only: who runs the dense layers — `kernels` (the Worker's own WASM kernels, 7-bit
   * activations per row; the default, no ORT at all) or `ort` (ORT graph segments, 8-bit activations per
   * row or per tensor as `activations` says).
   */
  dense?: 'kernels' | 'ort';
  shardMb?: number;
  /** q4 block size (32 or 128). */
  blockSize?: number;
  /** q4: LM head slices. */
  headChunks?: number;
  card?: Record<string, unknown>;
  /** Source name recorded in the manifest (default: the checkpoint dir's name). */
  sourceName?: string;
  log?: (line: string) => void;
}

export interface ConvertResult {
  manifest: Manifest;
  manifestPath: string;
  notes: string[];
}

export async function convert(o: ConvertOptions): Promise<ConvertResult> {
  const log = o.log ?? (() => {});
  const quant = o.quant ?? 'int8';
  const kv = o.kv ?? 'float32';
  const block = o.blockSize ?? 32;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(o.id))
    throw new ConvertError('bad_args', `model id ${JSON.stringify(o.id)} must be letters, digits, '.', '_' or '-'`);
  if (quant === 'q4' && block !== 32 && block !== 128) throw new ConvertError('bad_args', `q4 block size must be 32 or 128, got ${block}`);
  const ck = await openCheckpoint(o.input);
  const out = resolve(o.out);
  const tmp = join(dirname(out), `.${basename(out)}.partial-${process.pid}-${Date.now()}`);
  try {
    const c = ck.config;
    const nStages = o.stages ?? 1;
    if (!Number.isInteger(nStages) || nStages < 1 || nStages > c.n_layer) {
      throw new ConvertError('bad_args', `--stages must be an integer in [1, n_layer=${c.n_layer}], got ${o.stages}`);
    }
    // The default is the fast layout wherever it applies (every GPT-2 size has n_embd % 64 == 0).
    const hostFits = quant !== 'q4' && nStages === 1 && kv === 'float32' && c.n_embd % 16 === 0;
    const attention = o.attention ?? (hostFits ? 'host' : 'graph');
    if (attention === 'host' && (quant === 'q4' || nStages > 1 || kv === 'float16')) {
      throw new ConvertError(
        'bad_args',
        '--attention host supports int8 and fp32 weights, one stage and a float32 KV cache; use --attention graph for q4, --stages > 1 or --kv float16',
      );
    }
    if (attention === 'host' && c.n_embd % 16 !== 0) {
      throw new ConvertError(
        'bad_args',
        `--attention host needs n_embd to be a multiple of 16 (the kernels' SIMD width), got ${c.n_embd}; use --attention graph`,
      );
    }
    const activations: ActivationScales | undefined = attention === 'host' && quant === 'int8' ? (o.activations ?? 'row') : undefined;
    if (o.dense === 'kernels' && !(attention === 'host' && quant === 'int8'))
      throw new ConvertError('bad_args', '--dense kernels needs int8 weights and --attention host');
    if (o.dense === 'kernels' && activations === 'tensor')
      throw new ConvertError('bad_args', '--dense kernels quantizes activations per row; --activations tensor needs --dense ort');
    const dense = attention === 'host' && quant === 'int8' ? (o.dense ?? (activations === 'tensor' ? 'ort' : 'kernels')) : 'ort';
    const headChunks = Math.max(1, Math.min(o.headChunks ?? 16, Math.ceil(c.vocab_size / 64)));
    log(
      `checkpoint ${o.input}: ${c.n_layer} layers, ${c.n_head} heads, width ${c.n_embd}, vocab ${c.vocab_size}, ${ck.dtype}${ck.prefix ? ', transformer. prefix' : ''}`,
    );
    for (const n of ck.notes) log(`note: ${n}`);
    const blobs = join(tmp, 'blobs');
    mkdirSync(blobs, { recursive: true });

    const stages: Stage[] = [];
    const t0 = Date.now();
    let host: Manifest['host'];
    if (attention === 'host') {
      const built = await buildHostStage(
        blobs,
        { ck, quant, block, headChunks, ...(activations ? { activations } : {}) },
        dense,
        o.shardMb ?? 16,
        log,
        t0,
      );
      stages.push(built.stage);
      host = built.host;
    }
    for (let s = 0; s < (attention === 'host' ? 0 : nStages); s++) {
      const first = Math.floor((s * c.n_layer) / nStages);
      const end = Math.floor(((s + 1) * c.n_layer) / nStages);
      const g = new GraphBuilder(`gpt2_stage${s}`);
      const shards = new ShardWriter(blobs, (o.shardMb ?? 16) * 1024 * 1024, `s${s}`, (r) =>
        log(`  stage ${s}: shard ${r.sha256.slice(0, 12)} ${(r.bytes / 1e6).toFixed(2)} MB`),
      );
      const ctx = { g, ck, shards, quant, block, headChunks };
      const io = await buildStage(ctx, { index: s, count: nStages, first, end, kv }, (i) =>
        log(`  stage ${s}: layer ${i} done (${((Date.now() - t0) / 1000).toFixed(1)} s)`),
      );
      await shards.closeCurrent();
      const graphBytes = g.encode(CONVERTER);
      const graph = writeBlob(blobs, graphBytes);
      stages.push({
        layers: [first, end],
        graph,
        shards: shards.shards().map((r) => ({ key: blobKey(r.sha256), bytes: r.bytes, sha256: r.sha256, location: r.location })),
        inputs: io.inputs,
        outputs: io.outputs,
      });
      log(`stage ${s}: layers [${first}, ${end}), graph ${(graphBytes.length / 1024).toFixed(1)} KB, ${stages[s]!.shards.length} shard(s)`);
    }
    const tokenizer = { ...writeBlob(blobs, ck.tokenizerJson), format: 'hf-tokenizer-json' as const };
    log('hashing the checkpoint for provenance');
    const checkpointSha = await sha256File(ck.st.path);

    const hostBytes = host ? host.wte.bytes + (host.wte_scale?.bytes ?? 0) + host.wpe.bytes : 0;
    const weightsBytes = hostBytes + stages.reduce((n, st) => n + st.shards.reduce((m, sh) => m + sh.bytes, 0), 0);
    const manifest: Manifest = parseManifest({
      format: MANIFEST_FORMAT,
      version: host ? (dense === 'kernels' ? MANIFEST_VERSION_KERNELS : MANIFEST_VERSION_HOST) : MANIFEST_VERSION,
      id: o.id,
      created_at: new Date().toISOString(),
      source: { name: o.sourceName ?? basename(resolve(o.input)), converter: CONVERTER, checkpoint_sha256: checkpointSha },
      config: {
        architecture: 'gpt2',
        n_layer: c.n_layer,
        n_head: c.n_head,
        n_embd: c.n_embd,
        n_positions: c.n_positions,
        vocab_size: c.vocab_size,
        layer_norm_epsilon: c.layer_norm_epsilon,
        bos_token_id: c.bos_token_id,
        eos_token_id: c.eos_token_id,
        ...(innerWidth(c) !== 4 * c.n_embd ? { n_inner: innerWidth(c) } : {}),
        parameters: parameterCount(c),
      },
      quantization: quant === 'q4' ? { method: quant, block_size: block } : { method: quant, ...(activations ? { activations } : {}) },
      kv_dtype: kv,
      layout: host ? 'host-attention' : 'graph',
      ...(host ? { host } : {}),
      tokenizer,
      stages,
      memory: {
        weights_bytes: weightsBytes,
        wasm_heap_estimate_bytes: wasmHeapEstimate(c, quant, weightsBytes, kv, headChunks, attention, dense),
        kv_cache_bytes_per_token: kvBytesPerToken(c, kv),
      },
      card: { source_dtype: ck.dtype, conversion_notes: ck.notes, ...o.card },
    });
    const manifestPath = publish(tmp, out, o.id, manifest);
    log(`wrote ${manifestPath} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return { manifest, manifestPath, notes: ck.notes };
  } finally {
    await ck.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The one stage of a host-attention model: n_layer + 1 segments (graphs or kernel tensors), plus the host tensors. */
async function buildHostStage(
  blobs: string,
  base: Pick<WeightContext, 'ck' | 'quant' | 'block' | 'headChunks' | 'activations'>,
  dense: 'kernels' | 'ort',
  shardMb: number,
  log: (line: string) => void,
  t0: number,
): Promise<{ stage: Stage; host: NonNullable<Manifest['host']> }> {
  const L = base.ck.config.n_layer;
  const shards = new ShardWriter(blobs, shardMb * 1024 * 1024, 's0', (r) =>
    log(`  shard ${r.sha256.slice(0, 12)} ${(r.bytes / 1e6).toFixed(2)} MB`),
  );
  const segments: Segment[] = [];
  for (let j = 0; j <= L; j++) {
    if (dense === 'kernels') {
      const { kernel, shard, ...io } = await writeKernelSegment({ ...base, g: new GraphBuilder('unused'), shards }, j, L);
      segments.push({ kernel, shards: [shard], ...io });
      log(`  kernel segment ${j}/${L} done (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      continue;
    }
    const g = new GraphBuilder(`gpt2_segment${j}`);
    const io = await buildSegment({ ...base, g, shards }, j, L);
    await shards.closeCurrent(); // a segment's shards are its own: each session mounts only what it reads
    segments.push({ graph: writeBlob(blobs, g.encode(CONVERTER)), shards: g.externalLocations(), ...io });
    log(`  segment ${j}/${L} done (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
  const hostWriter = new ShardWriter(blobs, Number.MAX_SAFE_INTEGER, 'host');
  const t = await writeHostTensors({ ...base, g: new GraphBuilder('host'), shards: hostWriter });
  const ref = (x: HostTensorOut) => ({ key: blobKey(x.sha256), bytes: x.bytes, sha256: x.sha256, dtype: x.dtype, shape: x.shape });
  const host = { wte: ref(t.wte), ...(t.wte_scale ? { wte_scale: ref(t.wte_scale) } : {}), wpe: ref(t.wpe) };
  const stage: Stage = {
    layers: [0, L],
    segments,
    shards: shards.shards().map((r) => ({ key: blobKey(r.sha256), bytes: r.bytes, sha256: r.sha256, location: r.location })),
    inputs: ['input_ids', 'logits_index'],
    outputs: ['logits', 'last_hidden_state'],
  };
  log(
    `host-attention: ${segments.length} ${dense === 'kernels' ? 'kernel ' : ''}segments, ${stage.shards.length} shard(s), wte ${t.wte.dtype} ${(t.wte.bytes / 1e6).toFixed(1)} MB`,
  );
  return { stage, host };
}

function writeBlob(dir: string, bytes: Uint8Array): { key: string; bytes: number; sha256: string } {
  const sha = sha256Hex(bytes);
  writeFileSync(join(dir, sha), bytes);
  return { key: blobKey(sha), bytes: bytes.length, sha256: sha };
}

/** Moves blobs into <out>/blobs (keeping identical existing ones), then writes the manifest last. */
function publish(tmp: string, out: string, id: string, manifest: Manifest): string {
  const dest = join(out, 'blobs');
  mkdirSync(dest, { recursive: true });
  for (const name of readdirSync(join(tmp, 'blobs'))) {
    if (name.startsWith('.')) continue;
    const target = join(dest, name);
    // Content-addressed: same name means same bytes (a size check catches a torn earlier copy).
    if (existsSync(target) && statSync(target).size === statSync(join(tmp, 'blobs', name)).size) continue;
    renameSync(join(tmp, 'blobs', name), target);
  }
  const path = join(out, manifestKey(id));
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.partial`, JSON.stringify(manifest, null, 2) + '\n');
  renameSync(`${path}.partial`, path);
  return path;
}
