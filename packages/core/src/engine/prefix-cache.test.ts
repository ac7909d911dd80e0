import { describe, expect, test } from "vitest";
import type { BackendModel } from "../backend/index.js";
import type { PrefixCacheOptions } from "../cache/cache-coordinator.js";
import { MockBackend } from "../testing/mock-backend.js";
import { runPrefixChurn } from "../testing/prefix-churn.js";
import { type AdmissionOptions, Engine } from "./engine.js";
import type { StreamPart } from "./stream-part.js";

async function setup(options: { ctx?: number; slots?: number; batch?: number; prefixCache?: PrefixCacheOptions | false; decodeDelayMs?: number; admission?: AdmissionOptions } = {}) {
  const backend = new MockBackend({ decodeDelayMs: options.decodeDelayMs ?? 0 });
  const model: BackendModel = await backend.loadModel();
  const context = await model.createContext({ ctx: options.ctx ?? 4096, slots: options.slots ?? 4, batch: options.batch ?? 512 });
  const engine = new Engine({ model, context, ...(options.prefixCache !== undefined ? { prefixCache: options.prefixCache } : {}), ...(options.admission ? { admission: options.admission } : {}) });
  return { backend, model, context, engine };
}

async function run(engine: Engine, prompt: Int32Array, extra: { maxTokens?: number; slot?: number; ignoreEndOfGeneration?: boolean } = {}) {
  const tokens: number[] = [];
  let start: Extract<StreamPart, { type: "start" }> | undefined;
  let finish: Extract<StreamPart, { type: "finish" }> | undefined;
  const { maxTokens = 12, ...rest } = extra;
  for await (const part of engine.generate({ prompt, temperature: 0, maxTokens, ...rest })) {
    if (part.type === "token") tokens.push(part.token);
    if (part.type === "start") start = part;
    if (part.type === "finish") finish = part;
  }
  return { tokens, start: start!, finish: finish! };
}

const concat = (...parts: ArrayLike<number>[]) => Int32Array.from(parts.flatMap((p) => Array.from(p)));

describe("prefix cache on the MockBackend", () => {
  test("a 3-turn chat evaluates only each turn's new tokens and continues exactly like a cold run", async () => {
    const { engine, model } = await setup();
    const cold = (await setup({ prefixCache: false })).engine;
    let history = model.tokenize("system: be brief\nuser: hi\nassistant: ");
    let newTokens = 0;
    let unevaluated = 0; // an answer cut by max_tokens ends with a token that was sampled but never evaluated
    for (let turn = 1; turn <= 3; turn++) {
      const before = engine.stats().promptTokensEvaluated;
      const warm = await run(engine, history);
      const reference = await run(cold, history);
      expect(warm.tokens).toEqual(reference.tokens);
      const evaluated = engine.stats().promptTokensEvaluated - before;
      if (turn === 1) expect(warm.finish.usage.cachedPromptTokens).toBe(0);
      else {
        // Everything up to the end of the previous answer came from the cache.
        expect(warm.finish.usage.cachedPromptTokens).toBe(history.length - newTokens - unevaluated);
        expect(evaluated).toBe(newTokens + unevaluated);
      }
      expect(warm.finish.usage.promptTokens).toBe(history.length);
      const next = model.tokenize(`\nuser: turn ${turn + 1}\nassistant: `, { addSpecial: false });
      newTokens = next.length;
      unevaluated = warm.finish.reason === "length" ? 1 : 0;
      history = concat(history, warm.tokens, next);
    }
    const stats = engine.stats().cache;
    expect([stats.hits, stats.misses]).toEqual([2, 1]);
  });

  test("a turn routed to another slot reuses the first slot's cells (cross-slot hit)", async () => {
    const { engine, model } = await setup();
    const cold = (await setup({ prefixCache: false })).engine;
    const turn1 = model.tokenize("user: what is a mamba layer?\nassistant: ");
    const first = await run(engine, turn1, { slot: 0 });
    const turn2 = concat(turn1, first.tokens, model.tokenize("\nuser: and attention?\nassistant: ", { addSpecial: false }));
    const second = await run(engine, turn2, { slot: 2 });
    expect(second.start.slot).toBe(2);
    expect(second.start.cachedTokens).toBe(turn1.length + first.tokens.length - (first.finish.reason === "length" ? 1 : 0));
    expect(second.tokens).toEqual((await run(cold, turn2)).tokens);
    // Both slots now reference the shared cells once.
    // Slot 0's cells are now slot 2's prefix: the pool counts them once.
    expect(engine.stats().poolCellsReserved).toBe(engine.slots()[2]!.tokens);
  });

  test("two concurrent requests sharing a long system prompt evaluate it once", async () => {
    const { engine, model } = await setup({ batch: 64 });
    const system = model.tokenize("system: " + "you are a helpful assistant. ".repeat(10));
    const a = concat(system, model.tokenize("user: tell me a story", { addSpecial: false }));
    const b = concat(system, model.tokenize("user: what time is it", { addSpecial: false }));
    const [ra, rb] = await Promise.all([run(engine, a, { maxTokens: 4 }), run(engine, b, { maxTokens: 4 })]);
    const shared = system.length + "user: ".length; // the prompts diverge after "user: "
    expect(ra.start.cachedTokens).toBe(0);
    expect(rb.start.cachedTokens).toBe(shared);
    expect(engine.stats().promptTokensEvaluated).toBe(a.length + b.length - shared);
    const cold = (await setup({ prefixCache: false })).engine;
    expect(rb.tokens).toEqual((await run(cold, b, { maxTokens: 4 })).tokens);
  });

  test("a third user with the same system prompt resumes at the branch point the second one left", async () => {
    const { engine, model } = await setup();
    const system = model.tokenize("system: " + "answer in french. ".repeat(8));
    const user = (text: string) => concat(system, model.tokenize(`user: ${text}`, { addSpecial: false }));
    await run(engine, user("one"));
    const second = await run(engine, user("two"));
    expect(second.start.cachedTokens).toBe(0); // only the end of "one" was checkpointed: nothing to resume from
    const third = await run(engine, user("three"));
    // "two" branched from "one" after "user: ", and left a checkpoint there; "three" shares one more token ("t")
    // with "two", which it must evaluate again for want of a state there.
    expect(third.start.cachedTokens).toBe(system.length + "user: ".length);
    expect(engine.stats().cache.tokensLost).toBe(system.length + "user: ".length + 1);
  });

  test("the checkpoint store stays within its byte budget and evicts; cached prefixes give way to new requests", async () => {
    const { engine, model } = await setup({ slots: 2, ctx: 512, prefixCache: { checkpointBudgetBytes: 3000 } });
    for (let i = 0; i < 12; i++) {
      await run(engine, model.tokenize(`request ${i}: ` + "padding ".repeat(10 + i)), { maxTokens: 6 });
      const stats = engine.stats();
      expect(stats.cache.checkpointBytes).toBeLessThanOrEqual(3000);
      expect(stats.poolCellsReserved).toBeLessThanOrEqual(512);
    }
    const stats = engine.stats().cache;
    expect(stats.checkpointEvictions + stats.prefixEvictions).toBeGreaterThan(0);
    expect(stats.prefixEvictions).toBeGreaterThan(0); // 2 slots, 12 different prompts
  });

  test("when the pool cannot keep the source's other cells, the request resumes in place instead of waiting", async () => {
    // Worst-case reservation, so the branch claims all of its 120 tokens up front.
    const { engine, model } = await setup({ ctx: 256, slots: 2, admission: { reserve: "worst-case" } });
    const prefix = model.tokenize("x".repeat(99)); // 100 tokens
    const first = await run(engine, prefix, { maxTokens: 40, ignoreEndOfGeneration: true }); // slot 0 keeps 139 cells
    expect(first.tokens.length).toBe(40);
    // A branch at the end of the prompt needing 20 + 120 new cells: beside slot 0's 140 the pool (256) is too small.
    const branch = concat(prefix, model.tokenize("y".repeat(20), { addSpecial: false }));
    const second = await run(engine, branch, { maxTokens: 120, ignoreEndOfGeneration: true });
    expect(second.start).toMatchObject({ slot: 0, cachedTokens: 100 });
    const cold = (await setup({ prefixCache: false })).engine;
    expect(second.tokens).toEqual((await run(cold, branch, { maxTokens: 120, ignoreEndOfGeneration: true })).tokens);
  });

  test("per-slot KV streams (not unified): a turn resumes in its own slot; other slots start cold", async () => {
    const backend = new MockBackend();
    const model = await backend.loadModel();
    const context = await model.createContext({ ctx: 2048, slots: 2, unified: false });
    const engine = new Engine({ model, context });
    const turn1 = model.tokenize("user: hello\nassistant: ");
    const first = await run(engine, turn1, { maxTokens: 8, ignoreEndOfGeneration: true });
    const turn2 = concat(turn1, first.tokens, model.tokenize("\nuser: more\nassistant: ", { addSpecial: false }));
    const same = await run(engine, turn2, { maxTokens: 8 });
    expect(same.start).toMatchObject({ slot: 0, cachedTokens: turn1.length + 7 });
    // Pinned to the other stream, the cells cannot be shared: cold, and still correct.
    const other = await run(engine, turn2, { maxTokens: 8, slot: 1 });
    expect(other.start).toMatchObject({ slot: 1, cachedTokens: 0 });
    expect(other.tokens).toEqual(same.tokens);
  });

  test("with the cache off nothing is reused and finished slots are cleared", async () => {
    const { engine, model } = await setup({ prefixCache: false });
    const prompt = model.tokenize("same prompt twice");
    await run(engine, prompt);
    const again = await run(engine, prompt);
    expect(again.start.cachedTokens).toBe(0);
    expect(engine.stats().poolCellsReserved).toBe(0);
  });

  test("randomized churn: sharing, branching, multi-turn, cancels and evictions — every output equals its cold run", async () => {
    const backend = new MockBackend();
    const model = await backend.loadModel();
    for (const seed of [1, 2, 3]) {
      const report = await runPrefixChurn({
        model,
        context: await model.createContext({ ctx: 1024, slots: 4, batch: 48 }),
        referenceContext: await model.createContext({ ctx: 1024, slots: 1 }),
        prefixCache: { checkpointBudgetBytes: 40_000, minBranchTokens: 8 },
        requests: 80,
        seed,
        tokenRange: [36, 200], // no "." (ends generation) in prompts
        maxTokens: 10,
      });
      expect(report.mismatches).toEqual([]);
      expect(report.compared).toBeGreaterThan(150);
      expect(report.hits).toBeGreaterThan(20);
      expect(report.cancelled).toBeGreaterThan(3);
      expect(report.idle.cache.prefixEvictions).toBeGreaterThan(0);
      const { idle, cleared } = report;
      expect([idle.slotsBusy, idle.queueDepth, idle.active.length]).toEqual([0, 0, 0]);
      expect(idle.poolCellsReserved).toBe(idle.poolCellsCached);
      expect(idle.cache.checkpointBytes).toBeLessThanOrEqual(40_000);
      expect([cleared.poolCellsReserved, cleared.poolCellsUsed, cleared.slotsCached, cleared.cache.checkpointBytes]).toEqual([0, 0, 0, 0]);
    }
  });
});
