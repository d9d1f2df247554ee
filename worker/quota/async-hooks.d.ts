// workerd provides node:async_hooks' AsyncLocalStorage under nodejs_compat; the Worker's types
// (@cloudflare/workers-types) do not declare it, so the part we use is declared here.
declare module 'node:async_hooks' {
  export class AsyncLocalStorage<T> {
    run<R>(store: T, fn: () => R): R;
    getStore(): T | undefined;
  }
}
