// wrangler (CompiledWasm rule) and vitest-pool-workers turn a `.wasm` import into a compiled module.
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
