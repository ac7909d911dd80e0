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
}
