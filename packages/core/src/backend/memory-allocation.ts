/** Bytes llama.cpp allocated on one buffer type (`CPU`, `CUDA0`, `CPU_Mapped`, …). */
export interface BufferAllocation {
  /** ggml buffer type name. */
  readonly bufferType: string;
  /** Model weights. */
  readonly modelBytes: number;
  /** The context's memory: attention KV cache + recurrent state. */
  readonly contextBytes: number;
  /** Compute buffers. */
  readonly computeBytes: number;
}

/** What a context really allocated, from llama.cpp's memory breakdown (exact bytes). */
export interface MemoryAllocation {
  /** Per buffer type. */
  readonly buffers: readonly BufferAllocation[];
  /** Sum of `contextBytes`: attention KV + recurrent state, as allocated. */
  readonly contextBytes: number;
  /** Sum of `modelBytes`. */
  readonly modelBytes: number;
  /** Sum of `computeBytes`. */
  readonly computeBytes: number;
}

/**
 * What llama.cpp would allocate for a context, measured without allocating it (llama.cpp's `no_alloc`): the same
 * breakdown as {@link MemoryAllocation}, for a context of `nCtx` cells.
 */
export interface MeasuredAllocation extends MemoryAllocation {
  /** `n_ctx` llama.cpp would use (padded). */
  readonly nCtx: number;
  /** Cells per KV stream (`n_ctx_seq`). */
  readonly cellsPerStream: number;
}
