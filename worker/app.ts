/**
 * The Hono app, built by a factory so tests inject a fake ModelProvider and generation, and the
 * Worker entry injects the real ones: the service core over the provider, then each dialect's
 * routes over the service. Order: CORS (answers preflights) → auth → routes; one onError renders
 * every thrown error in the dialect of its route (http/dialect.ts); unknown paths under a dialect's
 * prefix get that dialect's 404.
 */
import { Hono, type Context } from 'hono';
import type { ServerConfig } from './config.ts';
import { featureRoutes } from './dialects/features/routes.ts';
import { hfRoutes, type ModelPageRenderer } from './dialects/hf/routes.ts';
import { openAiRoutes } from './dialects/openai/routes.ts';
import { opsRoutes } from './dialects/ops/routes.ts';
import { tgiRoutes } from './dialects/tgi/routes.ts';
import { checkBudget, generate } from './generation/index.ts';
import { prefersHtml } from './http/accept.ts';
import { bearerAuth } from './http/auth.ts';
import { currentKeepAlive, keepAliveContext } from './http/background.ts';
import { drainUnreadBody } from './http/body.ts';
import { corsMiddleware } from './http/cors.ts';
import { finishDetailHeader } from './http/finish-detail.ts';
import { overloadGuard } from './http/overload.ts';
import { speaks } from './http/dialect.ts';
import { ApiError, errorResponse, toApiError } from './http/errors.ts';
import type { ModelProvider } from './model/types.ts';
import { currentAdmit } from './quota/meter.ts';
import { quotaMiddleware, type QuotaOptions } from './quota/middleware.ts';
import { createService, type CheckBudgetFn, type GenerateFn, type GenerateOptions } from './service/service.ts';

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
  const serviceDeps = {
    models: deps.models,
    config: deps.config,
    generate: deps.generate ?? generate,
    checkBudget: deps.checkBudget ?? checkBudget,
    admission: currentAdmit, // issue 16: the request's key quota (quota/meter.ts), charged as tokens are produced
    keepAlive: currentKeepAlive, // loads and generations outlive a client that goes away (http/background.ts)
  };
  const service = createService(deps.onStep ? { ...serviceDeps, onStep: deps.onStep } : serviceDeps);
  const app = new Hono();

  app.use('*', keepAliveContext());
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
  app.route('/', opsRoutes(service, deps.heapBytes));
  app.route('/', tgiRoutes(service));
  app.route('/', openAiRoutes(service));
  app.route('/', featureRoutes(service));
  app.route('/', hfRoutes(service, deps.pages?.model));

  // Paths no route answers still get their dialect's 404: OpenAI under /v1 (also where
  // @huggingface/inference puts it, /models/:id/v1), HF under /models and /pipeline, TGI elsewhere.
  app.use('/v1/*', speaks('openai'));
  app.use('/models/:model/v1/*', speaks('openai'));
  app.use('/models/:org/:name/v1/*', speaks('openai'));
  app.use('/models/*', speaks('hf'));
  app.use('/pipeline/*', speaks('hf'));

  app.notFound((c) => errorResponse(c, new ApiError('not_found', `no route for ${c.req.method} ${c.req.path.slice(0, 200)}`)));
  app.onError((e, c) => {
    const err = toApiError(e);
    if (err.type === 'internal') console.error(`${c.req.method} ${c.req.path} failed`, e);
    return errorResponse(c, err);
  });
  return app;
}
