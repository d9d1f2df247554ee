/**
 * The conditions a benchmark ran under. On a 2-core machine, another job's compile or test run halves
 * what we measure (numbers taken beside other jobs were off by 2× and once led to a wrong "floor"
 * conclusion), so every run records the load average before and after, and the CPU that processes
 * outside the benchmark's own process tree used while it ran. A run that was not quiet says so loudly
 * and is marked in the results, so its numbers never pass for quiet-machine figures.
 *
 * Linux only (/proc); elsewhere the share is unknown and the run is judged on the load average alone.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';

/** What counts as quiet: other processes used at most this many cores' worth of CPU on average… */
export const QUIET_OTHERS_CORES = 0.1;
/** …and the 1-min load average before the run was at most this (the benchmark itself adds ~1). */
export const QUIET_LOAD_BEFORE = 0.5;

export interface Conditions {
  /** 1-min load average when the measurement started and when it ended. */
  load1: [number, number];
  /** Cores' worth of CPU used by processes outside this benchmark's process tree, averaged over the run; null off Linux. */
  othersCores: number | null;
  seconds: number;
  quiet: boolean;
  /** Why the run is not quiet (empty when quiet). */
  notQuiet: string[];
}

interface Snapshot {
  at: number;
  load1: number;
  /** Jiffies all CPUs spent busy (user + nice + system + irq + softirq + steal). */
  busy: number | null;
}

function readProc(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

function busyJiffies(): number | null {
  const line = readProc('/proc/stat')?.split('\n', 1)[0];
  if (!line?.startsWith('cpu ')) return null;
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return user! + nice! + system! + irq! + softirq! + (steal ?? 0);
}

/** [pid, ppid, utime + stime] of a /proc/<pid>/stat line (the name may hold spaces). */
function procStat(pid: string): [number, number, number] | null {
  const s = readProc(`/proc/${pid}/stat`);
  if (!s) return null;
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // After the name: state(0) ppid(1) … utime(11) stime(12)
  return [Number(pid), Number(f[1]), Number(f[11]) + Number(f[12])];
}

/** utime + stime of `root` and of every live descendant, by pid. */
function treeJiffies(root: number): Map<number, number> | null {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  const stats = pids.map(procStat).filter((s) => s !== null);
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of stats) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  const byPid = new Map(stats.map((s) => [s[0], s]));
  const out = new Map<number, number>();
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    const st = byPid.get(pid);
    if (st) out.set(pid, st[2]);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/**
 * The CPU our process tree used since it was created, sampled every second: each process's last reading
 * minus its first (0 for one born meanwhile). Sampling is needed because a server the benchmark stops is
 * often killed with its children unreaped (wrangler → workerd), so their time never reaches our cutime
 * and would otherwise be counted as "other processes". A process that ends loses at most its last second.
 */
function treeMeter(): { ours(): number | null; stop(): void } {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  let ok = true;
  const sample = (initial: boolean) => {
    const t = treeJiffies(process.pid);
    if (!t) return void (ok = false);
    for (const [pid, j] of t) {
      if (!first.has(pid)) first.set(pid, initial ? j : 0);
      last.set(pid, j);
    }
  };
  sample(true);
  const timer = setInterval(() => sample(false), 1000);
  timer.unref();
  return {
    ours() {
      sample(false);
      if (!ok) return null;
      let total = 0;
      for (const [pid, j] of last) total += j - first.get(pid)!;
      return total;
    },
    stop: () => clearInterval(timer),
  };
}

function snapshot(): Snapshot {
  return { at: performance.now(), load1: loadavg()[0]!, busy: busyJiffies() };
}

/** The reasons a run with this load before it and this much CPU taken by others is not quiet (none: quiet). */
export function whyNotQuiet(load1Before: number, othersCores: number | null, cores = cpus().length): string[] {
  const reasons: string[] = [];
  if (load1Before > QUIET_LOAD_BEFORE) reasons.push(`1-min load ${load1Before.toFixed(2)} before the run (quiet: ≤ ${QUIET_LOAD_BEFORE})`);
  if (othersCores !== null && othersCores > QUIET_OTHERS_CORES) {
    reasons.push(`other processes used ${othersCores.toFixed(2)} of ${cores} cores during the run (quiet: ≤ ${QUIET_OTHERS_CORES})`);
  }
  return reasons;
}

/**
 * Waits (up to `maxMs`) for the 1-min load to fall to QUIET_LOAD_BEFORE. A benchmark's own start (npm, tsx
 * compiling TypeScript on both cores for a few seconds) lifts the load average by 0.3 or so on an idle
 * 2-core machine, which would mark every run "not quiet"; what other jobs add does not decay in 90 s.
 */
export async function settle(log: (line: string) => void, maxMs = 90_000): Promise<void> {
  const t0 = performance.now();
  if (loadavg()[0]! <= QUIET_LOAD_BEFORE) return;
  log(`[bench] waiting for the 1-min load (${loadavg()[0]!.toFixed(2)}) to settle to ≤ ${QUIET_LOAD_BEFORE} …`);
  while (loadavg()[0]! > QUIET_LOAD_BEFORE && performance.now() - t0 < maxMs) await new Promise((r) => setTimeout(r, 2000));
  log(`[bench] 1-min load ${loadavg()[0]!.toFixed(2)} after ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

/** Start watching; `end()` says how quiet the machine was in between. */
export function watchConditions(): { end(): Conditions } {
  const start = snapshot();
  const meter = treeMeter();
  return {
    end() {
      const stop = snapshot();
      const ours = meter.ours();
      meter.stop();
      const seconds = (stop.at - start.at) / 1000;
      const hz = 100; // USER_HZ: /proc reports jiffies of 1/100 s on Linux
      const othersCores =
        start.busy === null || stop.busy === null || ours === null || seconds <= 0
          ? null
          : Math.max(0, stop.busy - start.busy - ours) / hz / seconds;
      const notQuiet = whyNotQuiet(start.load1, othersCores);
      return { load1: [start.load1, stop.load1], othersCores, seconds, quiet: notQuiet.length === 0, notQuiet };
    },
  };
}

/** A banner nobody can miss in a scrolling log. */
export function loudWarning(what: string, c: Conditions): string {
  const bar = '!'.repeat(100);
  return [bar, `!! NOT A QUIET MACHINE (${what}): these numbers are not results.`, ...c.notQuiet.map((r) => `!!   ${r}`), bar].join('\n');
}
