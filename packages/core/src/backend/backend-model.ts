import type { BackendContext } from "./backend-context.js";
import type { ContextOptions } from "./context-options.js";
import type { ModelInfo } from "./model-info.js";

/** Options of tokenization. */
export interface TokenizeOptions {
  /** Add BOS (and EOS) as the model's tokenizer does. Defaults to `true`. */
  readonly addSpecial?: boolean;
  /** Recognise special tokens written as text (`<|im_start|>`). Defaults to `false`. */
  readonly parseSpecial?: boolean;
}

/** Options of detokenization. */
export interface DetokenizeOptions {
  /** Drop BOS / EOS the tokenizer adds. Defaults to `false`. */
  readonly removeSpecial?: boolean;
  /** Render special tokens as their text. Defaults to `false`. */
  readonly unparseSpecial?: boolean;
}

/** A loaded model: tokenizer, facts, and the factory of contexts. */
export interface BackendModel {
  /** Facts about the model. */
  readonly info: ModelInfo;
  /** Text → tokens. */
  tokenize(text: string, options?: TokenizeOptions): Int32Array;
  /** Tokens → text. */
  detokenize(tokens: Int32Array, options?: DetokenizeOptions): string;
  /** The raw bytes of one token's text (may be part of a UTF-8 sequence). */
  tokenBytes(token: number, options?: { readonly special?: boolean }): Uint8Array;
  /**
   * Parses a GBNF grammar (start rule `root`) against this model's vocabulary, as the grammar sampler would: null
   * when it parses, else llama.cpp's reason.
   */
  grammarError(grammar: string): string | null;
  /** Creates a context (allocates the KV cache and recurrent state). */
  createContext(options: ContextOptions): Promise<BackendContext>;
  /** Frees the model and every context still open on it. Idempotent. */
  dispose(): Promise<void>;
}
