import { type Backend, type BackendModel, Engine, type StreamPart } from "@hybrid-llm/core";
import { BackendError } from "@hybrid-llm/core";
import { runPrefixChurn, withFaults } from "@hybrid-llm/core/testing";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fixturePath } from "../support/fixtures.js";
import { compareStreams, maxAbsDifference } from "../support/greedy.js";

interface Run {
  tokens: number[];
  margins: number[];
  firstLogits: Float32Array;
  start: Extract<StreamPart, { type: "start" }>;
  finish: Extract<StreamPart, { type: "finish" }>;
}

async function run(engine: Engine, prompt: Int32Array, options: { maxTokens: number; slot?: number }): Promise<Run> {
  const result = { tokens: [] as number[], margins: [] as number[], firstLogits: new Float32Array() } as Run;
  for await (const part of engine.generate({ prompt, temperature: 0, returnLogits: true, ignoreEndOfGeneration: true, ...options })) {
    if (part.type === "token") {
      if (result.tokens.length === 0) result.firstLogits = part.logits!;
      result.tokens.push(part.token);
      result.margins.push(part.margin);
    }
    if (part.type === "start") result.start = part;
    if (part.type === "finish") result.finish = part;
  }
  return result;
}

const concat = (...parts: ArrayLike<number>[]) => Int32Array.from(parts.flatMap((p) => Array.from(p)));

/** Tokens of the chat markup between an answer and the next user message, as the fixture's ChatML renders it. */
function turn(model: BackendModel, text: string): Int32Array {
  return model.tokenize(`<|im_end|>\n<|im_start|>user\n${text}<|im_end|>\n<|im_start|>assistant\n`, { addSpecial: false, parseSpecial: true });
}

/**
 * The prefix cache on real llama.cpp: resumed requests (shared attention cells + restored recurrent state) must
 * continue exactly like cold runs, on every backend.
 */
export function definePrefixCacheSuite(name: string, createBackend: () => Promise<Backend>, options: { churnRequests?: number } = {}): void {
  describe(`prefix cache on the ${name} backend (nemotron-3-nano-twin)`, () => {
    let backend: Backend;
    let model: BackendModel;
    let cold: Engine;
    beforeAll(async () => {
      backend = await createBackend();
      model = await backend.loadModel({ path: await fixturePath("nemotron-3-nano-twin") });
      cold = new Engine({ model, context: await model.createContext({ ctx: 2048, slots: 1, threads: 1, batch: 256 }), prefixCache: false });
    });
    afterAll(async () => {
      await backend?.dispose();
    });

    /** Greedy tokens and first-token logits of the resumed run equal the cold run's. */
    async function expectSameAsCold(warm: Run, prompt: Int32Array, maxTokens: number): Promise<number> {
      const reference = await run(cold, prompt, { maxTokens });
      const { compared, mismatchAt } = compareStreams(reference, warm);
      expect(mismatchAt).toBeUndefined();
      expect(maxAbsDifference(reference.firstLogits, warm.firstLogits)).toBeLessThan(1e-4);
      return compared;
    }

    test("a 3-turn chat: turns 2 and 3 evaluate only the new tokens and continue exactly like cold runs", async () => {
      const context = await model.createContext({ ctx: 4096, slots: 2, threads: 1, batch: 256 });
      const engine = new Engine({ model, context });
      let prompt = model.tokenize("<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n", { parseSpecial: true });
      let compared = 0;
      let previousCached = 0;
      let newTokens = 0;
      for (let round = 1; round <= 3; round++) {
        const evaluatedBefore = engine.stats().promptTokensEvaluated;
        const warm = await run(engine, prompt, { maxTokens: 40 });
        const evaluated = engine.stats().promptTokensEvaluated - evaluatedBefore;
        if (round > 1) {
          // Everything but the new turn came from the cache: the previous answer's last token (sampled, never
          // evaluated) and the new user message with its markup.
          expect(warm.start.cachedTokens).toBeGreaterThan(previousCached);
          expect(evaluated).toBe(prompt.length - warm.start.cachedTokens);
          expect(evaluated).toBe(newTokens + 1);
        }
        expect(warm.finish.usage.cachedPromptTokens).toBe(warm.start.cachedTokens);
        compared += await expectSameAsCold(warm, prompt, 40);
        previousCached = warm.start.cachedTokens;
        const next = turn(model, `Question number ${round + 1}, please.`);
        newTokens = next.length;
        prompt = concat(prompt, warm.tokens, next);
      }
      expect(compared).toBeGreaterThanOrEqual(32 * 3 * 0.5);
      expect(engine.stats().cache.hits).toBe(2);
      await engine.dispose();
      for (let slot = 0; slot < 2; slot++) expect(context.posMax(slot)).toBe(-1);
      await context.dispose();
    });

    test("turn 2 routed to another slot than turn 1 resumes from turn 1's cells (cross-slot)", async () => {
      const context = await model.createContext({ ctx: 4096, slots: 3, threads: 1, batch: 256 });
      const engine = new Engine({ model, context });
      const turn1 = model.tokenize("<|im_start|>user\nWhat is a state space model?<|im_end|>\n<|im_start|>assistant\n", { parseSpecial: true });
      const first = await run(engine, turn1, { maxTokens: 24, slot: 0 });
      const turn2 = concat(turn1, first.tokens, turn(model, "And how does attention differ?"));
      const second = await run(engine, turn2, { maxTokens: 32, slot: 2 });
      expect(second.start.slot).toBe(2);
      expect(second.start.cachedTokens).toBe(turn1.length + first.tokens.length - 1);
      expect(await expectSameAsCold(second, turn2, 32)).toBeGreaterThan(8);
      // Slot 0 still holds turn 1; its cells are slot 2's prefix, counted once.
      expect(engine.slots().map((s) => s.phase)).toEqual(["idle", "empty", "idle"]);
      expect(engine.stats().poolCellsReserved).toBe(engine.slots()[2]!.tokens);
      await engine.dispose();
      await context.dispose();
    });

    test("two concurrent requests sharing a 1,000-token system prompt evaluate it once", async () => {
      const context = await model.createContext({ ctx: 4096, slots: 4, threads: 1, batch: 256 });
      const engine = new Engine({ model, context });
      const system = model.tokenize("You are a careful assistant. ".repeat(200)).subarray(0, 1000);
      const a = concat(system, model.tokenize(" First user asks about rivers.", { addSpecial: false }));
      const b = concat(system, model.tokenize(" Second user asks about mountains.", { addSpecial: false }));
      let shared = 0;
      while (a[shared] === b[shared]) shared++;
      expect(shared).toBeGreaterThanOrEqual(1000);
      const [ra, rb] = await Promise.all([run(engine, a, { maxTokens: 8 }), run(engine, b, { maxTokens: 8 })]);
      expect(ra.start.cachedTokens + rb.start.cachedTokens).toBe(shared);
      expect(engine.stats().promptTokensEvaluated).toBe(a.length + b.length - shared);
      // The one that resumed from the other's cells continues exactly like a cold run.
      const [resumed, prompt] = ra.start.cachedTokens > 0 ? [ra, a] : [rb, b];
      await expectSameAsCold(resumed, prompt, 8);
      await engine.dispose();
      await context.dispose();
    });

    test("injected faults on real llama.cpp: a failed decode and a failed restore fail only their requests", async () => {
      const faulty = withFaults(backend, (point, call) =>
        (point === "decode" && call === 3) || (point === "setState" && call === 1) ? new BackendError({ code: "decode-failed", message: `injected ${point} failure` }) : undefined,
      );
      const faultyModel = await faulty.loadModel({ path: await fixturePath("nemotron-3-nano-twin") });
      const context = await faultyModel.createContext({ ctx: 2048, slots: 2, threads: 1, batch: 256 });
      const engine = new Engine({ model: faultyModel, context });
      const prompt = model.tokenize("Tell me about recurrent state and attention caches.");
      const failedDecode = await engine.complete({ prompt, temperature: 0, maxTokens: 6, ignoreEndOfGeneration: true });
      expect(failedDecode.reason).toBe("error");
      expect(BackendError.isInstance(failedDecode.error)).toBe(true);
      const retried = await run(engine, prompt, { maxTokens: 6 });
      expect(retried.start.cachedTokens).toBe(0); // the failed slot was cleared, not cached
      await expectSameAsCold(retried, prompt, 6);
      // A branch at the end of that prompt resumes from its checkpoint: the first restore fails, the retry works.
      const branch = concat(prompt, model.tokenize(" And then?", { addSpecial: false }));
      const failedRestore = await engine.complete({ prompt: branch, temperature: 0, maxTokens: 6 });
      expect(failedRestore.error?.message).toMatch(/injected setState/);
      const resumed = await run(engine, branch, { maxTokens: 6 });
      expect(resumed.start.cachedTokens).toBe(prompt.length);
      await expectSameAsCold(resumed, branch, 6);
      expect(engine.stats().slotsBusy).toBe(0);
      await engine.dispose();
      await faultyModel.dispose();
    });

    test("randomized churn with cancellations and evictions: outputs equal cold runs; the cache returns to idle", async () => {
      const context = await model.createContext({ ctx: 1024, slots: 3, threads: 1, batch: 64 });
      const report = await runPrefixChurn({
        model,
        context,
        referenceContext: await model.createContext({ ctx: 1024, slots: 1, threads: 1, batch: 64 }),
        prefixCache: { checkpointBudgetBytes: 6 * 48 * 1024 ** 2, minBranchTokens: 8 },
        requests: options.churnRequests ?? 24,
        concurrency: 4,
        systemTokens: 60,
        tokenRange: [300, model.info.vocabSize],
        maxTokens: 6,
        tolerance: 1e-3,
      });
      expect(report.mismatches).toEqual([]);
      expect(report.compared).toBeGreaterThan(30);
      expect(report.hits).toBeGreaterThan(5);
      const { idle, cleared } = report;
      expect([idle.slotsBusy, idle.queueDepth, idle.poolCellsReserved - idle.poolCellsCached]).toEqual([0, 0, 0]);
      expect(idle.cache.checkpointBytes).toBeLessThanOrEqual(6 * 48 * 1024 ** 2);
      expect([cleared.poolCellsReserved, cleared.slotsCached, cleared.cache.checkpointBytes]).toEqual([0, 0, 0]);
      for (let slot = 0; slot < 3; slot++) expect(context.posMax(slot)).toBe(-1);
      await context.dispose();
    });
  });
}
