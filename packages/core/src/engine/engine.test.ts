import { describe, expect, test } from "vitest";
import type { BackendContext, BackendModel } from "../backend/index.js";
import { ContextOverflowError } from "../errors/context-overflow-error.js";
import { InvalidArgumentError } from "../errors/invalid-argument-error.js";
import { QueueFullError } from "../errors/queue-full-error.js";
import { BackendError } from "../errors/backend-error.js";
import { withFaults } from "../testing/fault-injection.js";
import { MockBackend } from "../testing/mock-backend.js";
import { Engine } from "./engine.js";
import type { StreamPart } from "./stream-part.js";

async function setup(options: { ctx?: number; slots?: number; batch?: number; maxQueue?: number; decodeDelayMs?: number } = {}) {
  const backend = new MockBackend({ decodeDelayMs: options.decodeDelayMs ?? 0 });
  const model: BackendModel = await backend.loadModel();
  const context: BackendContext = await model.createContext({ ctx: options.ctx ?? 4096, slots: options.slots ?? 8, batch: options.batch ?? 512 });
  const engine = new Engine({ model, context, maxQueue: options.maxQueue ?? 64, defaultMaxTokens: 24 });
  return { backend, model, context, engine };
}

async function collect(stream: AsyncIterable<StreamPart>): Promise<StreamPart[]> {
  const parts: StreamPart[] = [];
  for await (const part of stream) parts.push(part);
  return parts;
}

/** Nothing running or waiting; what the pool still holds is the prefix cache's, and clearing it frees everything. */
function expectEmpty(engine: Engine): void {
  const stats = engine.stats();
  expect({ slotsBusy: stats.slotsBusy, reserved: stats.poolCellsReserved, queue: stats.queueDepth, active: stats.active.length }).toEqual({
    slotsBusy: 0,
    reserved: stats.poolCellsCached,
    queue: 0,
    active: 0,
  });
  expect(stats.cache.checkpointBytes).toBeLessThanOrEqual(stats.cache.checkpointBudgetBytes);
  engine.clearCache();
  const cleared = engine.stats();
  expect([cleared.poolCellsReserved, cleared.poolCellsUsed, cleared.slotsCached, cleared.cache.checkpoints, cleared.cache.checkpointBytes]).toEqual([0, 0, 0, 0, 0]);
}

const prompts = ["hello there", "the cat sat on", "once upon a time", "abc", "xyz xyz", "to be or not", "qwerty", "lorem ipsum dolor"];

describe("Engine on the MockBackend", () => {
  test("a stream is start, tokens with text deltas, then finish with usage; text == detokenized tokens", async () => {
    const { engine, model } = await setup();
    const parts = await collect(engine.generate({ prompt: model.tokenize("hello there"), temperature: 0 }));
    expect(parts[0]).toMatchObject({ type: "start", slot: 0, promptTokens: 12 });
    const finish = parts.at(-1)!;
    expect(finish.type).toBe("finish");
    const tokens = parts.flatMap((p) => (p.type === "token" ? [p.token] : []));
    const text = parts.flatMap((p) => (p.type === "text-delta" ? [p.text] : [])).join("");
    expect(tokens.length).toBeGreaterThan(0);
    expect(text).toBe(model.detokenize(Int32Array.from(tokens)));
    expect(finish).toMatchObject({ text, usage: { promptTokens: 12, completionTokens: tokens.length, cachedPromptTokens: 0 } });
    expectEmpty(engine);
  });

  test("8 concurrent requests: each gets its solo tokens, in far fewer steps than one at a time", async () => {
    const solo = [];
    for (const text of prompts) {
      const { engine, model } = await setup({ slots: 1 });
      solo.push((await engine.complete({ prompt: model.tokenize(text), temperature: 0 })).tokens);
    }
    const { engine, model } = await setup({ slots: 8 });
    const together = await Promise.all(prompts.map((text) => engine.complete({ prompt: model.tokenize(text), temperature: 0 })));
    expect(together.map((c) => c.tokens)).toEqual(solo);
    const longest = Math.max(...solo.map((t) => t.length));
    expect(engine.stats().steps).toBeLessThanOrEqual(longest + 2);
    expectEmpty(engine);
  });

  test("chunked prefill: a long prompt is split across steps while others keep decoding", async () => {
    const { engine, model, backend } = await setup({ batch: 16, slots: 2 });
    const first = engine.complete({ prompt: model.tokenize("hello there"), temperature: 0, maxTokens: 20 });
    const long = engine.complete({ prompt: model.tokenize("x".repeat(100)), temperature: 0, maxTokens: 3 });
    const [a] = await Promise.all([first, long]);
    // Every batch respects the batch size; while request 1 generates, each batch carries its decode row next to a
    // chunk of request 2's prompt, so the long prompt never stalls it.
    expect(backend.batches.every((b) => b.tokens.length <= 16)).toBe(true);
    const mixed = backend.batches.filter((b) => b.sequenceIds.includes(0) && b.sequenceIds.includes(1) && b.tokens.length > 2);
    expect(a.tokens.length).toBeGreaterThanOrEqual(6);
    expect(mixed.length).toBeGreaterThanOrEqual(Math.min(a.tokens.length - 1, 6)); // 101 prompt tokens, 15 or so per step
    for (const batch of mixed.slice(1)) expect(batch.outputs[batch.sequenceIds.indexOf(0)]).toBe(1);
    expectEmpty(engine);
  });

  test("pool exhaustion: a request waits until the shared pool has room for its reservation", async () => {
    const { engine, model } = await setup({ ctx: 256, slots: 4, decodeDelayMs: 1 });
    const prompt = model.tokenize("a".repeat(99)); // 100 tokens + 100 max tokens = 200 of the 256 cells
    const a = engine.complete({ prompt, maxTokens: 100, temperature: 0 });
    const b = engine.complete({ prompt, maxTokens: 100, temperature: 0 });
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(engine.stats().slotsBusy).toBe(1);
    expect(engine.stats().queueDepth).toBe(1);
    const [ra, rb] = await Promise.all([a, b]);
    expect(rb.tokens).toEqual(ra.tokens);
    expectEmpty(engine);
  });

  test("a full queue refuses with QueueFullError; an impossible prompt with ContextOverflowError; nothing leaks", async () => {
    const { engine, model } = await setup({ slots: 1, maxQueue: 1, ctx: 256, decodeDelayMs: 1 });
    const running = engine.complete({ prompt: model.tokenize("abc"), temperature: 0 });
    await new Promise((resolve) => setTimeout(resolve, 0));
    const queued = engine.complete({ prompt: model.tokenize("abc"), temperature: 0 });
    expect(() => engine.generate({ prompt: model.tokenize("abc") })).toThrow(QueueFullError);
    expect(() => engine.generate({ prompt: model.tokenize("z".repeat(300)) })).toThrow(ContextOverflowError);
    await Promise.all([running, queued]);
    expectEmpty(engine);
  });

  test("slot reuse: sequential requests on one slot give the same tokens as fresh ones", async () => {
    const { engine, model } = await setup({ slots: 1 });
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await engine.complete({ prompt: model.tokenize("the cat sat on"), temperature: 0 }));
    expect(results[1]!.tokens).toEqual(results[0]!.tokens);
    expect(results[2]!.tokens).toEqual(results[0]!.tokens);
    expectEmpty(engine);
  });

  test("cancellation: queued, mid-prefill and mid-decode requests end 'cancelled' and free their slot at once", async () => {
    const { engine, model } = await setup({ slots: 1, batch: 8, decodeDelayMs: 2 });
    const decoding = new AbortController();
    const queued = new AbortController();
    const first = collect(engine.generate({ prompt: model.tokenize("abc"), temperature: 0, maxTokens: 200, stopTokens: [2, 3], signal: decoding.signal }));
    const second = collect(engine.generate({ prompt: model.tokenize("def"), temperature: 0, signal: queued.signal }));
    queued.abort();
    expect(engine.stats().queueDepth).toBe(0);
    while (engine.stats().tokensGenerated < 2) await new Promise((resolve) => setTimeout(resolve, 1));
    decoding.abort();
    const parts = await first;
    expect(parts.at(-1)).toMatchObject({ type: "finish", reason: "cancelled" });
    expect(engine.stats().slotsBusy).toBe(0);
    expect((await second).at(-1)).toMatchObject({ type: "finish", reason: "cancelled" });

    const prefill = new AbortController();
    const long = collect(engine.generate({ prompt: model.tokenize("y".repeat(200)), temperature: 0, signal: prefill.signal }));
    while (engine.stats().promptTokensEvaluated < 8 + 4) await new Promise((resolve) => setTimeout(resolve, 1));
    prefill.abort();
    expect((await long).at(-1)).toMatchObject({ type: "finish", reason: "cancelled", usage: { completionTokens: 0 } });
    await engine.idle();
    expectEmpty(engine);
  });

  test("stop strings end generation before the stop text; a pre-aborted request never starts", async () => {
    const { engine, model } = await setup();
    const full = await engine.complete({ prompt: model.tokenize("once upon a time"), temperature: 0, maxTokens: 20 });
    expect(full.text.length).toBeGreaterThan(6);
    const stop = full.text.slice(4, 6);
    const cut = await engine.complete({ prompt: model.tokenize("once upon a time"), temperature: 0, maxTokens: 20, stop: [stop] });
    expect(cut.reason).toBe("stop");
    expect(cut.text).toBe(full.text.slice(0, full.text.indexOf(stop)));
    const aborted = await engine.complete({ prompt: model.tokenize("x"), signal: AbortSignal.abort() });
    expect(aborted.reason).toBe("cancelled");
    expectEmpty(engine);
  });

  test("a very long stop list from a JavaScript caller runs (it once hung the request and kept its slot)", async () => {
    const { engine, model } = await setup({ slots: 2 });
    const full = await engine.complete({ prompt: model.tokenize("once upon a time"), temperature: 0, maxTokens: 12 });
    const stop = Array.from({ length: 300_000 }, (_, i) => `no such text ${i}`);
    const long = await engine.complete({ prompt: model.tokenize("once upon a time"), temperature: 0, maxTokens: 12, stop });
    expect(long.text).toBe(full.text);
    expectEmpty(engine);
  });

  test("a failing decode ends the requests in it with a typed error; later requests run and equal cold runs", async () => {
    const backend = withFaults(new MockBackend({ decodeDelayMs: 1 }), (point, call) =>
      point === "decode" && call === 4 ? new BackendError({ code: "decode-failed", message: "injected decode failure" }) : undefined,
    );
    const model = await backend.loadModel({ bytes: new Uint8Array() });
    const engine = new Engine({ model, context: await model.createContext({ ctx: 4096, slots: 4 }) });
    const running = await Promise.all([1, 2, 3].map(() => collect(engine.generate({ prompt: model.tokenize("abc"), temperature: 0, maxTokens: 50, stopTokens: [] }))));
    for (const parts of running) {
      const error = parts.find((p) => p.type === "error");
      expect(error !== undefined && BackendError.isInstance(error.error) && error.error.code === "decode-failed").toBe(true);
      expect(parts.at(-1)).toMatchObject({ type: "finish", reason: "error" });
    }
    // The failed slots were cleared (their state may be inconsistent): the next request is computed afresh.
    const after = await engine.complete({ prompt: model.tokenize("abc"), temperature: 0, maxTokens: 5 });
    const cold = (await setup({ slots: 1 })).engine;
    expect(after.tokens).toEqual((await cold.complete({ prompt: model.tokenize("abc"), temperature: 0, maxTokens: 5 })).tokens);
    expect(after.usage.cachedPromptTokens).toBe(0);
    expectEmpty(engine);
  });
});

describe("Engine under misuse and faults", () => {
  test("malformed options from a JavaScript caller are refused up front, before anything is queued", async () => {
    const { engine, model } = await setup();
    const prompt = model.tokenize("abc");
    const bad: Record<string, unknown>[] = [{ stop: "zz" }, { stop: [1] }, { stop: ["\uDE00"] }, { stop: ["a\uD83D"] }, { stopTokens: [1.5] }, { checkpointAt: [0] }, { checkpointAt: [99] }, { slot: 8 }, { slot: -1 }, { signal: {} }];
    for (const extra of bad) expect(() => engine.generate({ prompt, ...extra } as never), JSON.stringify(extra)).toThrow(InvalidArgumentError);
    expect(engine.stats().queueDepth).toBe(0);
    // The engine still serves.
    expect((await engine.complete({ prompt, temperature: 0, maxTokens: 3 })).tokens.length).toBeGreaterThan(0);
  });

  test("an admission that fails (restoring the state throws) fails that request alone", async () => {
    const backend = withFaults(new MockBackend(), (point, call) => (point === "setState" && call === 1 ? new BackendError({ code: "unavailable", message: "injected restore failure" }) : undefined));
    const model = await backend.loadModel({ bytes: new Uint8Array() });
    const engine = new Engine({ model, context: await model.createContext({ ctx: 4096, slots: 2 }) });
    const prompt = model.tokenize("the cat sat on");
    const first = await engine.complete({ prompt, temperature: 0, maxTokens: 4, ignoreEndOfGeneration: true });
    // Resuming at the end of the first prompt restores its checkpoint: that restore fails once.
    const branch = Int32Array.from([...prompt, ...model.tokenize(" the mat", { addSpecial: false })]);
    const failed = await engine.complete({ prompt: branch, temperature: 0, maxTokens: 4 });
    expect(failed.reason).toBe("error");
    expect(failed.error?.message).toMatch(/injected/);
    // Nothing leaked, and the same request now succeeds with the same tokens as a cold engine.
    expect(engine.stats().slotsBusy).toBe(0);
    const retried = await engine.complete({ prompt: branch, temperature: 0, maxTokens: 4 });
    expect(retried.usage.cachedPromptTokens).toBe(prompt.length);
    const cold = (await setup({ slots: 1 })).engine;
    expect(retried.tokens).toEqual((await cold.complete({ prompt: branch, temperature: 0, maxTokens: 4 })).tokens);
    expect(first.tokens.length).toBe(4);
    expectEmpty(engine);
  });

  test("leaving a `for await` loop early cancels the request and frees its slot", async () => {
    const { engine, model } = await setup({ slots: 1, decodeDelayMs: 1 });
    let seen = 0;
    for await (const part of engine.generate({ prompt: model.tokenize("abc"), temperature: 0, maxTokens: 200, stopTokens: [] })) {
      if (part.type === "token" && ++seen === 3) break;
    }
    await engine.idle();
    expect(engine.stats().slotsBusy).toBe(0);
    expect(engine.stats().tokensGenerated).toBeLessThan(10);
    expectEmpty(engine);
  });

  test("the queue limit counts only requests that really wait", async () => {
    const idle = (await setup({ slots: 4, maxQueue: 0 })).engine;
    const { model } = await setup();
    // maxQueue 0 on an idle engine: a free slot takes the request at once.
    expect((await idle.complete({ prompt: model.tokenize("a"), temperature: 0, maxTokens: 2 })).reason).not.toBe("error");
    // maxQueue 1, 4 slots: a burst of four fits the free slots; the fifth waits; the sixth is refused.
    const { engine } = await setup({ slots: 4, maxQueue: 1, decodeDelayMs: 1 });
    const burst = [1, 2, 3, 4, 5].map(() => engine.complete({ prompt: model.tokenize("abc"), temperature: 0, maxTokens: 3 }));
    expect(() => engine.generate({ prompt: model.tokenize("abc") })).toThrow(QueueFullError);
    expect((await Promise.all(burst)).every((c) => c.reason !== "error")).toBe(true);
  });
});

describe("Engine when the backend crashes", () => {
  /** 2 slots, requests of 40 tokens; the backend crashes at the 5th decode (both slots running, two queued). */
  async function crashing(reopen: "none" | "works" | "fails") {
    const backends: MockBackend[] = [];
    const open = async () => {
      const inner = new MockBackend({ decodeDelayMs: 1 });
      backends.push(inner);
      const faulty = withFaults(inner, (point, call) => (backends.length === 1 && point === "decode" && call === 5 ? "crash" : undefined));
      const model = await faulty.loadModel({ bytes: new Uint8Array() });
      return { model, context: await model.createContext({ ctx: 4096, slots: 2 }) };
    };
    const first = await open();
    const reopened: BackendError[] = [];
    const engine = new Engine({
      ...first,
      ...(reopen === "none"
        ? {}
        : {
            reopen: async (crash: BackendError) => {
              reopened.push(crash);
              if (reopen === "fails") throw new BackendError({ code: "load-failed", message: "injected: the model file is gone" });
              return open();
            },
          }),
    });
    const prompts = ["the cat sat on", "once upon a time", "abc", "xyz xyz"].map((text) => first.model.tokenize(text));
    const streams = prompts.map((prompt) => collect(engine.generate({ prompt, temperature: 0, maxTokens: 40, stopTokens: [], ignoreEndOfGeneration: true })));
    return { engine, model: first.model, prompts, results: await Promise.all(streams), reopened };
  }
  const crashError = (parts: StreamPart[]) => parts.find((p) => p.type === "error")?.error;
  const isCrash = (error: unknown) => BackendError.isInstance(error) && error.code === "crashed";

  test("with reopen: the running requests fail with the crash, the queued ones run on the new backend with their cold tokens", async () => {
    const { engine, prompts, results, reopened } = await crashing("works");
    expect(reopened.length).toBe(1);
    expect(isCrash(reopened[0])).toBe(true);
    for (const parts of results.slice(0, 2)) {
      expect(isCrash(crashError(parts))).toBe(true);
      expect(parts.filter((p) => p.type === "finish")).toMatchObject([{ reason: "error" }]);
    }
    const cold = (await setup({ slots: 1 })).engine;
    for (const [i, parts] of results.slice(2).entries()) {
      expect(crashError(parts)).toBeUndefined();
      const tokens = parts.flatMap((p) => (p.type === "token" ? [p.token] : []));
      expect(tokens).toEqual((await cold.complete({ prompt: prompts[i + 2]!, temperature: 0, maxTokens: 40, stopTokens: [], ignoreEndOfGeneration: true })).tokens);
    }
    const stats = engine.stats();
    expect([stats.state, stats.restarts]).toEqual(["running", 1]);
    // The new backend serves; the old one's cached prefixes died with it (nothing is resumed from it).
    const again = await engine.complete({ prompt: prompts[0]!, temperature: 0, maxTokens: 3 });
    expect([again.reason, again.usage.cachedPromptTokens]).toEqual(["length", 0]);
    expect(engine.model).not.toBe((await setup()).model);
    expectEmpty(engine);
    await engine.dispose();
  });

  test("without reopen, or when reopening fails: everything in flight fails once, and the engine refuses new work with the reason", async () => {
    for (const mode of ["none", "fails"] as const) {
      const { engine, results } = await crashing(mode);
      for (const parts of results) {
        expect(parts.filter((p) => p.type === "finish")).toMatchObject([{ reason: "error" }]);
        expect(crashError(parts)).toBeDefined();
      }
      expect(isCrash(crashError(results[0]!))).toBe(true);
      if (mode === "fails") expect(crashError(results[3]!)?.message).toMatch(/injected: the model file is gone/);
      expect(engine.stats().state).toBe("failed");
      expect(() => engine.generate({ prompt: Int32Array.of(1, 97) })).toThrow(mode === "none" ? /crashed/ : /model file is gone/);
      await engine.dispose(); // does not throw on the dead backend
    }
  });

  test("a crash first seen on a cancel between steps is recovered from, not thrown at the caller", async () => {
    const backend = new MockBackend({ decodeDelayMs: 1 });
    const model = await backend.loadModel();
    const engine = new Engine({
      model,
      context: await model.createContext({ ctx: 4096, slots: 1 }),
      reopen: async () => {
        const fresh = await new MockBackend().loadModel();
        return { model: fresh, context: await fresh.createContext({ ctx: 4096, slots: 1 }) };
      },
    });
    const controller = new AbortController();
    const running = engine.complete({ prompt: model.tokenize("abc"), temperature: 0, maxTokens: 200, stopTokens: [], signal: controller.signal });
    while (engine.stats().tokensGenerated < 3) await new Promise((resolve) => setTimeout(resolve, 1));
    await backend.abortForTesting().catch(() => undefined);
    expect(() => controller.abort()).not.toThrow();
    expect((await running).reason).toMatch(/cancelled|error/);
    // Submitted while the engine reopens its backend: it waits, then runs there.
    const next = await engine.complete({ prompt: Int32Array.of(1, 97, 98, 99), temperature: 0, maxTokens: 3, ignoreEndOfGeneration: true, stopTokens: [] });
    expect(next.reason).toBe("length");
    expect(engine.stats().restarts).toBe(1);
  });
});
