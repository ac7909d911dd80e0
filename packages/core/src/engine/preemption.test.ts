import { describe, expect, test } from "vitest";
import type { BackendModel } from "../backend/index.js";
import { BackendError } from "../errors/backend-error.js";
import { withFaults } from "../testing/fault-injection.js";
import { MockBackend } from "../testing/mock-backend.js";
import { type AdmissionOptions, Engine } from "./engine.js";
import type { StreamPart } from "./stream-part.js";

async function setup(options: { ctx: number; slots: number; admission?: AdmissionOptions; decodeDelayMs?: number }) {
  const backend = new MockBackend({ decodeDelayMs: options.decodeDelayMs ?? 0 });
  const model: BackendModel = await backend.loadModel();
  const context = await model.createContext({ ctx: options.ctx, slots: options.slots });
  return { model, engine: new Engine({ model, context, ...(options.admission ? { admission: options.admission } : {}) }) };
}

const texts = ["the cat sat on the mat", "once upon a time there", "to be or not to be", "lorem ipsum dolor sit", "abc def ghi jkl", "qwerty uiop asdf"];
const request = (prompt: Int32Array, maxTokens = 100) => ({ prompt, temperature: 0, maxTokens, stopTokens: [], ignoreEndOfGeneration: true });

/** Every request alone on a roomy engine: the reference outputs. */
async function solo(model: BackendModel, maxTokens = 100) {
  const { engine } = await setup({ ctx: 4096, slots: 1 });
  const out: number[][] = [];
  for (const text of texts) out.push((await engine.complete(request(model.tokenize(text), maxTokens))).tokens);
  return out;
}

function expectIdle(engine: Engine) {
  const stats = engine.stats();
  expect([stats.slotsBusy, stats.queueDepth, stats.poolCellsReserved - stats.poolCellsCached, stats.preemption.waiting, stats.preemption.swapBytes]).toEqual([0, 0, 0, 0, 0]);
  engine.clearCache();
  expect(engine.stats().poolCellsReserved).toBe(0);
}

describe("on-demand admission and preemption (MockBackend)", () => {
  test("a pool too small for every request's maximum: on-demand admits them all at once; worst-case runs them a few at a time", async () => {
    // 6 requests × (≈23 prompt + 100 output) ≈ 740 cells against a pool of 512: worst-case admits 4 at a time.
    const { model, engine: worst } = await setup({ ctx: 512, slots: 6, admission: { reserve: "worst-case" } });
    const reference = await solo(model);
    const results = await Promise.all(texts.map((t) => worst.complete(request(model.tokenize(t)))));
    expect(results.map((r) => r.tokens)).toEqual(reference);
    expect(worst.stats().peakActive).toBeLessThan(texts.length);
    expect(worst.stats().preemption.swaps + worst.stats().preemption.recomputes).toBe(0);

    const { engine } = await setup({ ctx: 512, slots: 6 });
    const demand = await Promise.all(texts.map((t) => engine.complete(request(model.tokenize(t)))));
    expect(demand.map((r) => r.tokens)).toEqual(reference);
    expect(engine.stats().peakActive).toBe(texts.length);
    expectIdle(engine);
  });

  test.each(["swap", "recompute", "auto"] as const)("preemption by %s: every output equals its unpreempted run; the pool, slots and swap space end idle", async (preemption) => {
    // 6 requests growing to ≈123 cells each in a 512-cell pool (384 padded to 256s): preemption is unavoidable.
    const { model, engine } = await setup({ ctx: 384, slots: 6, admission: { preemption, headroomTokens: 8 } });
    const reference = await solo(model);
    const results = await Promise.all(texts.map((t) => engine.complete(request(model.tokenize(t)))));
    expect(results.map((r) => r.reason)).toEqual(texts.map(() => "length"));
    expect(results.map((r) => r.tokens)).toEqual(reference);
    const stats = engine.stats().preemption;
    if (preemption === "swap") expect([stats.swaps > 0, stats.recomputes]).toEqual([true, 0]);
    if (preemption === "recompute") expect([stats.swaps, stats.recomputes > 0, stats.tokensRecomputed > 0]).toEqual([0, true, true]);
    if (preemption === "auto") expect(stats.swaps + stats.recomputes).toBeGreaterThan(0);
    expect(engine.stats().poolCellsReserved).toBeLessThanOrEqual(engine.stats().poolCells);
    expectIdle(engine);
  });

  test("a swap that does not fit the swap budget is recomputed instead", async () => {
    const { model, engine } = await setup({ ctx: 384, slots: 6, admission: { preemption: "swap", swapBudgetBytes: 0, headroomTokens: 8 } });
    const reference = await solo(model);
    const results = await Promise.all(texts.map((t) => engine.complete(request(model.tokenize(t)))));
    expect(results.map((r) => r.tokens)).toEqual(reference);
    expect(engine.stats().preemption.swaps).toBe(0);
    expect(engine.stats().preemption.recomputes).toBeGreaterThan(0);
    expectIdle(engine);
  });

  test("no starvation: a preempted request resumes before any request that arrived after it starts", async () => {
    const { model, engine } = await setup({ ctx: 256, slots: 4, admission: { preemption: "recompute", headroomTokens: 8 }, decodeDelayMs: 1 });
    const events: string[] = [];
    const watch = async (name: string, stream: AsyncIterable<StreamPart>) => {
      let tokens = 0;
      for await (const part of stream) {
        if (part.type === "start") events.push(`${name}:start:waiting=${engine.stats().preemption.waiting}`);
        if (part.type === "token") tokens++;
        if (part.type === "finish") events.push(`${name}:finish:${part.reason}:${tokens}`);
      }
    };
    const a = watch("a", engine.generate(request(model.tokenize("the cat sat on the mat"), 150)));
    const b = watch("b", engine.generate(request(model.tokenize("once upon a time there"), 150)));
    // Wait until b has been preempted (a's and b's growth overflow 256 cells), then submit c.
    while (engine.stats().preemption.recomputes === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    const c = watch("c", engine.generate(request(model.tokenize("late arrival"), 20)));
    await Promise.all([a, b, c]);
    expect(events.filter((e) => e.includes("finish"))).toEqual(expect.arrayContaining(["a:finish:length:150", "b:finish:length:150", "c:finish:length:20"]));
    // When c started, nothing preempted was waiting any more: b (preempted before c arrived) had resumed first.
    expect(events).toContain("c:start:waiting=0");
    const stats = engine.stats();
    expect(stats.preemption.waiting).toBe(0);
    expectIdle(engine);
  });

  test("cancelling a request while it waits preempted ends it once and frees its swap space", async () => {
    const { model, engine } = await setup({ ctx: 256, slots: 4, admission: { preemption: "swap", headroomTokens: 8 }, decodeDelayMs: 1 });
    const controller = new AbortController();
    const a = engine.complete(request(model.tokenize("the cat sat on the mat"), 200));
    const b = engine.complete({ ...request(model.tokenize("once upon a time there"), 200), signal: controller.signal });
    while (engine.stats().preemption.waiting === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    expect(engine.stats().preemption.swapBytes).toBeGreaterThan(0);
    controller.abort();
    expect((await b).reason).toBe("cancelled");
    expect(engine.stats().preemption.swapBytes).toBe(0);
    expect((await a).tokens.length).toBe(200);
    expectIdle(engine);
  });
});

describe("preemption corner cases (found by review probes)", () => {
  test("a request recomputed, then swapped out while it re-prefills, resumes with room for the rest of its prefill; nobody else fails", async () => {
    const model = await new MockBackend().loadModel();
    const engine = new Engine({
      model,
      context: await model.createContext({ ctx: 256, slots: 4, batch: 4 }),
      prefixCache: false,
      // A budget that holds a short state but not a long one: the first preemption recomputes, a later one swaps.
      admission: { preemption: "swap", swapBudgetBytes: 17355, headroomTokens: 1 },
    });
    const prompts = [model.tokenize("first one"), model.tokenize("second one"), model.tokenize("last " + "xy ".repeat(34))];
    const maxTokens = [195, 166, 20];
    const results = await Promise.all(prompts.map((prompt, i) => engine.complete(request(prompt, maxTokens[i]))));
    expect(results.map((r) => r.reason)).toEqual(["length", "length", "length"]);
    const { engine: roomy } = await setup({ ctx: 4096, slots: 1 });
    for (const [i, prompt] of prompts.entries()) expect(results[i]!.tokens).toEqual((await roomy.complete(request(prompt, maxTokens[i]))).tokens);
    expect(engine.stats().preemption.recomputes).toBeGreaterThan(0);
    expectIdle(engine);
  });

  test("a state that cannot be read for a swap (getState fails) is recomputed instead; every request completes", async () => {
    const backend = withFaults(new MockBackend(), (point) => (point === "getState" ? new BackendError({ code: "unavailable", message: "injected: state too large" }) : undefined));
    const model = await backend.loadModel({ bytes: new Uint8Array() });
    const engine = new Engine({ model, context: await model.createContext({ ctx: 384, slots: 6 }), prefixCache: false, admission: { preemption: "swap", headroomTokens: 8 } });
    const reference = await solo(model);
    const results = await Promise.all(texts.map((t) => engine.complete(request(model.tokenize(t)))));
    expect(results.map((r) => r.tokens)).toEqual(reference);
    expect([engine.stats().preemption.swaps, engine.stats().preemption.recomputes > 0]).toEqual([0, true]);
    expectIdle(engine);
  });

  test("a request pinned to a slot resumes on that slot after a preemption", async () => {
    const { model, engine } = await setup({ ctx: 256, slots: 4, admission: { preemption: "swap", headroomTokens: 4 }, decodeDelayMs: 1 });
    const slots = new Set<number>();
    const watch = async (stream: AsyncIterable<StreamPart>) => {
      for await (const part of stream) if (part.type === "start") slots.add(part.slot);
    };
    const first = engine.complete(request(model.tokenize("the cat sat on the mat"), 150));
    const pinned = watch(engine.generate({ ...request(model.tokenize("once upon a time there"), 150), slot: 2 }));
    await Promise.all([first, pinned]);
    expect(engine.stats().preemption.swaps).toBeGreaterThan(0);
    expect(engine.slots().filter((s) => s.phase === "idle").map((s) => s.slot)).toContain(2);
    expect([...slots]).toEqual([2]);
  });
});
