import type { Backend } from "../backend/backend.js";
import type { ContextOptions } from "../backend/context-options.js";
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
}

/**
 * Creates the planned context on a real backend and reads back what llama.cpp allocated. llama.cpp's memory
 * breakdown gives the exact bytes of the context's memory (KV + recurrent state together); a second context 256
 * cells per stream larger gives the exact bytes per cell, which splits the two (recurrent state does not depend
 * on the context size).
 */
export async function verifyPlan(backend: Backend, modelPath: string, plan: MemoryPlan, onProgress?: (message: string) => void): Promise<VerifiedAllocation> {
  onProgress?.("loading the model");
  const model = await backend.loadModel({ path: modelPath }, { gpuLayers: 0 });
  try {
    const o = plan.options;
    // The same context options as measurePlan, so the compute buffers compare too.
    const options: ContextOptions = contextOptionsOf(plan);
    const measure = async (ctx: number) => {
      onProgress?.(`allocating a context of ${ctx} tokens`);
      const context = await model.createContext({ ...options, ctx });
      try {
        const allocation = context.allocation();
        if (allocation === null) throw new Error("this llama.cpp build does not report its memory breakdown");
        return { bytes: allocation.contextBytes, computeBytes: allocation.computeBytes, cells: context.info.nCtx };
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
      computeBytes: requested.computeBytes,
      kvCells: requested.cells,
      method: "llama_get_memory_breakdown; KV/recurrent split by a second context 256 cells per stream larger",
    };
  } finally {
    await model.dispose();
  }
}
