import type { ServerConfig } from '../config.ts';
import type { Manifest } from '../model/manifest.ts';
import type { ModelProvider } from '../model/types.ts';

/** What the page shows of the server's configuration (the lead maps ServerConfig onto this). */
export interface PageConfig {
  maxNewTokens: number;
  maxInputTokens: number;
  /** Before capping by the model's n_positions (the page caps it when the manifest is known). */
  maxTotalTokens: number;
  cpuBudgetMs?: number;
  /** API keys configured: the playground shows an API key field and the examples send a bearer token. */
  authEnabled: boolean;
}

export interface PageDeps {
  models: ModelProvider;
  config: PageConfig;
  /**
   * Reads only a model's manifest (in the Worker: `models/<id>/manifest.json` from R2, parsed with
   * parseManifest), so the page renders without loading weights. Optional: without it the page shows the
   * model's facts only once the model is loaded.
   */
  manifest?: (id: string) => Promise<Manifest>;
  /** How long a fetched manifest is reused (ms; default 60 s): a newly published version shows up after it. */
  manifestTtlMs?: number;
}

/** The page's view of the server's validated config (worker/config.ts). */
export function pageConfigFrom(config: ServerConfig): PageConfig {
  return { ...config.limits, cpuBudgetMs: config.cpuBudgetMs, authEnabled: config.apiKeys.length > 0 };
}
