import { describe, expect, test } from "vitest";
import { InvalidPlanError } from "../errors/invalid-plan-error.js";
import { buildFixture } from "../fixtures/profiles.js";
import { cacheSpecFromMetadata } from "../gguf/model-cache-spec.js";
import { parseGguf } from "../gguf/reader.js";
import { layerDevices, planDeviceSplit } from "./device-split.js";
import { planMemory } from "./memory-plan.js";

describe("layerDevices: llama.cpp's layer-to-device assignment", () => {
  test("8 layers + output over two equal devices: 0-4 on the first, 5-8 on the second (as llama.cpp logged it)", () => {
    expect(layerDevices(8, { gpuLayers: -1, weights: [1, 1] })).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1]);
  });
  test("uneven weights, a zero weight, and partial offload keep the first layers on the host", () => {
    expect(layerDevices(8, { gpuLayers: 99, weights: [1, 3] })).toEqual([0, 0, 0, 1, 1, 1, 1, 1, 1]);
    expect(layerDevices(4, { gpuLayers: -1, weights: [0, 1] })).toEqual([1, 1, 1, 1, 1]);
    expect(layerDevices(8, { gpuLayers: 3, weights: [1, 1] })).toEqual([-1, -1, -1, -1, -1, -1, 0, 0, 1]);
    expect(layerDevices(8, { gpuLayers: 0, weights: [1] })).toEqual(Array(9).fill(-1));
  });
  test("layers on a split boundary land where llama.cpp puts them (float32 partial sums; observed over RPC workers)", () => {
    expect(layerDevices(8, { gpuLayers: -1, weights: [0.05, 0.4] })).toEqual([0, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(layerDevices(8, { gpuLayers: -1, weights: [0.06, 0.21] })).toEqual([0, 0, 0, 1, 1, 1, 1, 1, 1]);
    // The output layer on the third worker, as llama.cpp put it (its buffer held model bytes and no cache).
    expect(layerDevices(8, { gpuLayers: -1, weights: [0.1, 0.7, 0.1] })).toEqual([0, 1, 1, 1, 1, 1, 1, 1, 2]);
  });
  test("a split without a positive weight is an InvalidPlanError", () => {
    for (const weights of [[], [0, 0], [-1, 2], [Number.NaN]]) expect(() => layerDevices(8, { gpuLayers: -1, weights })).toThrow(InvalidPlanError);
  });
});

test("planDeviceSplit: per-device KV and recurrent state sum to the plan, and follow their layers", () => {
  const spec = cacheSpecFromMetadata(parseGguf(buildFixture("tiny")).metadata);
  const plan = planMemory(spec, { ctx: 1024, slots: 2 });
  const rows = planDeviceSplit(spec, plan, { gpuLayers: -1, weights: [1, 3] });
  expect(rows.map((row) => row.device)).toEqual([0, 1]);
  expect(rows.reduce((sum, row) => sum + row.attentionKvBytes, 0)).toBe(plan.attentionKvBytes);
  expect(rows.reduce((sum, row) => sum + row.recurrentStateBytes, 0)).toBe(plan.recurrentStateBytes);
  const attentionLayers = new Set(spec.attention.layers.map((layer) => layer.layer));
  for (const row of rows) expect(row.attentionKvBytes > 0).toBe(row.layers.some((layer) => attentionLayers.has(layer)));
  // Partial offload: the host holds the first layers' share.
  const partial = planDeviceSplit(spec, plan, { gpuLayers: 4, weights: [1] });
  expect(partial.map((row) => [row.device, row.layers])).toEqual([[-1, [0, 1, 2, 3, 4]], [0, [5, 6, 7]]]);
});
