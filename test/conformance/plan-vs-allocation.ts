import { type Backend, type KvCacheType, planMemory, verifyPlan } from "@hybrid-llm/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fixturePath } from "../support/fixtures.js";

const points: { ctx: number; slots: number; unified: boolean; kvType: KvCacheType; flashAttention?: boolean }[] = [
  { ctx: 4096, slots: 1, unified: true, kvType: "f16" },
  { ctx: 10000, slots: 3, unified: true, kvType: "q8_0" },
  { ctx: 10000, slots: 3, unified: false, kvType: "q8_0" },
  { ctx: 65536, slots: 8, unified: true, kvType: "q4_0" },
  { ctx: 65536, slots: 8, unified: false, kvType: "f16", flashAttention: false },
  { ctx: 3000, slots: 16, unified: false, kvType: "q4_0" },
];

/** The planner against what llama.cpp really allocates through a backend, byte for byte. */
export function definePlanVsAllocation(name: string, createBackend: () => Promise<Backend>): void {
  describe.each(["tiny", "nemotron-3-nano-twin"])(`${name} backend: planned == allocated on %s`, (profile) => {
    let backend: Backend;
    let path: string;
    beforeAll(async () => {
      backend = await createBackend();
      path = await fixturePath(profile);
    });
    afterAll(async () => {
      await backend?.dispose();
    });

    test.each(points)("ctx $ctx × $slots slots, unified $unified, $kvType", async ({ ctx, slots, unified, kvType, flashAttention }) => {
      const model = await backend.loadModel({ path });
      const spec = model.info.cacheSpec;
      await model.dispose();
      const plan = planMemory(spec, { ctx, slots, unified, kvType, flashAttention: flashAttention ?? true });
      const allocated = await verifyPlan(backend, path, plan);
      expect(allocated.kvCells).toBe(plan.kvCells);
      expect(allocated.contextBytes).toBe(plan.attentionKvBytes + plan.recurrentStateBytes);
      expect(allocated.attentionKvBytes).toBe(plan.attentionKvBytes);
      expect(allocated.recurrentStateBytes).toBe(plan.recurrentStateBytes);
    });
  });
}
