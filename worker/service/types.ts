/**
 * The types the service's callers use, re-exported so that worker/http and the dialects import
 * service/ alone (never model/ or generation internals directly).
 */
export type { LoadProgress } from '../model/types.ts';
export type { FinishReason, GenerationEvent, GenerationParams, TokenLogprob } from '../generation/types.ts';
export type { Model } from './facts.ts';
export type { Prepared, Service } from './service.ts';
export type { HiddenStates } from './embed.ts';
export type { Truncation } from './limits.ts';
export type { CollectedGeneration, PromptEvent, SequenceResult, TokenEvent } from './collect.ts';
export type { ServerConfig } from '../config.ts';
