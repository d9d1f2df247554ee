/**
 * Bounds for features of the bundled model against the torch reference (test/fixtures/reference/),
 * shared by the Node test (features-model.test.ts) and the workerd one (test/workerd/features.test.ts).
 *
 * int8 (weights quantized to int8, activations quantized per call) vs torch fp32, measured on the
 * bundled model (2 layers × 64, 2026-11-25 16:16 build; hidden values are ~1 in magnitude): max |Δ|
 * 2.3e-3 per hidden value, 1.6e-3 for the mean-pooled vector. The bound leaves ~4× margin; the
 * tests log the measured error on every run.
 */
export const FP32_FEATURE_TOL = 1e-4;
export const INT8_FEATURE_TOL = 1e-2;
