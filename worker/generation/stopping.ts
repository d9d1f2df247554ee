/**
 * Stop sequences, matched on the decoded text so that a stop string split across tokens is found.
 * The client must never see part of a stop string: text that could be the start of one is held back
 * until the next token decides it. On a match the text is cut before the stop string and the
 * sequence ends (TGI and OpenAI behaviour: the stop sequence is not part of the output).
 * EOS, max_new_tokens, the context length and the CPU budget are decided in sequence.ts/generate.ts.
 */
export class StopSequences {
  private text = '';
  private emitted = 0;
  private readonly stops: readonly string[];
  private readonly longest: number;

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0); // '' would match everywhere: ignore it
    this.longest = this.stops.reduce((m, s) => Math.max(m, s.length), 0);
  }

  /** Everything generated so far, cut before the stop string once one matched. */
  get fullText(): string {
    return this.text;
  }

  /**
   * Appends newly decoded text. Returns what may be sent now and whether a stop string matched
   * (then the sequence is over and `emit` is the last text of it).
   */
  push(delta: string): { emit: string; stopped: boolean } {
    const before = this.text.length;
    this.text += delta;
    if (this.longest === 0) return { emit: this.take(this.text.length), stopped: false };

    // Earlier text held no complete stop string, so a match must end inside `delta`.
    let match = -1;
    for (const stop of this.stops) {
      const at = this.text.indexOf(stop, Math.max(0, before - stop.length + 1));
      if (at >= 0 && (match < 0 || at < match)) match = at;
    }
    if (match >= 0) {
      this.text = this.text.slice(0, match);
      return { emit: this.take(match), stopped: true };
    }
    let end = this.text.length - this.heldBack();
    // Never end a delta between the two halves of a surrogate pair.
    if (end > this.emitted && isHighSurrogate(this.text.charCodeAt(end - 1))) end--;
    return { emit: this.take(end), stopped: false };
  }

  /** The sequence ended for another reason: release the held-back text. */
  flush(): string {
    return this.take(this.text.length);
  }

  /** Length of the longest suffix of the unsent text that is a proper prefix of a stop string. */
  private heldBack(): number {
    const unsent = this.text.length - this.emitted;
    let held = 0;
    for (const stop of this.stops) {
      for (let k = Math.min(stop.length - 1, unsent); k > held; k--) {
        if (this.endsWithPrefix(stop, k)) {
          held = k;
          break;
        }
      }
    }
    return held;
  }

  private endsWithPrefix(stop: string, k: number): boolean {
    const offset = this.text.length - k;
    for (let i = 0; i < k; i++) if (this.text.charCodeAt(offset + i) !== stop.charCodeAt(i)) return false;
    return true;
  }

  private take(end: number): string {
    if (end <= this.emitted) return '';
    const out = this.text.slice(this.emitted, end);
    this.emitted = end;
    return out;
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
