/**
 * Seeded hostile requests across every route: methods, paths, query strings, headers (content types,
 * auth variants, odd encodings), and bodies (malformed JSON, wrong types, out-of-range numbers, token
 * ids past the vocabulary, deep nesting, invalid UTF-8, NULs, huge strings). Generation requests that
 * are valid stay small (a few new tokens) so the count stays bounded in time. Sizes up to 16 MiB come
 * from `bigBody`, sent separately (they are slow to push).
 */
import { Prng } from '../lib/prng.ts';

export interface HostileRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Uint8Array | string;
  /** Why it was generated (for the failure report). */
  label: string;
}

const enc = new TextEncoder();

export class Gen {
  private r: Prng;
  constructor(seed: number) {
    this.r = new Prng(seed);
  }
  int(n: number): number {
    return this.r.nextU32() % n;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.r.nextU32() / 2 ** 32 < p;
  }
}

const ROUTES = [
  'POST /generate',
  'POST /generate_stream',
  'GET /generate_stream',
  'POST /',
  'POST /models/{id}',
  'GET /models/{id}',
  'POST /models/{id}/v1/completions',
  'POST /v1/completions',
  'GET /v1/models',
  'POST /tokenize',
  'GET /health',
  'GET /info',
  'POST /v1/embeddings',
  'POST /pipeline/feature-extraction/{id}',
  'GET /',
  'POST /nope',
  'GET /models/missing-model',
];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'];
const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/x-www-form-urlencoded',
  'application/vnd.api+json',
  'multipart/form-data; boundary=x',
  'application/json; charset=latin1',
  '',
  'application/json;;;',
  'APPLICATION/JSON',
];
const WEIRD_STRINGS = [
  '',
  ' ',
  'Hello',
  '\u0000',
  '\ud800',
  '🙂'.repeat(50),
  '<|endoftext|>'.repeat(20),
  'a'.repeat(5000),
  '\u202e\u0301',
  '%00%ff',
  '{"inputs":',
  'null',
  '\\u0000',
  'x'.repeat(70_000),
];
const WEIRD_NUMBERS = [0, -1, 1, 2, 1e308, -1e308, 1.5, 2 ** 53, 2 ** 64, -0, 1e-300, 256, 257, 10_000, 0.0000001];

function weirdValue(g: Gen, depth = 0): unknown {
  switch (g.int(depth > 3 ? 5 : 8)) {
    case 0:
      return g.pick(WEIRD_STRINGS);
    case 1:
      return g.pick(WEIRD_NUMBERS);
    case 2:
      return g.pick([true, false, null]);
    case 3:
      return Array.from({ length: g.int(5) }, () => g.int(60_000) - 100);
    case 4:
      return Array.from({ length: g.int(4) }, () => g.pick(WEIRD_STRINGS));
    case 5:
      return { [g.pick(['inputs', 'prompt', 'parameters', '__proto__', 'constructor'])]: weirdValue(g, depth + 1) };
    case 6:
      return Array.from({ length: g.int(3) }, () => weirdValue(g, depth + 1));
    default:
      return g.pick(WEIRD_STRINGS).slice(0, 40);
  }
}

function smallParams(g: Gen): Record<string, unknown> {
  const p: Record<string, unknown> = { max_new_tokens: g.int(4) };
  if (g.chance(0.5))
    p[
      g.pick([
        'temperature',
        'top_k',
        'top_p',
        'typical_p',
        'repetition_penalty',
        'seed',
        'truncate',
        'best_of',
        'top_n_tokens',
        'max_time',
        'num_return_sequences',
      ])
    ] = g.chance(0.7) ? g.pick(WEIRD_NUMBERS) : weirdValue(g);
  if (g.chance(0.2)) p.stop = weirdValue(g);
  if (g.chance(0.2)) p.details = g.chance(0.5);
  if (g.chance(0.1)) p.do_sample = weirdValue(g);
  return p;
}

function jsonBody(g: Gen, route: string): unknown {
  const kind = g.int(10);
  if (kind === 0) return weirdValue(g);
  if (route.includes('completions')) {
    const b: Record<string, unknown> = {
      prompt: g.chance(0.7) ? g.pick(WEIRD_STRINGS).slice(0, 300) : weirdValue(g),
      max_tokens: g.int(4),
    };
    if (g.chance(0.5))
      b[
        g.pick([
          'n',
          'best_of',
          'logprobs',
          'temperature',
          'top_p',
          'seed',
          'presence_penalty',
          'echo',
          'stream',
          'logit_bias',
          'stop',
          'model',
          'suffix',
          'stream_options',
        ])
      ] = weirdValue(g);
    if (g.chance(0.1)) b.stream = true;
    return b;
  }
  if (route.includes('embeddings') || route.includes('feature-extraction')) {
    return g.chance(0.5) ? { input: weirdValue(g) } : { inputs: g.pick(WEIRD_STRINGS).slice(0, 200) };
  }
  if (route.includes('tokenize')) return { inputs: g.chance(0.8) ? g.pick(WEIRD_STRINGS) : weirdValue(g) };
  const b: Record<string, unknown> = {
    inputs: g.chance(0.7) ? g.pick(WEIRD_STRINGS).slice(0, 300) : weirdValue(g),
    parameters: g.chance(0.8) ? smallParams(g) : weirdValue(g),
  };
  if (g.chance(0.1)) b.stream = g.chance(0.5);
  if (g.chance(0.1)) b.options = weirdValue(g);
  return b;
}

function rawBody(g: Gen, route: string): Uint8Array | string {
  switch (g.int(9)) {
    case 0:
      return new Uint8Array([0x7b, 0x22, 0x69, 0x6e, 0x70, 0x75, 0x74, 0x73, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]); // invalid UTF-8
    case 1:
      return '{"inputs": "x",'; // truncated
    case 2:
      return '['.repeat(5000) + ']'.repeat(5000); // deep nesting
    case 3:
      return '\ufeff' + JSON.stringify(jsonBody(g, route)); // BOM
    case 4:
      return new Uint8Array(g.int(2000)).map(() => g.int(256)); // binary noise
    case 5:
      return JSON.stringify(jsonBody(g, route)).replace(/"/g, "'");
    case 6:
      return '"' + 'Once upon a time '.repeat(g.int(4000)) + '"'; // bare string up to ~70 KB
    case 7:
      return new Uint8Array([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]); // UTF-16 LE
    default:
      return JSON.stringify(jsonBody(g, route));
  }
}

function query(g: Gen): string {
  const parts: string[] = [];
  for (let i = g.int(4); i > 0; i--) {
    const k = g.pick(['inputs', 'max_new_tokens', 'stop', 'api_key', 'seed', 'temperature', '%zz', 'a[b]', '']);
    const v = g.pick(['Hello', '1', '-5', '1e9', '%ff%fe', '%00', 'x'.repeat(3000), '', '🙂', 'true']);
    parts.push(`${k}=${g.chance(0.8) ? encodeURIComponent(v) : v}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

/** Auth variants: the right key most of the time, else missing / wrong / near-miss / malformed. */
function authHeader(g: Gen, key: string | null): Record<string, string> {
  if (!key) return g.chance(0.05) ? { authorization: 'Bearer whatever' } : {};
  const v = g.int(20);
  if (v < 14) return { authorization: `Bearer ${key}` };
  const variants: Record<string, string>[] = [
    {},
    { authorization: 'Bearer ' },
    { authorization: `Bearer ${key.slice(0, -1)}` },
    { authorization: `Bearer ${key}x` },
    { authorization: `Basic ${btoa(`${key}:`)}` },
    { authorization: `bearer  ${key.toUpperCase()}` },
  ];
  return variants[v - 14]!;
}

export function hostileRequest(g: Gen, modelId: string, key: string | null): HostileRequest {
  const [routeMethod, routePath] = g.pick(ROUTES).split(' ') as [string, string];
  const method = g.chance(0.9) ? routeMethod : g.pick(METHODS);
  let path = routePath.replace(
    '{id}',
    g.chance(0.9) ? modelId : g.pick(['gpt2', '..%2f..', 'a'.repeat(300), '%00', 'openai-community/gpt2']),
  );
  if (g.chance(0.3) || routePath === '/generate_stream') path += query(g);
  const headers: Record<string, string> = { ...authHeader(g, key) };
  let body: Uint8Array | string | undefined;
  if (method !== 'GET' && method !== 'HEAD') {
    const ct = g.pick(CONTENT_TYPES);
    if (ct && g.chance(0.9)) headers['content-type'] = ct;
    if (g.chance(0.9)) body = g.chance(0.6) ? JSON.stringify(jsonBody(g, routePath)) : rawBody(g, routePath);
  }
  if (g.chance(0.1)) headers.accept = g.pick(['text/html', 'text/event-stream', '*/*', 'application/json;q=0', '']);
  if (g.chance(0.05)) headers['last-event-id'] = '3';
  if (g.chance(0.05)) headers['x-junk'] = 'v'.repeat(g.int(8000));
  if (g.chance(0.05)) headers.origin = g.pick(['https://evil.example', 'null']);
  return { method, path, headers, ...(body !== undefined ? { body } : {}), label: `${method} ${path.slice(0, 80)}` };
}

/** A body of `bytes` (up to 16 MiB): JSON-looking, so only its size is wrong. */
export function bigBody(bytes: number): Uint8Array {
  const out = new Uint8Array(bytes).fill(0x61);
  out.set(enc.encode('{"inputs":"'), 0);
  out.set(enc.encode('"}'), bytes - 2);
  return out;
}
