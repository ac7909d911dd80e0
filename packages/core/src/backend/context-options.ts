import type { KvCacheType } from "../plan/kv-cache-type.js";

/** Options of {@link BackendModel.createContext}: llama.cpp's context parameters that matter for serving. */
export interface ContextOptions {
  /** Context size in tokens for all slots together (llama.cpp `n_ctx`, padded up to 256). */
  readonly ctx: number;
  /** Parallel sequences (llama.cpp `n_seq_max`), 1–256. Defaults to 1. */
  readonly slots?: number;
  /** One KV pool shared by all slots (llama.cpp `kv_unified`). Defaults to `true`. */
  readonly unified?: boolean;
  /** Most tokens in one {@link BackendContext.decode} call (llama.cpp `n_batch`). Defaults to 512. */
  readonly batch?: number;
  /** Tokens per compute step (llama.cpp `n_ubatch`), ≤ batch. Defaults to min(batch, 512). */
  readonly ubatch?: number;
  /** KV element type for K and V. Defaults to `f16`. */
  readonly kvType?: KvCacheType;
  /** K type; overrides `kvType`. */
  readonly kvTypeK?: KvCacheType;
  /** V type; overrides `kvType`. Quantized V needs flash attention. */
  readonly kvTypeV?: KvCacheType;
  /** Flash attention: on, off, or llama.cpp's choice. Defaults to `"auto"`. */
  readonly flashAttention?: boolean | "auto";
  /** CPU threads for decoding. Defaults to llama.cpp's choice (all physical cores). */
  readonly threads?: number;
  /** Recurrent rollback snapshots per sequence (llama.cpp `n_rs_seq`, experimental). Defaults to 0. */
  readonly recurrentSnapshots?: number;
  /**
   * Sliding-window models only (an LFM2 with `attention.sliding_window`): give the sliding layers a full-size cache
   * (llama.cpp `swa_full`, its default) instead of one holding just the window plus a micro-batch. Defaults to `true`.
   * The window-sized cache saves memory; its cells past the window are reused, so a sequence can only be cut back
   * (`seqRemove` of a suffix) within the window, and resuming further back needs a partial-state checkpoint, which
   * carries the window's cells.
   */
  readonly swaFull?: boolean;
}

/** The options a context was actually created with (after llama.cpp's padding). */
export interface ContextInfo {
  /** `n_ctx` as allocated. */
  readonly nCtx: number;
  /** Cells per KV stream (`n_ctx_seq`): all of `nCtx` when unified. */
  readonly cellsPerStream: number;
  /** Parallel sequences. */
  readonly slots: number;
  /** Whether the KV cache is one shared pool. */
  readonly unified: boolean;
  /** Largest batch accepted by decode. */
  readonly batch: number;
  /** Micro-batch size. */
  readonly ubatch: number;
  /** K cache type. */
  readonly kvTypeK: KvCacheType;
  /** V cache type. */
  readonly kvTypeV: KvCacheType;
  /** Sliding-window layers have a full-size cache (see {@link ContextOptions.swaFull}); true for other models. */
  readonly swaFull: boolean;
}
