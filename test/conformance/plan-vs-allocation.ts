import { type Backend, type KvCacheType, canMeasure, contextOptionsOf, planMemory, verifyPlan } from "@hybrid-llm/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fixturePath } from "../support/fixtures.js";

/** One context configuration to plan and allocate. */
export interface PlanPoint {
  readonly ctx: number;
  readonly slots: number;
  readonly unified: boolean;
  readonly kvType: KvCacheType;
  readonly flashAttention?: boolean;
  readonly recurrentSnapshots?: number;
  readonly ubatch?: number;
  readonly swaFull?: boolean;
}

/** The Nemotron-H profiles at production-like sizes: long contexts, up to 16 slots, every KV type. */
const nemotronPoints: PlanPoint[] = [
  { ctx: 4096, slots: 1, unified: true, kvType: "f16" },
  { ctx: 10000, slots: 3, unified: true, kvType: "q8_0" },
  { ctx: 10000, slots: 3, unified: false, kvType: "q8_0" },
  { ctx: 65536, slots: 8, unified: true, kvType: "q4_0" },
  { ctx: 65536, slots: 8, unified: false, kvType: "f16", flashAttention: false },
  { ctx: 3000, slots: 16, unified: false, kvType: "q4_0" },
];

/**
 * Every other family (family-profiles.ts) over a small representative grid: 1, 4 and 16 slots, unified and per-slot
 * streams (3000 cells over 4 streams pads each to 768), f16, q8_0 and q4_0 with flash attention, and once without
 * it (V stored transposed), and once with recurrent rollback snapshots.
 */
export const familyPoints: PlanPoint[] = [
  { ctx: 1024, slots: 1, unified: true, kvType: "f16" },
  { ctx: 1024, slots: 4, unified: true, kvType: "q8_0" },
  { ctx: 3000, slots: 4, unified: false, kvType: "f16" },
  { ctx: 3000, slots: 4, unified: false, kvType: "q8_0" },
  { ctx: 2048, slots: 4, unified: false, kvType: "f16", flashAttention: false },
  { ctx: 3000, slots: 16, unified: false, kvType: "q4_0" },
  // llama.cpp keeps rollback snapshots only for some architectures (LFM2 and Qwen3.5 here) and drops them for the rest.
  { ctx: 1024, slots: 2, unified: true, kvType: "f16", recurrentSnapshots: 2 },
];

/**
 * The sliding-window (iSWA) profile with window-sized SWA caches (`swaFull: false`): the window of every sequence
 * in a stream plus one micro-batch, padded to 256 (30 × 4 + 512 → 768 shared; 30 + 512 → 768 per stream), capped by
 * the stream (1024 / 16 → 256 per stream), and small micro-batches (30 × 8 + 64 → 512; 30 + 1 → 256).
 */
export const slidingWindowPoints: PlanPoint[] = [
  { ctx: 4096, slots: 4, unified: true, kvType: "f16", swaFull: false },
  { ctx: 8192, slots: 4, unified: false, kvType: "q8_0", swaFull: false },
  { ctx: 1024, slots: 16, unified: false, kvType: "q4_0", swaFull: false },
  { ctx: 2048, slots: 8, unified: true, kvType: "f16", flashAttention: false, ubatch: 64, swaFull: false },
  { ctx: 1024, slots: 1, unified: true, kvType: "q8_0", ubatch: 1, swaFull: false },
];

/** One profile per family beside Nemotron-H, with the layers each has of each cache (from its layer pattern). */
export const familyProfiles = [
  { profile: "granitehybrid-tiny", attentionLayers: 2, recurrentLayers: 4 },
  { profile: "lfm2-tiny", attentionLayers: 2, recurrentLayers: 4 },
  { profile: "lfm2-swa-tiny", attentionLayers: 3, recurrentLayers: 5 },
  { profile: "falcon-h1-tiny", attentionLayers: 4, recurrentLayers: 4 },
  { profile: "mamba2-tiny", attentionLayers: 0, recurrentLayers: 4 },
  { profile: "llama-tiny", attentionLayers: 4, recurrentLayers: 0 },
  { profile: "qwen3next-tiny", attentionLayers: 1, recurrentLayers: 3 },
  { profile: "jamba-tiny", attentionLayers: 1, recurrentLayers: 3 },
  { profile: "lfm2moe-tiny", attentionLayers: 2, recurrentLayers: 4 },
  { profile: "mamba-tiny", attentionLayers: 0, recurrentLayers: 4 },
  { profile: "qwen35-tiny", attentionLayers: 1, recurrentLayers: 3 },
  { profile: "qwen35moe-tiny", attentionLayers: 1, recurrentLayers: 3 },
  { profile: "kimi-linear-tiny", attentionLayers: 1, recurrentLayers: 3 },
];

/**
 * The planner against what llama.cpp really allocates through a backend, byte for byte: the Nemotron-H profiles
 * at `nemotronPoints`, every other family at `points` (the Wasm suite passes a smaller grid). On a backend that can
 * measure (native), the compute buffers too: llama.cpp's no_alloc figure, which `plan` prints, == the allocation.
 */
export function definePlanVsAllocation(
  name: string,
  createBackend: () => Promise<Backend>,
  points: readonly PlanPoint[] = familyPoints,
  swaPoints: readonly PlanPoint[] = slidingWindowPoints,
): void {
  const cases = [
    ...["tiny", "nemotron-3-nano-twin"].map((profile) => ({ profile, points: nemotronPoints, layers: undefined })),
    ...familyProfiles.map(({ profile, ...layers }) => ({ profile, points: profile === "lfm2-swa-tiny" ? [...points, ...swaPoints] : points, layers })),
  ];
  describe.each(cases)(`${name} backend: planned == allocated on $profile`, ({ profile, points, layers }) => {
    let backend: Backend;
    let path: string;
    beforeAll(async () => {
      backend = await createBackend();
      path = await fixturePath(profile);
    });
    afterAll(async () => {
      await backend?.dispose();
    });

    test.each(points)("ctx $ctx × $slots slots, unified $unified, $kvType, flash attention $flashAttention, snapshots $recurrentSnapshots, ubatch $ubatch, swaFull $swaFull", async ({ ctx, slots, unified, kvType, flashAttention, recurrentSnapshots, ubatch, swaFull }) => {
      const model = await backend.loadModel({ path });
      const spec = model.info.cacheSpec;
      await model.dispose();
      if (layers !== undefined) {
        // The layer filters, against the layer pattern the fixture was written with.
        expect(spec.attention.layers.length).toBe(layers.attentionLayers);
        expect(spec.recurrent?.layers.length ?? 0).toBe(layers.recurrentLayers);
      }
      const plan = planMemory(spec, { ctx, slots, unified, kvType, flashAttention: flashAttention ?? true, recurrentSnapshots: recurrentSnapshots ?? 0, ubatch, swaFull });
      // A window-sized SWA cache is never larger than a full-size one (capped by the stream when the window is wider).
      if (swaFull === false) expect(plan.swaCellsPerStream).toBeLessThanOrEqual(plan.cellsPerStream);
      if (layers !== undefined && spec.attention.slidingWindow > 0) expect(plan.slidingLayerCount).toBe(layers.attentionLayers);
      const allocated = await verifyPlan(backend, path, plan);
      expect(allocated.kvCells).toBe(plan.kvCells);
      expect(allocated.contextBytes).toBe(plan.attentionKvBytes + plan.recurrentStateBytes);
      expect(allocated.attentionKvBytes).toBe(plan.attentionKvBytes);
      expect(allocated.recurrentStateBytes).toBe(plan.recurrentStateBytes);
      // The compute buffers as plan gives them (llama.cpp's no_alloc measurement) are what llama.cpp allocates.
      if (canMeasure(backend)) {
        const [measured] = await backend.measureAllocations(path, [contextOptionsOf(plan)]);
        expect(measured!.computeBytes).toBe(allocated.computeBytes);
        expect(allocated.computeBytes).toBeGreaterThan(0);
      }
      // Each family has the cache its kind says: no silent zero on either side.
      expect(plan.attentionKvBytes > 0).toBe(spec.attention.layers.length > 0);
      expect(plan.recurrentStateBytes > 0).toBe(spec.recurrent !== null);
    });
  });
}
