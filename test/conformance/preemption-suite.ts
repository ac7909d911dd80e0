import { type Backend, type BackendModel, Engine, type PreemptionSetting } from "@hybrid-llm/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fixturePath } from "../support/fixtures.js";
import { compareStreams, type GreedyStream, prompts } from "../support/greedy.js";

async function run(engine: Engine, prompt: Int32Array, maxTokens: number): Promise<GreedyStream & { reason: string }> {
  const stream = { tokens: [] as number[], margins: [] as number[], firstLogits: new Float32Array(), reason: "" };
  for await (const part of engine.generate({ prompt, temperature: 0, maxTokens, ignoreEndOfGeneration: true, stopTokens: [] })) {
    if (part.type === "token") {
      stream.tokens.push(part.token);
      stream.margins.push(part.margin);
    }
    if (part.type === "finish") stream.reason = part.reason;
  }
  return stream;
}

/**
 * On-demand admission and preemption on real llama.cpp: a pool too small for every request's growth at once; the
 * requests that are preempted (their whole state swapped to host memory and restored, or dropped and re-prefilled)
 * must continue exactly like unconstrained runs, and everything must be given back afterwards.
 */
export function definePreemptionSuite(name: string, createBackend: () => Promise<Backend>, options: { requests?: number; maxTokens?: number; ctx?: number } = {}): void {
  const count = options.requests ?? 6;
  const maxTokens = options.maxTokens ?? 100;
  const ctx = options.ctx ?? 512;
  describe(`preemption on the ${name} backend (nemotron-3-nano-twin)`, () => {
    let backend: Backend;
    let model: BackendModel;
    let reference: GreedyStream[];
    beforeAll(async () => {
      backend = await createBackend();
      model = await backend.loadModel({ path: await fixturePath("nemotron-3-nano-twin") });
      const roomy = new Engine({ model, context: await model.createContext({ ctx: 4096, slots: 1, threads: 1 }), prefixCache: false });
      reference = [];
      for (const text of prompts.slice(0, count)) reference.push(await run(roomy, model.tokenize(text), maxTokens));
      await roomy.dispose();
    });
    afterAll(async () => {
      await backend?.dispose();
    });

    test.each(["swap", "recompute"] satisfies PreemptionSetting[])(`%s: ${count} requests growing past a ${ctx}-cell pool all complete, each identical to its unconstrained run; the pool, slots and swap space end idle`, async (preemption) => {
      const context = await model.createContext({ ctx, slots: count, threads: 1 });
      const engine = new Engine({ model, context, admission: { preemption, headroomTokens: 16 } });
      const tokens = prompts.slice(0, count).map((text) => model.tokenize(text));
      // Worst case these need count × (prompt + maxTokens) cells, more than the pool: some must be preempted.
      expect(tokens.reduce((sum, t) => sum + t.length + maxTokens, 0)).toBeGreaterThan(context.info.nCtx);
      const results = await Promise.all(tokens.map((prompt) => run(engine, prompt, maxTokens)));
      for (const [i, result] of results.entries()) {
        expect(result.reason).toBe("length");
        const { compared, mismatchAt } = compareStreams(reference[i]!, result);
        expect(mismatchAt, `request ${i}`).toBeUndefined();
        expect(compared).toBeGreaterThan(0);
      }
      const stats = engine.stats();
      expect(stats.peakActive).toBe(count);
      if (preemption === "swap") expect([stats.preemption.swaps > 0, stats.preemption.recomputes]).toEqual([true, 0]);
      else expect([stats.preemption.swaps, stats.preemption.recomputes > 0, stats.preemption.tokensRecomputed > 0]).toEqual([0, true, true]);
      expect([stats.slotsBusy, stats.queueDepth, stats.preemption.waiting, stats.preemption.swapBytes, stats.poolCellsReserved - stats.poolCellsCached]).toEqual([0, 0, 0, 0, 0]);
      engine.clearCache();
      expect(engine.stats().poolCellsReserved).toBe(0);
      for (let slot = 0; slot < count; slot++) expect(context.posMax(slot)).toBe(-1);
      await engine.dispose();
      await context.dispose();
    });
  });
}
