import type { CacheSpec } from "../cache/cache-spec.js";
import { InvalidPlanError } from "../errors/invalid-plan-error.js";
import { type MemoryPlan, planLayerCacheBytes } from "./memory-plan.js";

/** How llama.cpp spreads a model's layers over devices (local GPUs, RPC servers): `n_gpu_layers` and `tensor_split`. */
export interface DeviceSplitOptions {
  /** Layers offloaded to the devices (llama.cpp counts the output layer as one more); -1 or more than there are: all. */
  readonly gpuLayers: number;
  /** One weight per device, in device order (not all 0). */
  readonly weights: readonly number[];
}

/** Cache memory planned on one device (or on the host, `device` -1, for layers that are not offloaded). */
export interface DeviceCachePlan {
  /** Index into the devices (the split's order), -1 for the host CPU. */
  readonly device: number;
  /** Repeating layers on it (the output layer, index = layer count, holds no cache and is left out). */
  readonly layers: readonly number[];
  /** Attention KV cache of its layers. */
  readonly attentionKvBytes: number;
  /** Recurrent state of its layers. */
  readonly recurrentStateBytes: number;
}

/**
 * The device of each layer `0 … layerCount` (the last one is the output layer), -1 for the host: llama.cpp's
 * `llama_model::load_tensors` (v0.4.0) — the last `gpuLayers` layers are offloaded, and each offloaded layer goes
 * to the first device whose cumulative share of the weights exceeds its position among them.
 */
export function layerDevices(layerCount: number, options: DeviceSplitOptions): number[] {
  const { weights } = options;
  if (weights.length === 0 || !weights.every((w) => Number.isFinite(w) && w >= 0) || !weights.some((w) => w > 0)) {
    throw new InvalidPlanError({ option: "tensorSplit", message: "a device split needs one weight ≥ 0 per device, not all 0" });
  }
  // In float32 step by step as llama.cpp does (the weights are floats, and so is every partial sum), so a layer on
  // a split boundary lands where llama.cpp puts it: summing in doubles moves some ([0.05, 0.4] over 9 layers).
  let running = 0;
  const sums = weights.map((w) => (running = Math.fround(running + Math.fround(w))));
  const bounds = sums.map((sum) => Math.fround(sum / running));
  const gpuLayers = options.gpuLayers < 0 ? layerCount + 1 : options.gpuLayers;
  const start = Math.max(layerCount + 1 - gpuLayers, 0);
  const active = Math.min(gpuLayers, layerCount + 1);
  return Array.from({ length: layerCount + 1 }, (_, layer) => {
    if (layer < start || layer - start >= active) return -1;
    const position = Math.fround((layer - start) / active);
    const device = bounds.findIndex((bound) => bound > position);
    return device === -1 ? weights.length - 1 : device;
  });
}

/**
 * Splits a planned context's cache memory over devices: attention KV and recurrent state are allocated on their
 * layer's device. Returns the host (if any layer stays there) and every device, in device order.
 */
export function planDeviceSplit(spec: CacheSpec, plan: MemoryPlan, options: DeviceSplitOptions): DeviceCachePlan[] {
  const devices = layerDevices(spec.layerCount, options);
  const rows = new Map<number, { layers: number[]; attentionKvBytes: number; recurrentStateBytes: number }>();
  for (let device = -1; device < options.weights.length; device++) rows.set(device, { layers: [], attentionKvBytes: 0, recurrentStateBytes: 0 });
  for (let layer = 0; layer < spec.layerCount; layer++) rows.get(devices[layer]!)!.layers.push(layer);
  for (const bytes of planLayerCacheBytes(spec, plan)) {
    const row = rows.get(devices[bytes.layer]!)!;
    row.attentionKvBytes += bytes.attentionKvBytes;
    row.recurrentStateBytes += bytes.recurrentStateBytes;
  }
  return [...rows.entries()].filter(([device, row]) => device >= 0 || row.layers.length > 0).map(([device, row]) => ({ device, ...row }));
}
