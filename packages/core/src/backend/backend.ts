import type { BackendModel } from "./backend-model.js";
import type { ContextOptions } from "./context-options.js";
import type { MeasuredAllocation } from "./memory-allocation.js";
import type { LoadModelOptions } from "./load-model-options.js";
import type { ModelSource } from "./model-source.js";

/** The device a backend computes on. */
export interface BackendDevice {
  /** `cpu`, `cuda`, `vulkan`, `metal` or `wasm`. */
  readonly kind: "cpu" | "cuda" | "vulkan" | "metal" | "wasm";
  /** Human description (`NVIDIA H100 80GB HBM3`, `Intel(R) Xeon(R) …`). */
  readonly name: string;
}

/**
 * The one interface every backend implements (native Node addon, Wasm): the engine and the cache layer above it
 * cannot tell them apart. Objects are created by async factories and freed by idempotent `dispose()`; a disposed
 * object throws {@link DisposedError}.
 */
export interface Backend {
  /** Version of this interface. */
  readonly specificationVersion: "v1";
  /** Backend name (`node`, `wasm`). */
  readonly name: string;
  /** Where computation runs. */
  readonly device: BackendDevice;
  /** Loads a model. Malformed or unsupported files are refused before llama.cpp sees them. */
  loadModel(source: ModelSource, options?: LoadModelOptions): Promise<BackendModel>;
  /**
   * Optional: what llama.cpp would allocate (model, context memory, compute buffers) for a context over the model
   * file at `path`, one per entry of `options`, measured with llama.cpp's `no_alloc` — nothing is allocated and no
   * tensor data is read, so a weightless GGUF (real shapes, sparse data) measures at real dimensions. The model is
   * loaded once for all of them. Backends without it leave it out.
   */
  measureAllocations?(path: string, options: readonly ContextOptions[]): Promise<MeasuredAllocation[]>;
  /** Frees every model (and context) still open. Idempotent. */
  dispose(): Promise<void>;
}
