import { type Backend, type BackendModel, Engine, type StreamPart, planMemory } from "@hybrid-llm/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fixturePath } from "../support/fixtures.js";
import { compareStreams, greedy, maxAbsDifference, prompts } from "../support/greedy.js";

interface Run {
  tokens: number[];
  margins: number[];
  firstLogits: Float32Array;
  start: Extract<StreamPart, { type: "start" }>;
}

async function run(engine: Engine, prompt: Int32Array, maxTokens: number, slot?: number): Promise<Run> {
  const result = { tokens: [] as number[], margins: [] as number[], firstLogits: new Float32Array() } as Run;
  const pinned = slot === undefined ? {} : { slot };
  for await (const part of engine.generate({ prompt, temperature: 0, returnLogits: true, ignoreEndOfGeneration: true, stopTokens: [], maxTokens, ...pinned })) {
    if (part.type === "token") {
      if (result.tokens.length === 0) result.firstLogits = part.logits!;
      result.tokens.push(part.token);
      result.margins.push(part.margin);
    }
    if (part.type === "start") result.start = part;
  }
  return result;
}

const WINDOW = 30;
/**
 * Logits that must be equal may differ by ~2e-3 on this model (|logits| ≈ 3) where kernels see different batch
 * splits or cell layouts; a lost or extra cell inside the window moves them by ~0.25 (the near-change test).
 */
const SAME = 1e-2;

/**
 * A sliding-window hybrid (lfm2-swa-tiny: LFM2 with a 30-token window on its 3 attention layers, llama.cpp's hybrid
 * iSWA cache) on real llama.cpp, with both SWA cache sizes: full-size (`swaFull`, llama.cpp's default) and
 * window-sized, where cells past the window are reused. Prompts of 300 tokens and 32-token micro-batches make the
 * window-sized cache (pad256(30 × 2 + 32) = 256 cells) recycle its cells. What must hold: the window-sized cache
 * gives the full-size cache's outputs; a partial-state checkpoint carries the window (so a sequence rebuilt from it
 * alone continues identically); the Engine's prefix cache and preemption resume such sequences exactly.
 */
export function defineSlidingWindowSuite(name: string, createBackend: () => Promise<Backend>): void {
  describe(`${name} backend on a sliding-window hybrid (lfm2-swa-tiny)`, () => {
    let backend: Backend;
    let model: BackendModel;
    let long: Int32Array;
    beforeAll(async () => {
      backend = await createBackend();
      model = await backend.loadModel({ path: await fixturePath("lfm2-swa-tiny") });
      long = model.tokenize(Array.from({ length: 8 }, () => prompts.join(". ")).join(" ")).slice(0, 300);
    });
    afterAll(async () => {
      await backend?.dispose();
    });

    const contextFor = (swaFull: boolean, slots = 2) => model.createContext({ ctx: 1024, slots, threads: 1, batch: 1024, ubatch: 32, swaFull });

    test("the window is real: a token far enough back changes nothing, one inside the window does", async () => {
      // 3 sliding layers of 30 and short convs of 3 reach < 100 positions back: position 0 cannot reach 299.
      expect(long.length).toBe(300);
      const context = await contextFor(false, 3);
      const farChange = Int32Array.from(long, (t, i) => (i === 0 ? (t + 1) % model.info.vocabSize : t));
      const nearChange = Int32Array.from(long, (t, i) => (i === 290 ? (t + 1) % model.info.vocabSize : t));
      const [base, far, near] = await greedy(context, model.info.vocabSize, [long, farChange, nearChange], 1, [0, 1, 2]);
      expect(maxAbsDifference(base!.firstLogits, far!.firstLogits)).toBeLessThan(SAME);
      expect(maxAbsDifference(base!.firstLogits, near!.firstLogits)).toBeGreaterThan(10 * SAME);
      await context.dispose();
    });

    test("a window-sized SWA cache (cells recycled) gives the full-size cache's tokens and logits", async () => {
      const plan = planMemory(model.info.cacheSpec, { ctx: 1024, slots: 2, ubatch: 32, swaFull: false });
      expect(plan.swaCellsPerStream).toBe(256); // less than the 300-token prompt: cells must be reused
      const full = await contextFor(true);
      const windowed = await contextFor(false);
      const [reference] = await greedy(full, model.info.vocabSize, [long], 12, [0]);
      const [candidate] = await greedy(windowed, model.info.vocabSize, [long], 12, [0]);
      expect(compareStreams(reference!, candidate!).mismatchAt).toBeUndefined();
      expect(maxAbsDifference(reference!.firstLogits, candidate!.firstLogits)).toBeLessThan(SAME);
      await full.dispose();
      await windowed.dispose();
    });

    test("why the Engine never shares cells on a window-sized SWA cache: shared cells are never recycled, and it runs out", async () => {
      const context = await contextFor(false, 3); // pad256(30 × 3 + 32) = 256 SWA cells
      await greedy(context, model.info.vocabSize, [long.slice(0, 200)], 1, [0]);
      context.seqCopy(0, 1, 0, 200);
      context.seqCopy(0, 2, 0, 200);
      const next = greedy(context, model.info.vocabSize, [long.slice(0, 32), long.slice(32, 64)], 1, [1, 2]);
      await expect(next).rejects.toThrow(/failed to prepare attention swa ubatches/);
      await context.dispose();
      // The same on a full-size SWA cache is fine.
      const full = await contextFor(true, 3);
      await greedy(full, model.info.vocabSize, [long.slice(0, 200)], 1, [0]);
      full.seqCopy(0, 1, 0, 200);
      full.seqCopy(0, 2, 0, 200);
      await greedy(full, model.info.vocabSize, [long.slice(0, 32), long.slice(32, 64)], 4, [1, 2]);
      expect([full.posMax(1), full.posMax(2)]).toEqual([234, 234]);
      await full.dispose();
    });

    test.each([true, false])("swaFull %s: a partial checkpoint carries the window; restored alone into an empty sequence it continues identically", async (swaFull) => {
      const context = await contextFor(swaFull);
      await greedy(context, model.info.vocabSize, [long], 1, [0]);
      const checkpoint = context.getState(0, { partial: true });
      const plan = planMemory(model.info.cacheSpec, { ctx: 1024, slots: 2 });
      const windowBytes = WINDOW * plan.attentionBytesPerCell;
      // The recurrent rows and at least the window's K and V of every sliding layer (but not the 300 positions).
      expect(checkpoint.length).toBeGreaterThan(plan.recurrentBytesPerSequence + windowBytes);
      expect(checkpoint.length).toBeLessThan(plan.recurrentBytesPerSequence + 300 * plan.attentionBytesPerCell);
      const end = context.posMax(0);
      const tail = model.tokenize(" over and over again", { addSpecial: false });
      const [original] = await greedy(context, model.info.vocabSize, [tail], 6, [0]);
      // Every attention layer slides, so the checkpoint is all the state a sequence needs: no cells copied.
      expect(context.setState(1, checkpoint, { partial: true })).toBe(checkpoint.length);
      expect(context.posMax(1)).toBe(end);
      const [restored] = await greedy(context, model.info.vocabSize, [tail], 6, [1]);
      expect(restored!.tokens).toEqual(original!.tokens);
      expect(maxAbsDifference(original!.firstLogits, restored!.firstLogits)).toBeLessThan(SAME);
      await context.dispose();
    });

    test.each([true, false])("swaFull %s: the Engine's prefix cache resumes turns 2 and 3, and a branch off turn 1 past the window, exactly like cold runs", async (swaFull) => {
      const cold = new Engine({ model, context: await contextFor(true, 1), prefixCache: false });
      const context = await contextFor(swaFull, 3);
      const engine = new Engine({ model, context });
      let prompt = long.slice(0, 200);
      let compared = 0;
      for (let round = 1; round <= 3; round++) {
        const warm = await run(engine, prompt, 24);
        if (round > 1) expect(warm.start.cachedTokens).toBeGreaterThan(150);
        const reference = await run(cold, prompt, 24);
        const comparison = compareStreams(reference, warm);
        expect(comparison.mismatchAt, `round ${round}`).toBeUndefined();
        expect(maxAbsDifference(reference.firstLogits, warm.firstLogits)).toBeLessThan(SAME);
        compared += comparison.compared;
        prompt = Int32Array.from([...prompt, ...warm.tokens, ...model.tokenize(` question ${round}:`, { addSpecial: false })]);
      }
      expect(compared).toBeGreaterThanOrEqual(24 * 3 * 0.5);
      expect(engine.stats().cache.hits).toBe(2);
      // A branch off turn 1's prompt: the slot has since moved ~90 tokens on (past the window, and with a window-sized
      // cache past the cells that held it), so the resume needs the checkpoint at the end of that prompt.
      const branchPrompt = Int32Array.from([...long.slice(0, 200), ...model.tokenize(" a different question:", { addSpecial: false })]);
      const branch = await run(engine, branchPrompt, 12);
      expect(branch.start.cachedTokens).toBe(200);
      const reference = await run(cold, branchPrompt, 12);
      expect(compareStreams(reference, branch).mismatchAt).toBeUndefined();
      expect(maxAbsDifference(reference.firstLogits, branch.firstLogits)).toBeLessThan(SAME);
      await engine.dispose();
      await context.dispose();
      await cold.dispose();
    });

    test.each([true, false])("swaFull %s: three requests branching at once off one cached 200-token prefix complete exactly like cold runs", async (swaFull) => {
      const cold = new Engine({ model, context: await contextFor(true, 1), prefixCache: false });
      const context = await contextFor(swaFull, 3);
      const engine = new Engine({ model, context });
      const prefix = long.slice(0, 200);
      await run(engine, prefix, 4);
      const branches = [" first:", " second one:", " third, last:"].map((text) => Int32Array.from([...prefix, ...model.tokenize(text, { addSpecial: false })]));
      const results = await Promise.all(branches.map((prompt) => run(engine, prompt, 40)));
      // Shared cells (full-size cache) resume all three; checkpoint-only resumes (window-sized cache) at least two:
      // the third lands on the slot holding the prefix, which the coordinator may clear first (as for Mamba models).
      const resumed = results.filter((result) => result.start.cachedTokens === 200).length;
      expect(resumed).toBeGreaterThanOrEqual(swaFull ? 3 : 2);
      for (const [i, result] of results.entries()) {
        const reference = await run(cold, branches[i]!, 40);
        expect(compareStreams(reference, result).mismatchAt, `branch ${i}`).toBeUndefined();
      }
      await engine.dispose();
      await context.dispose();
      await cold.dispose();
    });

    test.each([true, false])("swaFull %s: turn 2 pinned to another slot than turn 1 (the live cross-slot case) continues exactly like a cold run", async (swaFull) => {
      const cold = new Engine({ model, context: await contextFor(true, 1), prefixCache: false });
      const context = await contextFor(swaFull, 3);
      const engine = new Engine({ model, context });
      const turn1 = long.slice(0, 200);
      const first = await run(engine, turn1, 24);
      const turn2 = Int32Array.from([...turn1, ...first.tokens, ...model.tokenize(" and then?", { addSpecial: false })]);
      const second = await run(engine, turn2, 60, 2);
      expect(second.start.slot).toBe(2);
      // A full-size cache shares turn 1's cells; a window-sized one cannot share them (see above) and starts cold.
      expect(second.start.cachedTokens).toBe(swaFull ? 200 + 24 - 1 : 0);
      const reference = await run(cold, turn2, 60);
      expect(compareStreams(reference, second).mismatchAt).toBeUndefined();
      await engine.dispose();
      await context.dispose();
      await cold.dispose();
    });

    test.each([true, false])("swaFull %s: swap preemption of sequences past the window continues exactly", async (swaFull) => {
      const inputs = [long.slice(0, 120), long.slice(60, 180), long.slice(120, 240)];
      const cold = new Engine({ model, context: await contextFor(true, 1), prefixCache: false });
      const reference: Run[] = [];
      for (const prompt of inputs) reference.push(await run(cold, prompt, 80));
      await cold.dispose();
      const context = await model.createContext({ ctx: 512, slots: 3, threads: 1, batch: 256, ubatch: 32, swaFull });
      const engine = new Engine({ model, context, admission: { preemption: "swap", headroomTokens: 16 } });
      const results = await Promise.all(inputs.map((prompt) => run(engine, prompt, 80)));
      results.forEach((result, i) => {
        const { compared, mismatchAt } = compareStreams(reference[i]!, result);
        expect(mismatchAt, `request ${i}`).toBeUndefined();
        expect(compared).toBeGreaterThan(0);
      });
      expect(engine.stats().preemption.swaps).toBeGreaterThan(0);
      await engine.dispose();
      await context.dispose();
    });
  });
}
