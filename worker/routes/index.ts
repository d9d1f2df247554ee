export { createEngine, type Engine, type EngineDeps, type GenerateFn, type CheckBudgetFn } from './engine.ts';
export { featureRoutes } from './features.ts';
export { hfRoutes, type ModelPageRenderer } from './hf.ts';
export { openAiRoutes } from './openai.ts';
export { opsRoutes, SERVER_VERSION } from './ops.ts';
export { tgiRoutes } from './tgi.ts';
