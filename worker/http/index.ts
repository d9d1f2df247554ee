export { ApiError, dialectOf, errorBody, statusOf, toApiError, type Dialect, type ErrorType } from './errors.ts';
export { bearerAuth, digestsEqual, type AuthOptions } from './auth.ts';
export { corsMiddleware } from './cors.ts';
export { discard, drainUnreadBody, readJson } from './body.ts';
export { parseWith } from './validate.ts';
export { progressComments, sseResponse, type SSEChannel } from './sse.ts';
