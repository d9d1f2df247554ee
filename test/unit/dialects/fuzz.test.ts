/**
 * Fuzz: ≥ 1,000 malformed or hostile requests across every POST route (and the GET stream), from a
 * seeded generator. Every case is invalid by construction (a broken byte, a wrong type, a value out
 * of range, a wrong content type, …; unknown fields are only ever added as noise). Every answer must
 * be a 4xx in the route's dialect shape — never a 5xx, never a stream, never an unhandled error.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { makeApp, testConfig } from './helpers.ts';

/**
 * The dialect a path is documented to speak (worker/dialects/README.md): /v1/* and /models/:id/v1/* are
 * OpenAI, /models/* and /pipeline/* HF, everything else TGI. The test's own oracle, independent of the app.
 */
function dialectOf(path: string): 'tgi' | 'hf' | 'openai' {
  if (/^\/(?:models\/[^/]+(?:\/[^/]+)?\/)?v1(?:\/|$)/.test(path)) return 'openai';
  if (path.startsWith('/models/') || path.startsWith('/pipeline/')) return 'hf';
  return 'tgi';
}

/** mulberry32: small, seeded, good enough to pick cases. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}
type R = ReturnType<typeof rng>;

type Kind = 'string' | 'int' | 'number' | 'bool' | 'stop';
interface Route {
  path: string;
  /** A valid body to mutate (as an object with known fields). */
  base: () => Record<string, unknown>;
  /** Field paths (dot separated) with their kind and JSON literals that break their bounds. */
  fields: Record<string, { kind: Kind; outOfRange: string[] }>;
  jsonOnly: boolean;
}

const P = 'parameters.';
const tgiFields: Route['fields'] = {
  inputs: { kind: 'string', outOfRange: ['""'] },
  [`${P}max_new_tokens`]: { kind: 'int', outOfRange: ['0', '-1', '33', '1e400', '1e308', '0.5', '18446744073709551616'] },
  [`${P}temperature`]: { kind: 'number', outOfRange: ['0', '-1', '1e400', '-1e400', '-0'] },
  [`${P}top_k`]: { kind: 'int', outOfRange: ['0', '-5', '2.5', '1e400'] },
  [`${P}top_p`]: { kind: 'number', outOfRange: ['0', '1.01', '-0.1', '1e400'] },
  [`${P}typical_p`]: { kind: 'number', outOfRange: ['0', '2', '-1e-9'] },
  [`${P}repetition_penalty`]: { kind: 'number', outOfRange: ['0', '-2', '1e400'] },
  [`${P}frequency_penalty`]: { kind: 'number', outOfRange: ['-2', '2.5', '1e400'] },
  [`${P}seed`]: { kind: 'int', outOfRange: ['-1', '0.5', '1e400', '1e30'] },
  [`${P}best_of`]: { kind: 'int', outOfRange: ['0', '9', '-1', '1.5'] },
  [`${P}top_n_tokens`]: { kind: 'int', outOfRange: ['6', '-1', '0.5'] },
  [`${P}truncate`]: { kind: 'int', outOfRange: ['0', '49', '-3'] },
  [`${P}details`]: { kind: 'bool', outOfRange: [] },
  [`${P}do_sample`]: { kind: 'bool', outOfRange: [] },
  [`${P}watermark`]: { kind: 'bool', outOfRange: ['true'] },
  [`${P}stop`]: { kind: 'stop', outOfRange: ['["a","b","c","d","e"]', '[""]', `["${'s'.repeat(300)}"]`] },
};
const hfFields: Route['fields'] = {
  inputs: { kind: 'string', outOfRange: ['""'] },
  [`${P}max_new_tokens`]: { kind: 'int', outOfRange: ['0', '-1', '33', '1e400', '0.5'] },
  [`${P}temperature`]: { kind: 'number', outOfRange: ['-1', '101', '1e400'] },
  [`${P}top_k`]: { kind: 'int', outOfRange: ['-1', '0.5', '1e400'] },
  [`${P}top_p`]: { kind: 'number', outOfRange: ['0', '1.5', '-1'] },
  [`${P}repetition_penalty`]: { kind: 'number', outOfRange: ['0', '-1', '1000'] },
  [`${P}num_return_sequences`]: { kind: 'int', outOfRange: ['0', '9', '-1', '2.5'] },
  [`${P}max_time`]: { kind: 'number', outOfRange: ['0', '-1', '1e400'] },
  [`${P}seed`]: { kind: 'int', outOfRange: ['0.5', '1e400', '1e30'] },
  [`${P}return_full_text`]: { kind: 'bool', outOfRange: [] },
  [`${P}details`]: { kind: 'bool', outOfRange: [] },
  [`${P}stop`]: { kind: 'stop', outOfRange: ['["a","b","c","d","e"]'] },
  'options.wait_for_model': { kind: 'bool', outOfRange: [] },
  'options.use_cache': { kind: 'bool', outOfRange: [] },
};
const oaFields: Route['fields'] = {
  prompt: { kind: 'string', outOfRange: ['[]', '[[]]', '[-1]', '[999999]', '[1.5]', '["a",1]', '[["a"]]'] },
  max_tokens: { kind: 'int', outOfRange: ['-1', '33', '1e400', '0.5', '1e20'] },
  temperature: { kind: 'number', outOfRange: ['-0.1', '2.01', '1e400'] },
  top_p: { kind: 'number', outOfRange: ['-1', '1.5'] },
  n: { kind: 'int', outOfRange: ['0', '9', '-1', '1.5'] },
  logprobs: { kind: 'int', outOfRange: ['-1', '6', '0.5'] },
  presence_penalty: { kind: 'number', outOfRange: ['-3', '2.5'] },
  frequency_penalty: { kind: 'number', outOfRange: ['-3', '2.5'] },
  seed: { kind: 'int', outOfRange: ['0.5', '1e30', '-1e30'] },
  echo: { kind: 'bool', outOfRange: [] },
  stream: { kind: 'bool', outOfRange: [] },
  best_of: { kind: 'int', outOfRange: ['0', '9'] },
  stop: { kind: 'stop', outOfRange: ['["a","b","c","d","e"]'] },
  logit_bias: { kind: 'stop', outOfRange: ['{"abc":1}', '{"1":101}', '{"1":-1e400}', '{"999999":1}', '[1]'] },
  suffix: { kind: 'string', outOfRange: ['"tail"'] },
};

const ROUTES: Route[] = [
  { path: '/generate', base: () => ({ inputs: 'Hello', parameters: { max_new_tokens: 2 } }), fields: tgiFields, jsonOnly: true },
  { path: '/generate_stream', base: () => ({ inputs: 'Hello', parameters: { max_new_tokens: 2 } }), fields: tgiFields, jsonOnly: true },
  { path: '/', base: () => ({ inputs: 'Hello', stream: false, parameters: { max_new_tokens: 2 } }), fields: tgiFields, jsonOnly: true },
  {
    path: '/models/edge-gpt2-brown',
    base: () => ({ inputs: 'Hello', parameters: { max_new_tokens: 2 }, options: {} }),
    fields: hfFields,
    jsonOnly: false,
  },
  { path: '/v1/completions', base: () => ({ model: 'edge-gpt2-brown', prompt: 'Hello', max_tokens: 2 }), fields: oaFields, jsonOnly: true },
  {
    path: '/models/edge-gpt2-brown/v1/completions',
    base: () => ({ prompt: 'Hello', max_tokens: 2, stream: true }),
    fields: oaFields,
    jsonOnly: true,
  },
  { path: '/tokenize', base: () => ({ inputs: 'Hello' }), fields: { inputs: { kind: 'string', outOfRange: ['""'] } }, jsonOnly: true },
];

const WRONG: Record<Kind, string[]> = {
  string: ['1', 'true', '{}', '{"a":1}', '-1e400', '[{}]', '[[[1]]]', '[true]'],
  int: ['"5"', 'true', '[]', '{}', '"NaN"', '"Infinity"', '[1]'],
  number: ['"0.5"', 'false', '[]', '{"v":1}', '"NaN"'],
  bool: ['"true"', '1', '0', '[]', '{}', '"yes"'],
  stop: ['"\\u0000"'.replace('"\\u0000"', '7'), 'true', '[1,2]', '[[]]', '{"a":"b"}'],
};
const NOISE = ['"zzz_unknown":1', '"__proto__":{"polluted":true}', '"constructor":{"prototype":{}}', '"extra":[[[[]]]]'];

const enc = new TextEncoder();

/** Puts `literal` (raw JSON text) at a dotted path of a valid body, as raw text (so 1e400 stays 1e400). */
function withField(base: Record<string, unknown>, path: string, literal: string, r: R): string {
  const marker = `"@@FUZZ${r.int(1e9)}@@"`;
  const parts = path.split('.');
  let o: Record<string, unknown> = base;
  for (const p of parts.slice(0, -1)) o = (o[p] ??= {}) as Record<string, unknown>;
  o[parts.at(-1)!] = JSON.parse(marker);
  let text = JSON.stringify(base).replace(marker, literal);
  if (r.next() < 0.3) text = text.replace(/^\{/, `{${r.pick(NOISE)},`);
  return text;
}

interface Case {
  route: Route;
  body: Uint8Array | string | null;
  contentType: string | null;
  label: string;
}

function makeCase(r: R): Case {
  const route = r.pick(ROUTES);
  const json = 'application/json';
  const fieldNames = Object.keys(route.fields);
  switch (r.int(10)) {
    case 0: {
      const valid = JSON.stringify(route.base());
      const cut = 1 + r.int(valid.length - 1); // any proper prefix of an object is invalid JSON
      return { route, body: valid.slice(0, cut) + r.pick(['', ',', ',}', ']', '\u0000', "'"]), contentType: json, label: 'truncated JSON' };
    }
    case 1: {
      const valid = enc.encode(JSON.stringify(route.base()));
      const at = 1 + r.int(valid.length - 1);
      const bad = r.pick([[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]]);
      return {
        route,
        body: new Uint8Array([...valid.slice(0, at), ...bad, ...valid.slice(at)]),
        contentType: json,
        label: 'invalid UTF-8',
      };
    }
    case 2: {
      const f = r.pick(fieldNames);
      return {
        route,
        body: withField(route.base(), f, r.pick(WRONG[route.fields[f]!.kind]), r),
        contentType: json,
        label: `wrong type ${f}`,
      };
    }
    case 3: {
      const candidates = fieldNames.filter((f) => route.fields[f]!.outOfRange.length > 0);
      const f = r.pick(candidates);
      return {
        route,
        body: withField(route.base(), f, r.pick(route.fields[f]!.outOfRange), r),
        contentType: json,
        label: `out of range ${f}`,
      };
    }
    case 4: {
      const depth = 1000 + r.int(20_000);
      const [open, close] = r.pick([
        ['[', ']'],
        ['{"a":', '}'],
      ] as const);
      const nested = open.repeat(depth) + '1' + close.repeat(depth);
      const f = r.pick(fieldNames);
      return {
        route,
        body: r.next() < 0.5 ? nested : withField(route.base(), f, nested, r),
        contentType: json,
        label: 'deep nesting',
      };
    }
    case 5:
      return {
        route,
        body: r.pick(['', ' ', '\n\t ', 'null', '[]', '0', 'true', '[1,2,3]', '{}']),
        contentType: json,
        label: 'empty / not an object',
      };
    case 6: {
      // Over the 64 KiB body cap (413), or under it but over the token budget (4xx naming the limit;
      // /tokenize has no token budget: counting a long prompt is what it is for).
      const big = r.next() < 0.5 || route.path === '/tokenize';
      const text = 'x'.repeat(big ? 70_000 + r.int(50_000) : 60 + r.int(5000));
      const base = route.base();
      if ('inputs' in base) base.inputs = text;
      else base.prompt = text;
      return { route, body: JSON.stringify(base), contentType: json, label: big ? 'over body cap' : 'over token budget' };
    }
    case 7: {
      const ct = r.pick([
        'text/xml',
        'multipart/form-data; boundary=x',
        'application/x-www-form-urlencoded',
        'image/png',
        'application/jsonx',
        'text/html',
      ]);
      // HF accepts any content type (its curl examples send form-urlencoded), so its body must be broken too.
      const body = route.jsonOnly ? JSON.stringify(route.base()) : `inputs=${'Hello'}&x=1`;
      return { route, body, contentType: ct, label: `content type ${ct}` };
    }
    case 8: {
      const bytes = new Uint8Array(1 + r.int(512));
      for (let i = 0; i < bytes.length; i++) bytes[i] = r.int(256);
      bytes[0] = r.pick([0x00, 0x7f, 0xfe, 0x3c]); // never a valid JSON start
      return { route, body: bytes, contentType: r.next() < 0.5 ? json : null, label: 'random bytes' };
    }
    default: {
      const lits = ['NaN', 'Infinity', '-Infinity', 'undefined', '0x10', '01', '+1', '.5', '1.', "'x'"];
      const f = r.pick(fieldNames);
      return { route, body: withField(route.base(), f, r.pick(lits), r), contentType: json, label: `non-JSON literal ${f}` };
    }
  }
}

function queryCase(r: R): string {
  const bad = [
    'max_new_tokens=abc',
    'max_new_tokens=1e400',
    'max_new_tokens=-3',
    'max_new_tokens=NaN',
    'temperature=Infinity',
    'temperature=0',
    'top_p=2',
    'details=maybe',
    'seed=-1',
    'top_k=0',
    'stop=a&stop=b&stop=c&stop=d&stop=e',
    'best_of=2&do_sample=true',
    'decoder_input_details=true',
    'watermark=true',
  ];
  const withInputs = r.next() < 0.8;
  return `/generate_stream?${withInputs ? `inputs=${encodeURIComponent('Hello')}&` : ''}${r.pick(bad)}&zzz=${r.int(100)}`;
}

describe('fuzz: hostile bodies', () => {
  let errors: unknown[][] = [];
  beforeEach(() => {
    errors = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void errors.push(args));
  });
  afterEach(() => vi.restoreAllMocks());

  it('1,200 seeded cases: all 4xx, JSON in the dialect’s shape, no internal errors', async () => {
    const { app } = makeApp({ config: testConfig() });
    const r = rng(20261125);
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    for (let i = 0; i < 1200; i++) {
      const isQuery = i % 12 === 11;
      const c = isQuery ? null : makeCase(r);
      const path = isQuery ? queryCase(r) : c!.route.path;
      const init: RequestInit = isQuery
        ? { method: 'GET' }
        : { method: 'POST', body: c!.body as BodyInit | null, headers: c!.contentType ? { 'content-type': c!.contentType } : {} };
      const res = await app.request(path, init);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const label = `#${i} ${isQuery ? path : `${path} ${c!.label}`}`;
      const type = res.headers.get('content-type') ?? '';
      if (res.status < 400 || res.status >= 500 || !type.startsWith('application/json')) {
        failures.push(`${label}: ${res.status} ${type} ${(await res.text()).slice(0, 200)}`);
        continue;
      }
      const body = (await res.json()) as Record<string, unknown>;
      const dialect = dialectOf(new URL(path, 'http://x').pathname);
      const ok =
        dialect === 'openai'
          ? typeof body.error === 'object' &&
            body.error !== null &&
            typeof (body.error as Record<string, unknown>).message === 'string' &&
            typeof (body.error as Record<string, unknown>).type === 'string' &&
            'param' in body.error &&
            'code' in body.error
          : typeof body.error === 'string' && typeof body.error_type === 'string';
      if (!ok) failures.push(`${label}: wrong shape ${JSON.stringify(body).slice(0, 200)}`);
    }
    expect(failures).toEqual([]);
    expect(errors).toEqual([]);
    // The generator really exercised the different failure classes.
    expect([...statuses.keys()].sort()).toEqual([400, 413, 415, 422]);
  });

  it('unknown fields alone are ignored (documented: every dialect ignores them)', async () => {
    const { app } = makeApp();
    const res = await app.request('/generate', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"inputs":"Hello","zzz":1,"parameters":{"max_new_tokens":1,"qqq":[1]}}',
    });
    expect(res.status).toBe(200);
  });
});
