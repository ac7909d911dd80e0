import { describe, expect, test } from "vitest";
import { catchError } from "../testing/catch-error.js";
import { InvalidPlanError } from "../errors/invalid-plan-error.js";
import { ModelMetadataError } from "../errors/model-metadata-error.js";
import { buildFixture } from "../fixtures/profiles.js";
import { cacheSpecFromMetadata } from "../gguf/model-cache-spec.js";
import { parseGguf } from "../gguf/reader.js";
import type { GgufValue } from "../gguf/value-types.js";
import { fitContextToBudget, fitSlotsToBudget, planTotalBytes } from "./fit-budget.js";
import { type MemoryPlanOptions, planMemory } from "./memory-plan.js";
import { modelPreset, modelPresets } from "./presets.js";
import publishedModels from "./published-models.json" with { type: "json" };

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe("presets at 1,048,576 tokens × 8 slots, f16", () => {
  // The figures llama.cpp reported for each preset's weightless twin (npm run presets:measure -- --write).
  test.each(publishedModels.models.map((model) => [model.id, model] as const))("%s equals llama.cpp's measured figures", (id, model) => {
    const preset = modelPreset(id)!;
    const plan = planMemory(preset.spec, { ctx: 1_048_576, slots: 8, kvType: "f16" });
    const expected = model.measured_1M_x8_f16;
    expect(plan.attentionKvBytes).toBe(expected.attentionKvBytes);
    expect(plan.perStreamAttentionKvBytes).toBe(expected.perStreamAttentionKvBytes);
    expect(plan.recurrentStateBytes).toBe(expected.recurrentStateBytes);
    expect(plan.attentionBytesPerCell).toBe(expected.kvBytesPerToken);
    expect(plan.recurrentBytesPerSequence).toBe(expected.recurrentBytesPerSequence);
  });

  test("every published model has a preset", () => {
    expect(modelPresets().map((p) => p.id)).toEqual(publishedModels.models.map((m) => m.id));
  });

  test("Nemotron 3 Nano: 6 GiB shared pool vs 48 GiB pre-fix, unified or not", () => {
    const spec = modelPreset("nemotron3-nano-30b-a3b")!.spec;
    for (const unified of [true, false]) {
      const plan = planMemory(spec, { ctx: 1_048_576, slots: 8, unified });
      expect(plan.attentionKvBytes).toBe(6 * GiB);
      expect(plan.perStreamAttentionKvBytes).toBe(48 * GiB);
      expect(plan.kvStreams).toBe(unified ? 1 : 8);
      expect(plan.cellsPerStream).toBe(unified ? 1_048_576 : 131_072);
    }
  });
});

describe("cache specs of the fixtures", () => {
  test("tiny: 2 attention layers, 3 Mamba2 layers", () => {
    const spec = cacheSpecFromMetadata(parseGguf(buildFixture("tiny")).metadata);
    expect(spec.kind).toBe("hybrid");
    expect(spec.attention.layers.map((l) => l.layer)).toEqual([3, 6]);
    expect(spec.recurrent?.layers).toEqual([0, 2, 5]);
    // r = (4 - 1) × (256 + 2·2·16); s = 16 × 256
    expect(spec.recurrent?.convElements).toBe(960);
    expect(spec.recurrent?.stateElements).toBe(4096);
  });

  test("the twin has Nemotron 3 Nano's cache geometry exactly", () => {
    const twin = cacheSpecFromMetadata(parseGguf(buildFixture("nemotron-3-nano-twin")).metadata);
    const real = modelPreset("nemotron3-nano-30b-a3b")!.spec;
    expect(twin.attention).toEqual(real.attention);
    expect(twin.recurrent).toEqual(real.recurrent);
    // FIXTURES.md: 768.00 MiB KV at 131072 cells; 47.62 MiB recurrent state per sequence.
    const plan = planMemory(twin, { ctx: 131_072, slots: 1 });
    expect(plan.attentionKvBytes).toBe(768 * MiB);
    expect((plan.recurrentBytesPerSequence / MiB).toFixed(2)).toBe("47.62");
  });
});

describe("planMemory follows llama.cpp's padding rules", () => {
  const spec = cacheSpecFromMetadata(parseGguf(buildFixture("tiny")).metadata);
  const perCell = 2 * (64 + 64) * 2; // 2 layers × (K 64 + V 64) × f16

  test("unified: one stream of n_ctx padded to 256", () => {
    const plan = planMemory(spec, { ctx: 1000, slots: 3 });
    expect([plan.nCtx, plan.kvStreams, plan.cellsPerStream, plan.kvCells]).toEqual([1024, 1, 1024, 1024]);
    expect(plan.attentionKvBytes).toBe(1024 * perCell);
    expect(plan.recurrentRows).toBe(3);
  });

  test("non-unified: n_ctx_seq = pad256(pad256(n_ctx) / slots), n_ctx = n_ctx_seq × slots", () => {
    const plan = planMemory(spec, { ctx: 1000, slots: 3, unified: false });
    // pad(1000) = 1024; 1024 / 3 = 341 → 512 per stream; 3 streams
    expect([plan.nCtx, plan.kvStreams, plan.cellsPerStream, plan.kvCells]).toEqual([1536, 3, 512, 1536]);
    expect(plan.attentionKvBytes).toBe(1536 * perCell);
  });

  test("quantized KV uses block sizes: q8_0 is 34 bytes per 32, q4_0 18 per 32", () => {
    expect(planMemory(spec, { ctx: 256, slots: 1, kvType: "q8_0" }).attentionKvBytes).toBe(256 * 2 * 2 * (64 / 32) * 34);
    expect(planMemory(spec, { ctx: 256, slots: 1, kvTypeK: "q4_0", kvTypeV: "f16" }).attentionKvBytes).toBe(256 * 2 * ((64 / 32) * 18 + 128));
  });

  test("recurrent snapshots multiply the recurrent rows", () => {
    const plan = planMemory(spec, { ctx: 256, slots: 4, recurrentSnapshots: 2 });
    expect(plan.recurrentRows).toBe(12);
    expect(plan.recurrentStateBytes).toBe(12 * 3 * (960 + 4096) * 4);
  });

  test("snapshots are kept only where llama.cpp can roll the state back; elsewhere it clamps n_rs_seq to 0", () => {
    const lfm2 = cacheSpecFromMetadata(parseGguf(buildFixture("lfm2-tiny")).metadata);
    const mamba2 = cacheSpecFromMetadata(parseGguf(buildFixture("mamba2-tiny")).metadata);
    expect(planMemory(lfm2, { ctx: 256, slots: 4, recurrentSnapshots: 2 }).recurrentRows).toBe(12);
    const clamped = planMemory(mamba2, { ctx: 256, slots: 4, recurrentSnapshots: 2 });
    expect([clamped.recurrentRows, clamped.options.recurrentSnapshots]).toEqual([4, 0]);
    expect(clamped.recurrentStateBytes).toBe(planMemory(mamba2, { ctx: 256, slots: 4 }).recurrentStateBytes);
  });

  test("without flash attention V rows are padded to the widest layer", () => {
    const metadata = llamaMetadata({ heads: 4, kvHeads: [2, 4], embedding: 256 });
    const spec2 = cacheSpecFromMetadata(metadata);
    const withFa = planMemory(spec2, { ctx: 256, slots: 1 });
    const withoutFa = planMemory(spec2, { ctx: 256, slots: 1, flashAttention: false });
    expect(withFa.attentionVBytes).toBe(256 * (128 + 256) * 2);
    expect(withoutFa.attentionVBytes).toBe(256 * (256 + 256) * 2);
    expect(withoutFa.attentionKBytes).toBe(withFa.attentionKBytes);
  });
});

describe("planMemory refuses what llama.cpp refuses", () => {
  const spec = cacheSpecFromMetadata(parseGguf(buildFixture("tiny")).metadata);
  test.each<[MemoryPlanOptions, string, RegExp]>([
    [{ ctx: 0, slots: 1 }, "ctx", /ctx must be an integer/],
    [{ ctx: 256, slots: 0 }, "slots", /slots must be an integer in \[1, 256\]/],
    [{ ctx: 256, slots: 257 }, "slots", /slots/],
    [{ ctx: 1.5, slots: 1 }, "ctx", /ctx/],
    [{ ctx: 256, slots: 1, kvType: "q8_0", flashAttention: false }, "kvTypeV", /quantized V cache \(q8_0\) requires flash attention/],
    [{ ctx: 256, slots: 1, kvType: "q3_K" as never }, "kvTypeK", /unknown KV cache type "q3_K"/],
  ])("%o → InvalidPlanError on %s", (options, option, message) => {
    const error = catchError(() => planMemory(spec, options));
    expect(InvalidPlanError.isInstance(error)).toBe(true);
    expect((error as InvalidPlanError).option).toBe(option);
    expect((error as Error).message).toMatch(message);
  });

  test("a quantized type whose 32-element blocks do not divide the head size", () => {
    const spec80 = cacheSpecFromMetadata(llamaMetadata({ heads: 50, kvHeads: [10], embedding: 4000 })); // head dim 80
    expect(() => planMemory(spec80, { ctx: 256, slots: 1, kvType: "q4_0" })).toThrow(/key head size of llama is 80, not a multiple of 32/);
    expect(planMemory(spec80, { ctx: 256, slots: 1, kvType: "f16" }).attentionKvBytes).toBe(256 * 2 * 800 * 2);
  });
});

describe("fit to a budget", () => {
  const spec = modelPreset("nemotron3-nano-30b-a3b")!.spec;

  test("largest context for 8 slots in 8 GiB of caches", () => {
    const fit = fitContextToBudget(spec, { budget: 8 * GiB, slots: 8, includeCompute: false })!;
    expect(fit.totalBytes).toBeLessThanOrEqual(8 * GiB);
    const next = planMemory(spec, { ctx: fit.plan.nCtx + 256, slots: 8 });
    expect(planTotalBytes(next, 0, false)).toBeGreaterThan(8 * GiB);
    // 8 GiB − 8 × 47.62 MiB of state, at 6144 bytes per cell.
    expect(fit.plan.nCtx).toBe(Math.floor((8 * GiB - fit.plan.recurrentStateBytes) / 6144 / 256) * 256);
  });

  test("most slots for a 128k context in 24 GiB with weights", () => {
    const fit = fitSlotsToBudget(spec, { budget: 24 * GiB, ctx: 131_072, weightsBytes: 16 * GiB, includeCompute: false })!;
    expect(fit.totalBytes).toBeLessThanOrEqual(24 * GiB);
    const more = planMemory(spec, { ctx: 131_072, slots: fit.plan.options.slots + 1 });
    expect(planTotalBytes(more, 16 * GiB, false)).toBeGreaterThan(24 * GiB);
  });

  test("null when nothing fits; an error for a non-positive budget", () => {
    expect(fitContextToBudget(spec, { budget: 1 * MiB, slots: 8 })).toBeNull();
    expect(() => fitSlotsToBudget(spec, { budget: 0, ctx: 1024 })).toThrow(InvalidPlanError);
  });
});

function llamaMetadata({ heads, kvHeads, embedding }: { heads: number; kvHeads: number[]; embedding: number }) {
  return new Map<string, GgufValue>([
    ["general.architecture", { type: "string", value: "llama" }],
    ["llama.block_count", { type: "uint32", value: kvHeads.length }],
    ["llama.context_length", { type: "uint32", value: 4096 }],
    ["llama.embedding_length", { type: "uint32", value: embedding }],
    ["llama.attention.head_count", { type: "uint32", value: heads }],
    ["llama.attention.head_count_kv", { type: "array", elementType: "uint32", value: kvHeads }],
  ]);
}

describe("sliding-window hybrids (LFM2 with attention.sliding_window: llama.cpp's hybrid iSWA cache)", () => {
  const metadata = parseGguf(buildFixture("lfm2-swa-tiny")).metadata;
  const spec = cacheSpecFromMetadata(metadata);
  const perCell = 3 * (32 + 32) * 2; // 3 sliding layers × (K 32 + V 32) × f16

  test("the spec: every attention layer of CC*C*C*C slides over 30 tokens; the short convs are recurrent", () => {
    expect(spec.kind).toBe("hybrid");
    expect(spec.attention.slidingWindow).toBe(30);
    expect(spec.attention.layers.map((l) => [l.layer, l.sliding])).toEqual([[2, true], [4, true], [6, true]]);
    expect(spec.recurrent?.layers).toEqual([0, 1, 3, 5, 7]);
  });

  test("swaFull (llama.cpp's default): the SWA cache is as large as the context", () => {
    const plan = planMemory(spec, { ctx: 4096, slots: 4 });
    expect([plan.slidingLayerCount, plan.slidingWindow, plan.swaCellsPerStream]).toEqual([3, 30, 4096]);
    expect(plan.attentionKvBytes).toBe(4096 * perCell);
    expect(plan.swaKvBytes).toBe(plan.attentionKvBytes);
    expect(plan.perStreamAttentionKvBytes).toBeNull(); // the pre-fix layout is not modelled for iSWA caches
  });

  test("window-sized: pad256(min(cells per stream, window × sequences per stream + ubatch))", () => {
    const unified = planMemory(spec, { ctx: 4096, slots: 4, swaFull: false });
    expect(unified.swaCellsPerStream).toBe(768); // 30 × 4 + 512 = 632
    expect(unified.attentionKvBytes).toBe(768 * perCell);
    const perSlot = planMemory(spec, { ctx: 8192, slots: 4, unified: false, swaFull: false });
    expect([perSlot.cellsPerStream, perSlot.swaCellsPerStream]).toEqual([2048, 768]); // 30 + 512 = 542
    expect(perSlot.attentionKvBytes).toBe(4 * 768 * perCell);
    expect(planMemory(spec, { ctx: 2048, slots: 8, ubatch: 64, swaFull: false }).swaCellsPerStream).toBe(512); // 30 × 8 + 64
    expect(planMemory(spec, { ctx: 1024, slots: 16, unified: false, swaFull: false }).swaCellsPerStream).toBe(256); // capped by the stream
    // llama.cpp clamps n_ubatch to the requested n_ctx: 30 + 100 → 256, not 30 + 512 → 768.
    expect(planMemory(spec, { ctx: 100, slots: 1, swaFull: false }).swaCellsPerStream).toBe(256);
    // A model without sliding layers has no SWA cache whatever swaFull says.
    const plain = cacheSpecFromMetadata(parseGguf(buildFixture("lfm2-tiny")).metadata);
    expect(planMemory(plain, { ctx: 4096, slots: 4, swaFull: false })).toMatchObject({ slidingLayerCount: 0, swaCellsPerStream: 0, swaKvBytes: 0 });
  });

  test("swaFull must be a boolean (a JavaScript caller may pass anything)", () => {
    const error = catchError(() => planMemory(spec, { ctx: 1024, slots: 1, swaFull: "no" as unknown as boolean }));
    expect(InvalidPlanError.isInstance(error)).toBe(true);
    expect((error as InvalidPlanError).option).toBe("swaFull");
  });

  test("lfm2moe with a sliding window is refused: the bundled llama.cpp would ignore the window", () => {
    const moe = new Map(parseGguf(buildFixture("lfm2moe-tiny")).metadata);
    moe.set("lfm2moe.attention.sliding_window", { type: "uint32", value: 30 });
    const error = catchError(() => cacheSpecFromMetadata(moe));
    expect(ModelMetadataError.isInstance(error)).toBe(true);
    expect((error as ModelMetadataError).key).toBe("lfm2moe.attention.sliding_window");
    expect((error as Error).message).toMatch(/ignores the window for lfm2moe/);
  });
});
