import type { Backend } from "../backend/backend.js";
import type { ContextOptions } from "../backend/context-options.js";
import type { LoadModelOptions } from "../backend/load-model-options.js";
import type { BufferAllocation } from "../backend/memory-allocation.js";
import type { MemoryPlan } from "./memory-plan.js";

/** What llama.cpp really allocated for a planned context. All bytes exact. */
export interface VerifiedAllocation {
  /** KV cache + recurrent state as allocated (llama.cpp's memory breakdown, context part). */
  readonly contextBytes: number;
  /** Attention KV cache. */
  readonly attentionKvBytes: number;
  /** Recurrent state. */
  readonly recurrentStateBytes: number;
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
    const options: ContextOptions = {
      slots: o.slots,
      unified: o.unified,
      kvTypeK: o.kvTypeK,
      kvTypeV: o.kvTypeV,
      flashAttention: o.flashAttention,
      recurrentSnapshots: o.recurrentSnapshots,
      threads: 1,
      batch: 256,
      ctx: o.ctx,
    };
    const measure = async (ctx: number) => {
      onProgress?.(`allocating a context of ${ctx} tokens`);
      const context = await model.createContext({ ...options, ctx });
      try {
        const allocation = context.allocation();
        if (allocation === null) throw new Error("this llama.cpp build does not report its memory breakdown");
        return { bytes: allocation.contextBytes, cells: context.info.nCtx, buffers: allocation.buffers };
      } finally {
        await context.dispose();
      }
    };
    const requested = await measure(o.ctx);
    const larger = await measure(requested.cells + 256 * plan.kvStreams);
    const bytesPerCell = (larger.bytes - requested.bytes) / (larger.cells - requested.cells);
    const attentionKvBytes = bytesPerCell * requested.cells;
    return {
      contextBytes: requested.bytes,
      attentionKvBytes,
      recurrentStateBytes: requested.bytes - attentionKvBytes,
      kvCells: requested.cells,
      buffers: requested.buffers,
      method: "llama_get_memory_breakdown; KV/recurrent split by a second context 256 cells per stream larger",
    };
  } finally {
    await model.dispose();
  }
}
