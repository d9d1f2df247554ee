export { encodeSSE, jsonMessage, type SSEMessage } from './sse.ts';
export { collect, cumulativeLogprob, type CollectedGeneration, type SequenceResult } from './collect.ts';
export { createTgiStreamEncoder, tgiGenerateResponse, tgiToken } from './tgi.ts';
