/** Options of {@link Backend.loadModel}. */
export interface LoadModelOptions {
  /**
   * Layers to offload to the GPU: a count, or `"max"` for all of them. Ignored by CPU-only backends.
   * Defaults to `"max"` when the backend runs on a GPU, 0 otherwise.
   */
  readonly gpuLayers?: number | "max";
  /** Memory-map the file instead of reading it (path sources only). Defaults to `true`. */
  readonly mmap?: boolean;
  /** Called with the load progress in [0, 1], at most about every 1 %. */
  readonly onProgress?: (fraction: number) => void;
  /** Aborts the load; the promise then rejects with an `AbortError`-named {@link BackendError}. */
  readonly signal?: AbortSignal;
}
