/**
 * The bundled model in workerd: worker/model on its own (bundled-model.cases.ts), then the whole
 * Worker through SELF (worker-http.cases.ts), then batched answers against solo ones (batch-invariance.cases.ts). One file because every workerd test file re-ships ORT's
 * 14 MB wasm; the Worker's per-isolate provider is untouched by the first block (it builds its own).
 */
import { batchInvarianceCases } from './batch-invariance.cases.ts';
import { bundledModelCases } from './bundled-model.cases.ts';
import { workerHttpCases } from './worker-http.cases.ts';

bundledModelCases();
workerHttpCases();
batchInvarianceCases();
