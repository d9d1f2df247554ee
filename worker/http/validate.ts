/**
 * zod → one client-facing message that names the field and the bound, e.g.
 * "parameters.temperature must be > 0", "n must be an integer", "stop must have at most 4 items".
 */
import type { z } from 'zod';
import { ApiError } from './errors.ts';

export function parseWith<S extends z.ZodType>(schema: S, value: unknown, root = ''): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = fieldPath(root, issue?.path ?? []);
  throw new ApiError('validation', issue ? describe(issue, path) : 'invalid request', {
    param: path || null,
    code: issue ? codeOf(issue, valueAt(value, issue.path)) : null,
  });
}

/** OpenAI's codes for values out of range (`integer_above_max_value`, …); null for other issues. */
function codeOf(issue: Issue, input: unknown): string | null {
  if (issue.code !== 'too_big' && issue.code !== 'too_small') return null;
  const side = issue.code === 'too_big' ? 'above_max' : 'below_min';
  if (issue.origin === 'array') return `array_${side}_length`;
  if (issue.origin === 'string') return `string_${side}_length`;
  return `${Number.isInteger(input) ? 'integer' : 'decimal'}_${side}_value`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const p of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[p] : undefined;
  return v;
}

function fieldPath(root: string, path: readonly PropertyKey[]): string {
  const parts = root ? [root] : [];
  for (const p of path) parts.push(typeof p === 'number' ? `[${p}]` : String(p));
  return parts.join('.').replace(/\.\[/g, '[');
}

type Issue = z.core.$ZodIssue;

const TYPE_NAMES: Record<string, string> = {
  int: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'a boolean',
  object: 'an object',
  array: 'an array',
  record: 'an object',
};

function describe(issue: Issue, path: string): string {
  const field = path || 'request body';
  switch (issue.code) {
    case 'invalid_type': {
      const received = (issue as { received?: unknown }).received;
      if (issue.expected === 'number' && (received === 'Infinity' || received === 'NaN')) {
        return `${field} must be a finite number`;
      }
      return `${field} must be ${TYPE_NAMES[issue.expected] ?? issue.expected}`;
    }
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const op = issue.code === 'too_small' ? (issue.inclusive ? '>=' : '>') : issue.inclusive ? '<=' : '<';
      if (issue.origin === 'array')
        return `${field} must have ${issue.code === 'too_small' ? 'at least' : 'at most'} ${String(bound)} items`;
      if (issue.origin === 'string')
        return `${field} must have ${issue.code === 'too_small' ? 'at least' : 'at most'} ${String(bound)} characters`;
      if (issue.origin === 'int' && Math.abs(Number(bound)) === Number.MAX_SAFE_INTEGER) {
        return `${field} must be a safe integer (|x| <= 2^53 - 1)`;
      }
      return `${field} must be ${op} ${String(bound)}`;
    }
    case 'invalid_value':
      return `${field} must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union':
      return `${field} has the wrong type`;
    case 'custom':
      // Custom refinements carry a full sentence that may name a sub-field already.
      return issue.message.startsWith('$') ? issue.message.replace('$', field) : `${field}: ${issue.message}`;
    default:
      return `${field} is invalid`;
  }
}
