import { NodeBackend } from "@hybrid-llm/node";
import { loadAddon } from "../../packages/node/src/addon.js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { expectFastPickMatchesChain } from "../conformance/sampling-suite.js";
import { fixturePath } from "./fixtures.js";

/**
 * fast_pick takes its sweep, and row_top2 (every row's argmax and margin) its passes, by the CPU when the addon loads:
 * AVX-512, else AVX2, else the portable loops (the Wasm modules run SIMD128). The sampling suite holds the widest this
 * machine has to llama.cpp's chain and to the logits; a file calling this forces a narrower one
 * (HYBRID_LLM_FAST_PICK_SWEEP, read at load: each test file runs in a process of its own) and holds it to both too, on
 * the 131,072-token vocabulary.
 */
export function defineForcedSweepTest(sweep: "avx2" | "portable"): void {
  describe(`fast_pick's ${sweep} sweep, forced (real-vocab)`, () => {
    let backend: NodeBackend;
    beforeAll(async () => {
      process.env.HYBRID_LLM_FAST_PICK_SWEEP = sweep;
      backend = await NodeBackend.create({ gpu: false });
    });
    afterAll(async () => {
      await backend?.dispose();
    });

    test("draws exactly the tokens llama.cpp's chain draws, seed for seed; argmax and margins are the logits'", async () => {
      // The addon says which sweep it runs (an x86-64 CPU without AVX2 would run the portable one for "avx2").
      expect(loadAddon().systemInfo()).toContain(`FAST_PICK = ${sweep} |`);
      const model = await backend.loadModel({ path: await fixturePath("real-vocab") });
      await expectFastPickMatchesChain(model, model.tokenize("Once upon a time, in a land far away"));
    });
  });
}
