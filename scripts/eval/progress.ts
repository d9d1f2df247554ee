/**
 * A progress bar on stderr. On a TTY it redraws one line; otherwise (CI logs, pipes) it prints a line
 * at most every 10 s so logs stay readable. Results go to stdout, never here.
 */
export interface Progress {
  /** `done` of `total` units finished; `detail` is appended (e.g. tokens scored). */
  update(done: number, detail?: string): void;
  finish(detail?: string): void;
}

export interface ProgressSink {
  write(s: string): unknown;
  isTTY?: boolean;
}

export function createProgress(
  label: string,
  total: number,
  sink: ProgressSink | null,
  now: () => number = () => performance.now(),
): Progress {
  if (sink === null) return { update() {}, finish() {} };
  const t0 = now();
  let lastPrint = -Infinity;
  const line = (done: number, detail: string): string => {
    const frac = total > 0 ? done / total : 1;
    const width = 24;
    const fill = Math.round(frac * width);
    const elapsed = (now() - t0) / 1000;
    const eta = done > 0 && done < total ? ` eta ${fmtSec((elapsed / done) * (total - done))}` : '';
    return `${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${done}/${total} ${(frac * 100).toFixed(0)}% ${fmtSec(elapsed)}${eta}${detail ? ` ${detail}` : ''}`;
  };
  return {
    update(done, detail = '') {
      if (sink.isTTY) {
        sink.write(`\r\x1b[2K${line(done, detail)}`);
      } else if (now() - lastPrint >= 10_000) {
        lastPrint = now();
        sink.write(`${line(done, detail)}\n`);
      }
    },
    finish(detail = '') {
      sink.write(`${sink.isTTY ? '\r\x1b[2K' : ''}${line(total, detail)}\n`);
    },
  };
}

function fmtSec(s: number): string {
  return s < 60
    ? `${s.toFixed(1)}s`
    : `${Math.floor(s / 60)}m${Math.round(s % 60)
        .toString()
        .padStart(2, '0')}s`;
}
