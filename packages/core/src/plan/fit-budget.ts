import type { CacheSpec } from "../cache/cache-spec.js";
import { InvalidPlanError } from "../errors/invalid-plan-error.js";
import { CTX_PAD, MAX_SLOTS, type MemoryPlan, type MemoryPlanOptions, planMemory } from "./memory-plan.js";

/** Options shared by both fit functions. */
export interface FitOptions extends Omit<MemoryPlanOptions, "ctx" | "slots"> {
  /** Bytes available (e.g. a GPU's free memory). */
  readonly budget: number;
  /** Model weights that must fit in the same budget. Defaults to 0 (caches only). */
  readonly weightsBytes?: number;
  /** Count the compute-buffer estimate against the budget. Defaults to `true`. */
  readonly includeCompute?: boolean;
}

/** A configuration that fits, with the total it was measured by. */
export interface FitResult {
  /** The plan of the largest configuration that fits. */
  readonly plan: MemoryPlan;
  /** Weights + KV + recurrent state (+ compute estimate when counted): what was compared with the budget. */
  readonly totalBytes: number;
}

/** Weights + caches (+ compute estimate) of a plan: the figure compared with a budget. */
export function planTotalBytes(plan: MemoryPlan, weightsBytes = 0, includeCompute = true): number {
  return weightsBytes + plan.attentionKvBytes + plan.recurrentStateBytes + (includeCompute ? plan.computeBytesEstimate : 0);
}

function checkBudget(options: FitOptions): void {
  if (!Number.isFinite(options.budget) || options.budget <= 0) {
    throw new InvalidPlanError({ option: "budget", message: `budget must be a positive number of bytes, got ${options.budget}` });
  }
}

/** Largest k in [lo, hi] with fits(k), assuming fits is monotone (true then false); lo - 1 when none. */
function largest(lo: number, hi: number, fits: (k: number) => boolean): number {
  let best = lo - 1;
  while (lo <= hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(mid)) {
      best = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return best;
}

/**
 * The largest context (in tokens, all slots together) whose plan fits the budget with `slots` slots. Searches
 * the sizes llama.cpp can allocate (multiples of 256; non-unified, of 256 × slots) up to `slots` × the model's
 * trained context. Returns null when not even the smallest context fits.
 *
 * @example The longest shared context 8 slots get from 8 GiB
 * ```ts
 * import { fitContextToBudget, modelPreset } from "@hybrid-llm/core";
 *
 * const fit = fitContextToBudget(modelPreset("nemotron3-nano-30b-a3b")!.spec, { budget: 8 * 1024 ** 3, slots: 8 });
 * fit?.plan.nCtx;    // 1,322,240 tokens
 * fit?.totalBytes;   // KV + recurrent state + compute estimate, ≤ the budget
 * ```
 */
export function fitContextToBudget(spec: CacheSpec, options: FitOptions & { readonly slots: number }): FitResult | null {
  checkBudget(options);
  const unified = options.unified ?? true;
  const step = unified ? CTX_PAD : CTX_PAD * options.slots;
  const maxCtx = Math.max(spec.contextLength, CTX_PAD) * options.slots;
  const planFor = (k: number) => planMemory(spec, { ...options, ctx: k * step });
  const total = (plan: MemoryPlan) => planTotalBytes(plan, options.weightsBytes, options.includeCompute);
  const k = largest(1, Math.max(1, Math.floor(maxCtx / step)), (k) => total(planFor(k)) <= options.budget);
  if (k < 1) return null;
  const plan = planFor(k);
  return { plan, totalBytes: total(plan) };
}

/**
 * The most slots (up to llama.cpp's 256) whose plan fits the budget at context `ctx`. Returns null when not even
 * one slot fits.
 *
 * @example How many users at 131,072 tokens each fit 8 GiB, with the model's weights in the same budget
 * ```ts
 * import { cacheSpecFromMetadata, fitSlotsToBudget, weightsBytesOf } from "@hybrid-llm/core";
 * import { readGgufFile } from "@hybrid-llm/core/node";
 *
 * const file = await readGgufFile("model.gguf");
 * const fit = fitSlotsToBudget(cacheSpecFromMetadata(file.metadata), { budget: 8 * 1024 ** 3, ctx: 131_072, weightsBytes: weightsBytesOf(file) });
 * fit?.plan.options.slots;
 * ```
 */
export function fitSlotsToBudget(spec: CacheSpec, options: FitOptions & { readonly ctx: number }): FitResult | null {
  checkBudget(options);
  const planFor = (slots: number) => planMemory(spec, { ...options, slots });
  const total = (plan: MemoryPlan) => planTotalBytes(plan, options.weightsBytes, options.includeCompute);
  // Non-unified padding makes the total not quite monotone in slots, so try every count (256 cheap plans).
  let slots = 0;
  for (let candidate = MAX_SLOTS; candidate >= 1 && slots === 0; candidate--) {
    if (total(planFor(candidate)) <= options.budget) slots = candidate;
  }
  if (slots === 0) return null;
  const plan = planFor(slots);
  return { plan, totalBytes: total(plan) };
}
