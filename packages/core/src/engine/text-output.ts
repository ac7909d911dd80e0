/**
 * Turns a request's generated token bytes into text deltas, holding back just enough to recognise stop strings
 * that straddle tokens (and the bytes of an unfinished UTF-8 character).
 */
export class TextOutput {
  private readonly decoder = new TextDecoder();
  private text = "";
  private emitted = 0;
  private readonly holdBack: number;

  constructor(private readonly stops: readonly string[]) {
    this.holdBack = Math.max(0, ...stops.map((stop) => stop.length - 1));
  }

  /** All text so far (up to a stop string once one matched). */
  get value(): string {
    return this.text;
  }

  /**
   * Adds a token's bytes. Returns the text now safe to emit and whether a stop string matched (then the text is cut
   * before it and nothing more will be added).
   */
  push(bytes: Uint8Array): { delta: string; stopped: boolean } {
    const before = this.text.length;
    this.text += this.decoder.decode(bytes, { stream: true });
    for (const stop of this.stops) {
      if (stop.length === 0) continue;
      const at = this.text.indexOf(stop, Math.max(0, before - stop.length + 1));
      if (at !== -1) {
        this.text = this.text.slice(0, at);
        return { delta: this.take(this.text.length), stopped: true };
      }
    }
    return { delta: this.take(this.text.length - this.holdBack), stopped: false };
  }

  /** The rest, at the end of generation. */
  flush(): string {
    this.text += this.decoder.decode();
    return this.take(this.text.length);
  }

  private take(until: number): string {
    if (until <= this.emitted) return "";
    const delta = this.text.slice(this.emitted, until);
    this.emitted = until;
    return delta;
  }
}
