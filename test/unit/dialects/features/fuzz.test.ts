/**
 * Hostile bodies on the feature routes, exhaustively: each field of a valid body in turn replaced by
 * every wrong-typed or out-of-range value below, plus the body cut at every third byte and non-JSON
 * bytes. Every answer must be a 4xx in the route's dialect shape — never a 5xx — and the model never runs.
 */
import { describe, expect, it } from 'vitest';
import { featureProvider } from './fake.ts';
import { makeApp } from '../helpers.ts';

const WRONG: unknown[] = [
  null,
  true,
  0,
  -1,
  1.5,
  1e308,
  '',
  'x',
  [],
  [''],
  [[]],
  [-1],
  [1.5],
  [null],
  {},
  { a: 1 },
  Array(40).fill('a'),
  [[1], ['a']],
];

const ROUTES = [
  {
    path: '/pipeline/feature-extraction/edge-gpt2-brown',
    fields: [
      'inputs',
      'parameters',
      'parameters.truncate',
      'parameters.truncation_direction',
      'options.wait_for_model',
      'normalize',
      'truncate',
      'prompt_name',
    ],
    base: () => ({ inputs: ['a', 'b'], parameters: { truncate: true }, options: {} }),
    openai: false,
  },
  {
    path: '/v1/embeddings',
    fields: ['input', 'model', 'encoding_format', 'dimensions', 'normalize'],
    base: () => ({ input: ['a', 'b'], model: 'edge-gpt2-brown' }),
    openai: true,
  },
];

/** Values that are valid for a field: the fuzz must not count them as failures to reject. */
const VALID: Record<string, (v: unknown) => boolean> = {
  parameters: (v) => v === null || (typeof v === 'object' && !Array.isArray(v)),
  'parameters.truncate': (v) => v === null || typeof v === 'boolean',
  'parameters.truncation_direction': (v) => v === null,
  'options.wait_for_model': (v) => v === null || typeof v === 'boolean',
  normalize: (v) => v === null || typeof v === 'boolean',
  truncate: (v) => v === null || typeof v === 'boolean',
  prompt_name: (v) => v === null,
  model: (v) => v === null || v === '',
  dimensions: (v) => v === null,
  encoding_format: (v) => v === null,
  input: (v) =>
    (typeof v === 'string' && v !== '') ||
    (Array.isArray(v) &&
      v.length > 0 &&
      v.length <= 16 &&
      (v.every((x) => typeof x === 'string' && x !== '') ||
        v.every((x) => Number.isInteger(x) && (x as number) >= 0 && (x as number) < 268))),
  inputs: (v) =>
    (typeof v === 'string' && v !== '') ||
    (Array.isArray(v) && v.length > 0 && v.length <= 16 && v.every((x) => typeof x === 'string' && x !== '')),
};

function set(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
  o[keys.at(-1)!] = value;
}

describe('feature routes: hostile bodies', () => {
  it('every wrong field value or broken body is a 4xx in the dialect shape, and nothing runs', async () => {
    const provider = featureProvider();
    const { app } = makeApp({ provider });
    let cases = 0;
    for (const r of ROUTES) {
      const bodies: string[] = [];
      for (const f of r.fields) {
        for (const v of WRONG) {
          if (VALID[f]?.(v)) continue;
          const b = r.base();
          set(b, f, v);
          bodies.push(JSON.stringify(b));
        }
      }
      const good = JSON.stringify(r.base());
      for (let cut = 1; cut < good.length; cut += 3) bodies.push(good.slice(0, cut)); // truncated JSON
      bodies.push('\xff\xfe', '[]', 'null', '42', '');
      for (const body of bodies) {
        const res = await app.request(r.path, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        const json = (await res.json()) as { error: unknown; error_type?: string };
        expect(res.status, `${r.path} ${body}`).toBeGreaterThanOrEqual(400);
        expect(res.status, `${r.path} ${body}`).toBeLessThan(500);
        if (r.openai) expect(json.error, body).toMatchObject({ type: 'invalid_request_error' });
        else expect(json.error_type, body).toBe(res.status === 404 ? 'not_found' : 'validation');
        cases++;
      }
    }
    expect(cases).toBeGreaterThan(150);
    expect(provider.hlm.calls).toHaveLength(0);
  });
});
