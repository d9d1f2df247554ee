export { modelPages } from './routes.ts';
export { renderPage, type PageView } from './render.ts';
export { prefersHtml } from '../http/accept.ts';
export { pageConfigFrom } from './types.ts';
