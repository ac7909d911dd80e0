/**
 * One batch for {@link BackendContext.decode}: row i is token `tokens[i]` at position `positions[i]` of sequence
 * `sequenceIds[i]`; `outputs[i]` = 1 asks for that row's logits. Within a sequence, positions must be consecutive
 * and continue from the sequence's last position. All four arrays have the same length, at most the context's
 * `batch`.
 */
export interface DecodeBatch {
  readonly tokens: Int32Array;
  readonly positions: Int32Array;
  readonly sequenceIds: Int32Array;
  readonly outputs: Uint8Array;
}

/** Options of one decode call. */
export interface DecodeOptions {
  /** Also return the full logits of every output row (rows × vocabSize floats). Defaults to `false`. */
  readonly returnLogits?: boolean;
  /**
   * A sampler handle ({@link BackendContext.createSampler}) per output row, in batch order; -1 = greedy (argmax).
   * The sampled tokens come back in {@link DecodeResult.tokens}; the logits stay in the backend. Defaults to none.
   */
  readonly samplers?: Int32Array;
  /**
   * Log-probabilities per output row: -1 = none, n ≥ 0 = the chosen token's and the n most likely tokens' (0-20),
   * computed in the backend as log_softmax of the raw logits. Defaults to none.
   */
  readonly logprobs?: Int32Array;
}

/** What a decode produced, one entry per row that asked for output, in batch order. */
export interface DecodeResult {
  /** Batch indices of the output rows. */
  readonly rows: Int32Array;
  /** Greedy token of each output row. */
  readonly argmax: Int32Array;
  /** Top-1 minus top-2 logit of each output row: how robust the greedy choice is. */
  readonly margins: Float32Array;
  /** Logits, row-major (`rows.length × vocabSize`), when `returnLogits` was set. */
  readonly logits?: Float32Array;
  /** With `samplers`: the token chosen for each output row (argmax for -1 rows); -1 when the row's sampler allowed no token. */
  readonly tokens?: Int32Array;
  /** With `logprobs`: the chosen token's log-probability per output row (NaN for rows that asked none). */
  readonly logprobs?: Float32Array;
  /**
   * With `logprobs`: the most likely tokens of each output row, most likely first, `rows × stride` where stride is
   * the largest n asked; padded with -1.
   */
  readonly topTokens?: Int32Array;
  /** Their log-probabilities, laid out like `topTokens`; padded with NaN. */
  readonly topLogprobs?: Float32Array;
}
