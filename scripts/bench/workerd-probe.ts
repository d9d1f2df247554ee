/** The Probe over the bench Worker in workerd: every action is one HTTP request to scripts/bench/worker.ts. */
import type { DevServer } from './dev-server.ts';
import type { LoadInfo, MemInfo, Probe } from './suite.ts';

interface Prefill {
  handle: number;
  next: number;
}

/** `[model] x: loaded in N ms (fetch+verify A ms, sessions B ms)` → {fetchMs, sessionMs}. */
export function parseLoadLog(lines: readonly string[]): LoadInfo {
  for (const l of lines) {
    const m = l.match(/fetch\+verify (\d+) ms, sessions (\d+) ms/);
    if (m) return { fetchMs: Number(m[1]), sessionMs: Number(m[2]) };
  }
  return {};
}

export function workerdProbe(dev: DevServer, id: string): Probe {
  let kvJsBytes = 0;
  return {
    async load() {
      const r = await dev.call<{ log: string[] }>('/bench/load', { id });
      return parseLoadLog(r.log);
    },
    async first(ids) {
      const p = await dev.call<Prefill>('/bench/prefill', { id, ids });
      await dev.call('/bench/release', {});
      return p.next;
    },
    async decode(ids, steps, runs) {
      const base = await dev.call<Prefill>('/bench/prefill', { id, ids });
      const out: number[][] = [];
      for (let r = 0; r < runs; r++) {
        const fork = await dev.call<{ handle: number }>('/bench/fork', { handle: base.handle });
        const d = await dev.call<{ stepMs: number[]; kvJsBytes: number }>('/bench/decode', {
          handle: fork.handle,
          steps,
          token: base.next,
        });
        kvJsBytes = Math.max(kvJsBytes, d.kvJsBytes);
        out.push(d.stepMs);
      }
      await dev.call('/bench/release', {});
      return out;
    },
    async generate(ids, newTokens) {
      await dev.call('/bench/generate', { id, ids, new: newTokens });
    },
    async memory(): Promise<MemInfo> {
      const m = await dev.call<{ heap: number }>('/bench/mem');
      return { heap: m.heap, kvJsBytes, rssPeak: dev.rss().hwm };
    },
  };
}
