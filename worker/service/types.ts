/**
 * The types the service's callers use, re-exported so that worker/http and the dialects import
 * service/ alone (never model/ or generation internals directly).
 */
export type { LoadProgress, ModelState } from '../model/types.ts';
export type { FinishReason, GenerationEvent, GenerationParams, TokenLogprob } from '../generation/types.ts';
export type { Model, ModelFacts } from './facts.ts';
export type { Prepared, Service } from './service.ts';
export type { HiddenStates } from './embed.ts';
export type { Truncation } from './limits.ts';
export type { CollectedGeneration, DoneEvent, PromptEvent, SequenceResult, TokenEvent } from './collect.ts';
export type { ServerConfig, TokenLimitsConfig } from '../config.ts';
