import type { Backend } from "../backend/backend.js";
import type { ContextOptions } from "../backend/context-options.js";
import type { LoadModelOptions } from "../backend/load-model-options.js";
import type { BufferAllocation } from "../backend/memory-allocation.js";
import { contextOptionsOf } from "./measure-plan.js";
import type { MemoryPlan } from "./memory-plan.js";

/** What llama.cpp really allocated for a planned context. All bytes exact. */
export interface VerifiedAllocation {
  /** KV cache + recurrent state as allocated (llama.cpp's memory breakdown, context part). */
  readonly contextBytes: number;
  /** Attention KV cache. */
  readonly attentionKvBytes: number;
  /** Recurrent state. */
  readonly recurrentStateBytes: number;
  /** Compute buffers llama.cpp allocated (its worst-case graphs reserved). */
  readonly computeBytes: number;
  /** Cells llama.cpp allocated (`n_ctx`). */
  readonly kvCells: number;
  /** How the split between KV and recurrent state was measured. */
  readonly method: string;
  /** Per buffer type (one per device: `CPU`, `CUDA0`, `RPC0[host:port]`, …), as allocated for the planned context. */
  readonly buffers: readonly BufferAllocation[];
}

/**
 * Creates the planned context on a real backend and reads back what llama.cpp allocated. llama.cpp's memory
 * breakdown gives the exact bytes of the context's memory (KV + recurrent state together); a second context 256
 * cells per stream larger gives the exact bytes per cell, which splits the two (recurrent state does not depend
 * on the context size).
 */
export async function verifyPlan(
  backend: Backend,
  modelPath: string,
  plan: MemoryPlan,
  onProgress?: (message: string) => void,
  /** Where the layers go (default: none offloaded, `gpuLayers: 0`). */
  load: Pick<LoadModelOptions, "gpuLayers"> = { gpuLayers: 0 },
): Promise<VerifiedAllocation> {
  onProgress?.("loading the model");
  const model = await backend.loadModel({ path: modelPath }, load);
  try {
    const o = plan.options;
    // The same context options as measurePlan (the planned micro-batch sizes the compute buffers and a window-sized
    // SWA cache), so the compute buffers compare too.
    const options: ContextOptions = contextOptionsOf(plan);
    const measure = async (ctx: number, swaFull = o.swaFull) => {
      onProgress?.(`allocating a context of ${ctx} tokens`);
      const context = await model.createContext({ ...options, ctx, swaFull });
      try {
        const allocation = context.allocation();
        if (allocation === null) throw new Error("this llama.cpp build does not report its memory breakdown");
        return { bytes: allocation.contextBytes, computeBytes: allocation.computeBytes, cells: context.info.nCtx, buffers: allocation.buffers };
      } finally {
        await context.dispose();
      }
    };
    const requested = await measure(o.ctx);
    // A window-sized SWA cache does not grow with the context: split on two full-size ones (the recurrent state is
    // the same either way), then the requested context's KV is what is left beside that state.
    const windowed = plan.slidingLayerCount > 0 && plan.swaCellsPerStream !== plan.cellsPerStream;
    const base = windowed ? await measure(o.ctx, true) : requested;
    const larger = await measure(base.cells + 256 * plan.kvStreams, windowed ? true : o.swaFull);
    const bytesPerCell = (larger.bytes - base.bytes) / (larger.cells - base.cells);
    const recurrentStateBytes = base.bytes - bytesPerCell * base.cells;
    return {
      contextBytes: requested.bytes,
      attentionKvBytes: requested.bytes - recurrentStateBytes,
      recurrentStateBytes,
      computeBytes: requested.computeBytes,
      kvCells: requested.cells,
      buffers: requested.buffers,
      method: windowed
        ? "llama_get_memory_breakdown; KV/recurrent split by two full-size-SWA contexts, the second 256 cells per stream larger"
        : "llama_get_memory_breakdown; KV/recurrent split by a second context 256 cells per stream larger",
    };
  } finally {
    await model.dispose();
  }
}
