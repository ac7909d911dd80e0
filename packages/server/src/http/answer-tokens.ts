/**
 * The exact tokens of recent answers, by their text. A chat client sends an answer back as text in the next turn;
 * re-tokenizing it may not give the tokens it was generated as (tokenizers are not always canonical on a model's
 * own output), and one differing token ends the cached prefix there. Splicing the original tokens back in keeps
 * the next turn a token-for-token continuation of the cached sequence.
 *
 * Bounded: the oldest entries go first once `maxTokens` tokens are held.
 */
export class AnswerTokens {
  private readonly entries = new Map<string, Int32Array>();
  private held = 0;

  constructor(private readonly maxTokens = 1 << 20) {}

  /** Remembers an answer (only when its tokens really spell its text). */
  remember(text: string, tokens: Int32Array, spell: (tokens: Int32Array) => string): void {
    if (text.length === 0 || tokens.length === 0 || tokens.length > this.maxTokens || spell(tokens) !== text) return;
    this.forget(text);
    this.entries.set(text, tokens);
    this.held += tokens.length;
    for (const [oldest] of this.entries) {
      if (this.held <= this.maxTokens) break;
      this.forget(oldest);
    }
  }

  /** The tokens `text` was generated as, if it is a remembered answer. */
  lookup(text: string): Int32Array | undefined {
    const tokens = this.entries.get(text);
    if (tokens !== undefined) {
      // Refresh: a conversation in progress keeps its answers.
      this.entries.delete(text);
      this.entries.set(text, tokens);
    }
    return tokens;
  }

  private forget(text: string): void {
    const tokens = this.entries.get(text);
    if (tokens === undefined) return;
    this.entries.delete(text);
    this.held -= tokens.length;
  }
}
