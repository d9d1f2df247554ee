/**
 * The Hono app, built by a factory so tests inject a fake ModelProvider and generation, and the
 * Worker entry injects the real ones. Order: CORS (answers preflights) → auth → routes; one onError
 * renders every thrown error in the dialect of its route; unknown paths get a dialect-shaped 404.
 */
import { Hono, type Context } from 'hono';
import type { ServerConfig } from './config.ts';
import { checkBudget, generate } from './generation/index.ts';
import { bearerAuth } from './http/auth.ts';
import { drainUnreadBody } from './http/body.ts';
import { finishDetailHeader } from './http/finish-detail.ts';
import { overloadGuard } from './http/overload.ts';
import { corsMiddleware } from './http/cors.ts';
import { ApiError, dialectOf, errorBody, statusOf, toApiError } from './http/errors.ts';
import type { ModelProvider } from './model/types.ts';
import { quotaMiddleware, type QuotaOptions } from './quota/middleware.ts';
import { prefersHtml } from './page/accept.ts';
import { createEngine, type CheckBudgetFn, type GenerateFn, type GenerateOptions } from './routes/engine.ts';
import { featureRoutes } from './routes/features.ts';
import { hfRoutes, type ModelPageRenderer } from './routes/hf.ts';
import { openAiRoutes } from './routes/openai.ts';
import { opsRoutes } from './routes/ops.ts';
import { tgiRoutes } from './routes/tgi.ts';

export interface AppDeps {
  models: ModelProvider;
  config: ServerConfig;
  /** Defaults to worker/generation's generate / checkBudget. */
  generate?: GenerateFn;
  checkBudget?: CheckBudgetFn;
  onStep?: GenerateOptions['onStep'];
  /** The isolate's WASM heap in bytes, reported by /health (compare with the 128 MB isolate limit). */
  heapBytes?: () => number;
  /** Requests that may generate at once in this isolate before 503 + Retry-After (default 64). */
  maxInFlight?: number;
  /** Per-key token quotas (issue 16); absent = unmetered. */
  quota?: QuotaOptions;
  /** HTML pages (another module): GET / and GET /models/:id with Accept: text/html. */
  pages?: { root?: (c: Context) => Response | Promise<Response>; model?: ModelPageRenderer };
}

export function createApp(deps: AppDeps): Hono {
  const engineDeps = { models: deps.models, config: deps.config, generate: deps.generate ?? generate, checkBudget: deps.checkBudget ?? checkBudget };
  const engine = createEngine(deps.onStep ? { ...engineDeps, onStep: deps.onStep } : engineDeps);
  const app = new Hono();

  app.use('*', drainUnreadBody()); // reliability (issue 16): a body nobody read is drained before the answer goes out
  app.use('*', corsMiddleware(deps.config.corsOrigins));
  app.use('*', finishDetailHeader()); // issue 16: X-Finish-Detail says which limit ended each sequence
  app.use(
    '*',
    bearerAuth({
      keys: deps.config.apiKeys,
      isPublic: (method, path, accept) =>
        (method === 'GET' || method === 'HEAD') &&
        (path === '/health' || path === '/' || (path.startsWith('/models/') && !path.includes('/v1/') && prefersHtml(accept))),
      allowsQueryKey: (method, path) => method === 'GET' && path === '/generate_stream',
    }),
  );

  app.use('*', overloadGuard(deps.maxInFlight)); // issue 16: 503 + Retry-After past maxInFlight in this isolate
  app.use('*', quotaMiddleware(deps.quota)); // issue 16: per-key token quotas, after auth

  const root = deps.pages?.root;
  if (root) app.get('/', (c) => root(c));
  app.route('/', opsRoutes(engine, deps.heapBytes));
  app.route('/', tgiRoutes(engine));
  app.route('/', openAiRoutes(engine));
  app.route('/', featureRoutes(engine));
  app.route('/', hfRoutes(engine, deps.pages?.model));

  app.notFound((c) => renderError(c, new ApiError('not_found', `no route for ${c.req.method} ${c.req.path.slice(0, 200)}`)));
  app.onError((e, c) => {
    const err = toApiError(e);
    if (err.type === 'internal') console.error(`${c.req.method} ${c.req.path} failed`, e);
    return renderError(c, err);
  });
  return app;
}

function renderError(c: Context, err: ApiError): Response {
  const dialect = dialectOf(c.req.path);
  for (const [k, v] of Object.entries(err.opts.headers ?? {})) c.header(k, v);
  return c.json(errorBody(err, dialect), statusOf(err.type, dialect));
}
