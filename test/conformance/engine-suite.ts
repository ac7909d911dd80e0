import { type Backend, type BackendModel, Engine, type StreamPart } from "@hybrid-llm/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fixturePath } from "../support/fixtures.js";
import { compareStreams, prompts } from "../support/greedy.js";

async function run(engine: Engine, prompt: Int32Array, options: { maxTokens: number; signal?: AbortSignal }) {
  const tokens: number[] = [];
  const margins: number[] = [];
  let finish: Extract<StreamPart, { type: "finish" }> | undefined;
  for await (const part of engine.generate({ prompt, temperature: 0, ...options })) {
    if (part.type === "token") {
      tokens.push(part.token);
      margins.push(part.margin);
    }
    if (part.type === "finish") finish = part;
  }
  return { tokens, margins, firstLogits: new Float32Array(), finish: finish! };
}

/** Nothing running or waiting; what the pool still holds is the prefix cache's, and clearing it frees everything. */
function expectEmpty(engine: Engine): void {
  const stats = engine.stats();
  expect([stats.slotsBusy, stats.poolCellsReserved - stats.poolCellsCached, stats.queueDepth, stats.active.length]).toEqual([0, 0, 0, 0]);
  engine.clearCache();
  const cleared = engine.stats();
  expect([cleared.poolCellsReserved, cleared.slotsCached, cleared.cache.checkpointBytes]).toEqual([0, 0, 0]);
}

/** The engine on real llama.cpp through a backend: batching invariants, cleanup, cancellation. */
export function defineEngineSuite(name: string, createBackend: () => Promise<Backend>): void {
  describe(`engine on the ${name} backend (nemotron-3-nano-twin)`, () => {
    let backend: Backend;
    let model: BackendModel;
    beforeAll(async () => {
      backend = await createBackend();
      model = await backend.loadModel({ path: await fixturePath("nemotron-3-nano-twin") });
    });
    afterAll(async () => {
      await backend?.dispose();
    });

    test("8 concurrent greedy requests produce exactly the tokens each produces alone", async () => {
      const inputs = prompts.map((text) => model.tokenize(text));
      const soloContext = await model.createContext({ ctx: 1024, slots: 1, threads: 1, batch: 256 });
      const soloEngine = new Engine({ model, context: soloContext });
      const solo: Awaited<ReturnType<typeof run>>[] = [];
      for (const prompt of inputs) solo.push(await run(soloEngine, prompt, { maxTokens: 12 }));
      await soloContext.dispose();

      const context = await model.createContext({ ctx: 8192, slots: 8, threads: 1, batch: 256 });
      const engine = new Engine({ model, context });
      const together = await Promise.all(inputs.map((prompt) => run(engine, prompt, { maxTokens: 12 })));
      let compared = 0;
      together.forEach((stream, i) => {
        const result = compareStreams(solo[i]!, stream);
        expect(result.mismatchAt, `request ${i}`).toBeUndefined();
        compared += result.compared;
      });
      expect(compared).toBeGreaterThanOrEqual(40);
      // Batched: far fewer steps than tokens.
      expect(engine.stats().steps).toBeLessThan(together.reduce((n, s) => n + s.tokens.length, 0));
      expectEmpty(engine);
      await context.dispose();
    });

    test("after completions, cancellations and errors, pool, slots and queue are empty; cancels free the slot at once", async () => {
      const context = await model.createContext({ ctx: 4096, slots: 2, threads: 1, batch: 32 });
      const engine = new Engine({ model, context, maxQueue: 8 });
      const [a, b, c] = prompts.map((text) => model.tokenize(text));
      // Mid-decode cancel.
      const decodeCancel = new AbortController();
      const decoding = run(engine, a!, { maxTokens: 200, signal: decodeCancel.signal });
      // Mid-prefill cancel: a long prompt in 32-token chunks.
      const prefillCancel = new AbortController();
      const prefilling = run(engine, model.tokenize("word ".repeat(120)), { maxTokens: 5, signal: prefillCancel.signal });
      // Queued behind both, completes normally.
      const normal = run(engine, b!, { maxTokens: 6 });
      // An error: a prompt with a token outside the vocabulary is refused before any work.
      expect(() => engine.generate({ prompt: Int32Array.of(1, 99999) })).toThrow(/outside the vocabulary/);
      while (engine.stats().tokensGenerated < 2 || engine.stats().promptTokensEvaluated < 40) await new Promise((resolve) => setTimeout(resolve, 2));
      decodeCancel.abort();
      prefillCancel.abort();
      const [d, p] = await Promise.all([decoding, prefilling]);
      expect(d.finish.reason).toBe("cancelled");
      expect(p.finish.reason).toBe("cancelled");
      expect(p.tokens).toEqual([]);
      expect((await normal).finish.reason).toMatch(/stop|length/);
      // A queued request cancelled before it starts.
      const queuedCancel = new AbortController();
      const one = run(engine, c!, { maxTokens: 4 });
      const two = run(engine, c!, { maxTokens: 4 });
      const three = run(engine, c!, { maxTokens: 4, signal: queuedCancel.signal });
      queuedCancel.abort();
      expect((await three).finish.reason).toBe("cancelled");
      expect((await one).tokens).toEqual((await two).tokens);
      await engine.idle();
      expectEmpty(engine);
      // The context itself is clean: every slot's sequence is empty.
      for (let slot = 0; slot < 2; slot++) expect(context.posMax(slot)).toBe(-1);
      await context.dispose();
    });
  });
}
