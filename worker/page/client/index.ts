export { CLIENT_JS } from './playground.ts';
export { SSE_PARSER_JS } from './sse.ts';
