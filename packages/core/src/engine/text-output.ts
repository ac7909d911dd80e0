/**
 * Turns a request's generated token bytes into text deltas, holding back just enough to recognise stop strings
 * that straddle tokens (and the bytes of an unfinished UTF-8 character).
 *
 * Each token costs in proportion to its own text and the held-back tail, not to everything generated so far: the
 * emitted text is only appended to (a rope, flattened once when {@link value} is read), and stop strings are looked
 * for in the tail plus the new text (a stop cannot start further back: the tail holds the last `longest stop − 1`
 * characters).
 */
export class TextOutput {
  private readonly decoder = new TextDecoder();
  private emittedText = "";
  private tail = ""; // decoded, not yet emitted: at most holdBack characters between pushes
  private stopped = false;
  private readonly holdBack: number;

  constructor(private readonly stops: readonly string[]) {
    // (A loop: spreading a JavaScript caller's 300,000 stops into Math.max throws a RangeError.)
    let longest = 0;
    for (const stop of stops) longest = Math.max(longest, stop.length);
    this.holdBack = Math.max(0, longest - 1);
  }

  /** All text so far (up to a stop string once one matched). */
  get value(): string {
    return this.emittedText + this.tail;
  }

  /**
   * Adds a token's bytes. Returns the text now safe to emit and whether a stop string matched (then the text is cut
   * before it and nothing more will be added).
   */
  push(bytes: Uint8Array): { delta: string; stopped: boolean } {
    if (this.stopped) return { delta: "", stopped: true };
    return this.append(this.decoder.decode(bytes, { stream: true }), false);
  }

  /**
   * The rest, at the end of generation (nothing after a stop string). The decoder's last characters (U+FFFD for an
   * unfinished UTF-8 sequence) are looked through for stop strings too.
   */
  flush(): string {
    if (this.stopped) return "";
    return this.append(this.decoder.decode(), true).delta;
  }

  /** Newly decoded text: cut at the earliest stop string, else emitted up to what a stop may still start in. */
  private append(decoded: string, final: boolean): { delta: string; stopped: boolean } {
    const before = this.tail.length;
    const window = this.tail + decoded;
    // The earliest match of any stop (not the first stop in the list that matches: a later-listed one may start
    // sooner in a token of several characters, and the text returned must hold none of them).
    let at = -1;
    for (const stop of this.stops) {
      if (stop.length === 0) continue;
      const found = window.indexOf(stop, Math.max(0, before - stop.length + 1));
      if (found !== -1 && (at === -1 || found < at)) at = found;
    }
    if (at !== -1) {
      this.stopped = true;
      this.tail = "";
      return { delta: this.emit(window.slice(0, at)), stopped: true };
    }
    let cut = final ? window.length : Math.max(0, window.length - this.holdBack);
    // Never between the two halves of a surrogate pair (a delta is a well-formed string).
    if (cut > 0 && cut < window.length && isHighSurrogate(window.charCodeAt(cut - 1))) cut--;
    this.tail = window.slice(cut);
    return { delta: this.emit(window.slice(0, cut)), stopped: false };
  }

  private emit(delta: string): string {
    this.emittedText += delta;
    return delta;
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
