import type { Backend } from "../backend/backend.js";
import type { ContextOptions } from "../backend/context-options.js";
import type { MemoryPlan } from "./memory-plan.js";

/** A backend that can measure allocations with llama.cpp's `no_alloc` (the native backend). */
export type AllocationMeter = Required<Pick<Backend, "measureAllocations">>;

/** Whether `backend` can measure allocations without making them. */
export function canMeasure(backend: Backend): backend is Backend & AllocationMeter {
  return typeof backend.measureAllocations === "function";
}

/** What llama.cpp would allocate for a planned context, measured with `no_alloc`. All bytes exact. */
export interface MeasuredPlan {
  /** Cells llama.cpp would allocate (`n_ctx`). */
  readonly kvCells: number;
  /** Attention KV cache. */
  readonly attentionKvBytes: number;
  /** Recurrent state. */
  readonly recurrentStateBytes: number;
  /** KV + recurrent state (llama.cpp's memory breakdown, context part). */
  readonly contextBytes: number;
  /** Compute buffers (llama.cpp reserves its worst-case graphs; with `no_alloc` it sizes them without allocating). */
  readonly computeBytes: number;
  /** Weights, as llama.cpp would place them. */
  readonly modelBytes: number;
  /** How it was measured. */
  readonly method: string;
}

/** The context options that make llama.cpp allocate what `plan` planned. */
export function contextOptionsOf(plan: MemoryPlan, ctx = plan.options.ctx): ContextOptions {
  const o = plan.options;
  return {
    ctx,
    slots: o.slots,
    unified: o.unified,
    kvTypeK: o.kvTypeK,
    kvTypeV: o.kvTypeV,
    flashAttention: o.flashAttention,
    recurrentSnapshots: o.recurrentSnapshots,
    ubatch: o.ubatch,
    batch: Math.max(512, o.ubatch),
    swaFull: o.swaFull,
    threads: 1,
  };
}

/**
 * Measures what llama.cpp would allocate for `plan` over the model file at `path` (a real model or a weightless
 * twin) without allocating it: llama.cpp's memory breakdown under `no_alloc`, and a second context 256 cells per
 * stream larger to split the context memory into KV (which grows with the cells) and recurrent state (which does not).
 */
export async function measurePlan(meter: AllocationMeter, path: string, plan: MemoryPlan): Promise<MeasuredPlan> {
  const [measured] = await measurePlans(meter, path, [plan]);
  return measured!;
}

/** {@link measurePlan} for several plans of one model, loading it once. */
export async function measurePlans(meter: AllocationMeter, path: string, plans: readonly MemoryPlan[]): Promise<MeasuredPlan[]> {
  // The planned n_ctx is llama.cpp's: 256 more cells per stream is one more padding step in every stream.
  const options = plans.flatMap((plan) => [contextOptionsOf(plan), contextOptionsOf(plan, plan.nCtx + 256 * plan.kvStreams)]);
  const measured = await meter.measureAllocations(path, options);
  return plans.map((_, i) => {
    const requested = measured[2 * i]!;
    const larger = measured[2 * i + 1]!;
    const bytesPerCell = (larger.contextBytes - requested.contextBytes) / (larger.nCtx - requested.nCtx);
    const attentionKvBytes = bytesPerCell * requested.nCtx;
    return {
      kvCells: requested.nCtx,
      attentionKvBytes,
      recurrentStateBytes: requested.contextBytes - attentionKvBytes,
      contextBytes: requested.contextBytes,
      computeBytes: requested.computeBytes,
      modelBytes: requested.modelBytes,
      method: "llama.cpp no_alloc (llama_get_memory_breakdown; nothing allocated but the recurrent state); KV/recurrent split by a second context 256 cells per stream larger",
    };
  });
}
