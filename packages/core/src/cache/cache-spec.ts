/**
 * Frozen descriptions of what a model keeps per token and per sequence, derived from GGUF metadata with
 * llama.cpp's rules (see `gguf/architectures.ts`). Plain data: the planner turns them into bytes, the cache
 * layer into pools and slots.
 */

/** One layer that keeps attention K (and usually V) for every token in the context. */
export interface AttentionLayerSpec {
  /** Layer index in the model (0-based, over all blocks incl. MTP blocks). */
  readonly layer: number;
  /** KV heads of this layer (`n_head_kv(il)`). */
  readonly headCountKv: number;
  /** Elements of K per token in this layer (`n_embd_k_gqa(il)` = key head dim × KV heads). */
  readonly keyWidth: number;
  /** Elements of V per token in this layer (`n_embd_v_gqa(il)`); 0 when the layer stores no V (MLA). */
  readonly valueWidth: number;
  /**
   * Sliding-window attention (`hparams.is_swa(il)`): the layer attends to the last {@link AttentionCacheSpec.slidingWindow}
   * positions only, and llama.cpp keeps it in the SWA half of an iSWA cache (sized by the window, not the context).
   */
  readonly sliding: boolean;
}

/** The attention half of a model's cache. */
export interface AttentionCacheSpec {
  /** Layers with a KV cache, in layer order. Empty for a pure recurrent model. */
  readonly layers: readonly AttentionLayerSpec[];
  /** False for MLA models (Kimi Linear): K holds the compressed latent and no V is cached. */
  readonly storesValues: boolean;
  /** Key head dimension (`n_embd_head_k`): quantized K types need it to be a multiple of their block. */
  readonly keyHeadDim: number;
  /** Value head dimension (`n_embd_head_v`). */
  readonly valueHeadDim: number;
  /**
   * `n_embd_v_gqa_max()` over all layers. Without flash attention V is stored transposed and llama.cpp pads
   * every layer's V rows to this width.
   */
  readonly valueWidthMax: number;
  /** Sliding window in tokens (`attention.sliding_window`, llama.cpp `n_swa`); 0 when no layer slides. */
  readonly slidingWindow: number;
}

/** Recurrent state kinds, by the formula llama.cpp uses for their sizes. */
export type RecurrentFamily = "mamba" | "mamba2" | "gated-delta-net" | "short-conv" | "kimi-delta-attention";

/** The recurrent half of a model's cache: a fixed-size state per sequence, whatever the context length. */
export interface RecurrentCacheSpec {
  /** Layers with recurrent state, in layer order. */
  readonly layers: readonly number[];
  /** Which formula sized the state. */
  readonly family: RecurrentFamily;
  /** f32 elements of rolling convolution state per sequence per layer (`n_embd_r`). */
  readonly convElements: number;
  /** f32 elements of SSM / delta-net state per sequence per layer (`n_embd_s`); 0 for short-conv. */
  readonly stateElements: number;
}

/** Everything the planner and the cache layer need to know about a model's memory. */
export interface CacheSpec {
  /** `general.architecture` (`nemotron_h_moe`, `qwen3next`, `llama`, …). */
  readonly architecture: string;
  /** `hybrid`: attention + recurrent layers; `recurrent`: no attention; `transformer`: attention only. */
  readonly kind: "hybrid" | "recurrent" | "transformer";
  /** Blocks in the model, including trailing MTP / NextN blocks (`n_layer_all`). */
  readonly layerCount: number;
  /** Trailing MTP / NextN blocks (`nextn_predict_layers`); they do not run in the main context. */
  readonly nextnLayerCount: number;
  /** Context length the model was trained for (`context_length`). */
  readonly contextLength: number;
  /** Hidden size (`embedding_length`). */
  readonly embeddingLength: number;
  /** Attention heads of layer 0 (`n_head()`); 0 for a model without attention. */
  readonly headCount: number;
  /** Vocabulary size, from the tokenizer's token list; undefined when the file has none. */
  readonly vocabSize: number | undefined;
  /** Widest feed-forward of any layer (`n_ff`), for the compute-buffer estimate. */
  readonly feedForwardMax: number;
  /** Attention KV cache. */
  readonly attention: AttentionCacheSpec;
  /** Recurrent state, or null for a plain transformer. */
  readonly recurrent: RecurrentCacheSpec | null;
}
