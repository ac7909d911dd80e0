/**
 * Log-probabilities in OpenAI's two shapes: chat's `logprobs.content[]` (token, logprob, bytes, top_logprobs) and
 * the legacy completions object (tokens, token_logprobs, top_logprobs, text_offset). Values come from the engine's
 * `token` parts (log_softmax of the model's raw logits, before sampling settings).
 */

/** One generated token with its log-probability and the most likely alternatives. */
export interface TokenLogprob {
  readonly token: number;
  readonly logprob: number;
  readonly top: readonly { readonly token: number; readonly logprob: number }[];
}

/** A token's text and bytes (a token may hold part of a UTF-8 character: its text then shows U+FFFD). */
export type Spell = (token: number) => Uint8Array;

const decoder = new TextDecoder();

/** Chat's `logprobs.content` entries. */
export function chatLogprobs(entries: readonly TokenLogprob[], spell: Spell) {
  const describe = (token: number, logprob: number) => {
    const bytes = spell(token);
    return { token: decoder.decode(bytes), logprob, bytes: Array.from(bytes) };
  };
  return entries.map((entry) => ({ ...describe(entry.token, entry.logprob), top_logprobs: entry.top.map((top) => describe(top.token, top.logprob)) }));
}

/**
 * The legacy completions `logprobs` object for `entries`, whose first token starts at character `offset` of the
 * choice's text. `top_logprobs` is null when the request asked for no alternatives (`logprobs: 0`).
 */
export function completionLogprobs(entries: readonly TokenLogprob[], spell: Spell, offset: number, alternatives: number) {
  const text = (token: number) => decoder.decode(spell(token));
  const tokens = entries.map((entry) => text(entry.token));
  const textOffset: number[] = [];
  for (const token of tokens) {
    textOffset.push(offset);
    offset += token.length;
  }
  return {
    tokens,
    token_logprobs: entries.map((entry) => entry.logprob),
    top_logprobs: alternatives === 0 ? null : entries.map((entry) => Object.fromEntries(entry.top.map((top) => [text(top.token), top.logprob]))),
    text_offset: textOffset,
  };
}
