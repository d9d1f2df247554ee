/**
 * worker/model inside workerd. The cases live in *.cases.ts; they run from this one file because
 * every workerd test file re-ships ORT's 14 MB wasm to workerd (15–30 s each on a busy machine).
 */
import { kernelCases } from './kernels.cases.ts';
import { modelForwardCases } from './model-forward.cases.ts';
import { modelLoadingCases } from './model-loading.cases.ts';
import { quotaCases } from './quota.cases.ts';

kernelCases();
modelLoadingCases();
quotaCases();
modelForwardCases();
