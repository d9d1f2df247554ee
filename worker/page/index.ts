export { createModelPage, pageRoutes } from './routes.ts';
export { renderPage, type PageView } from './render.ts';
export { prefersHtml } from './accept.ts';
export type { PageConfig, PageDeps } from './types.ts';
