import type { ContextOptions } from "../backend/context-options.js";
import type { CacheSpec } from "../cache/cache-spec.js";
import { InvalidArgumentError } from "../errors/invalid-argument-error.js";
import { type MemoryPlan, planMemory } from "./memory-plan.js";

/** A context's options checked and resolved, with the memory plan they give. */
export interface ContextPlan {
  readonly plan: MemoryPlan;
  /** Resolved `batch` (defaults to 512). */
  readonly batch: number;
  /** Resolved `ubatch` (defaults to min(batch, 512)). */
  readonly ubatch: number;
}

/**
 * Checks a backend context's options and plans its memory, in TypeScript, before anything reaches llama.cpp: the
 * planner refuses what llama.cpp would refuse or abort on (ctx, slots, KV types vs head sizes, quantized V without
 * flash attention) and the batch sizes and thread count are range-checked. Every backend and the CLI use this.
 *
 * @throws InvalidPlanError or InvalidArgumentError
 */
export function planContext(spec: CacheSpec, options: ContextOptions): ContextPlan {
  const batch = options.batch ?? 512;
  const ubatch = options.ubatch ?? Math.min(batch, 512);
  const integer = (argument: string, value: number, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError({ argument, message: `${argument} must be an integer in [${min}, ${max}], got ${value}` });
    }
  };
  integer("batch", batch, 1, 1 << 20);
  integer("ubatch", ubatch, 1, batch);
  if (options.threads !== undefined) integer("threads", options.threads, 1, 1024);
  const plan = planMemory(spec, {
    ctx: options.ctx,
    slots: options.slots ?? 1,
    ...(options.kvType === undefined ? {} : { kvType: options.kvType }),
    ...(options.kvTypeK === undefined ? {} : { kvTypeK: options.kvTypeK }),
    ...(options.kvTypeV === undefined ? {} : { kvTypeV: options.kvTypeV }),
    unified: options.unified ?? true,
    // "auto" resolves to on where llama.cpp supports it (CPU, CUDA, Metal); it also turns on for a quantized V.
    flashAttention: options.flashAttention !== false,
    recurrentSnapshots: options.recurrentSnapshots ?? 0,
    ubatch,
    swaFull: options.swaFull ?? true,
  });
  return { plan, batch, ubatch };
}
