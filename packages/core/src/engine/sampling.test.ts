import { describe, expect, test } from "vitest";
import type { BackendContext, BackendModel } from "../backend/index.js";
import { BackendError } from "../errors/backend-error.js";
import { InvalidArgumentError } from "../errors/invalid-argument-error.js";
import { withFaults } from "../testing/fault-injection.js";
import { MockBackend } from "../testing/mock-backend.js";
import { type AdmissionOptions, Engine } from "./engine.js";
import type { GenerateRequest } from "./generate-request.js";
import { generateOnce } from "./generate-once.js";
import { resolveSampling } from "./sampling-options.js";

async function setup(options: { ctx?: number; slots?: number; admission?: AdmissionOptions; failDecodeAt?: number; decodeDelayMs?: number } = {}) {
  const mock = new MockBackend({ decodeDelayMs: options.decodeDelayMs ?? 0 });
  const backend = options.failDecodeAt === undefined ? mock : withFaults(mock, (point, call) => (point === "decode" && call === options.failDecodeAt ? new BackendError({ code: "decode-failed", message: "injected" }) : undefined));
  const model: BackendModel = await backend.loadModel({ bytes: new Uint8Array() });
  const context: BackendContext = await model.createContext({ ctx: options.ctx ?? 4096, slots: options.slots ?? 4 });
  const engine = new Engine({ model, context, ...(options.admission ? { admission: options.admission } : {}) });
  return { model, context, engine };
}

const long = { maxTokens: 60, ignoreEndOfGeneration: true, stopTokens: [] } as const;

describe("sampling through the engine (MockBackend)", () => {
  test.each<[string, Partial<GenerateRequest>]>([
    ["temperature", { temperature: -0.5 }],
    ["topP", { topP: 2 }],
    ["topK", { topK: -1 }],
    ["presencePenalty", { presencePenalty: 5 }],
    ["logitBias", { logitBias: { 999: 1 } }],
    ["seed", { seed: 1.5 }],
    ["grammar", { grammar: "digits ::= [0-9]" }],
    // What the backend would refuse only mid-stream, or what would crash llama.cpp, is refused up front too.
    ["temperature", { temperature: 2e6 }],
    ["repetitionPenalty", { repetitionPenalty: 1e-7 }],
    ["topK", { topK: 1e12 }],
    ["penaltyLastN", { penaltyLastN: 2 ** 25 }],
    ["logitBias", { logitBias: { 5: 1e39 } }],
    ["logitBias", { logitBias: { 5: 3e38, 6: 3e38 } }],
    ["grammar", { grammar: `root ::= ${"(".repeat(20_000)}"a"${")".repeat(20_000)}` }],
    ["logprobs", { logprobs: 21 }],
  ])("%s out of range is refused by generate() before anything is queued or allocated", async (argument, options) => {
    const { model, context, engine } = await setup();
    let error: unknown;
    try {
      engine.generate({ prompt: model.tokenize("abc"), ...options });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).argument).toBe(argument);
    expect([engine.stats().queueDepth, context.samplerCount()]).toEqual([0, 0]);
  });

  test("a seed reproduces; samplers are freed on finish, stop, cancel (queued and running) and a failed decode", async () => {
    const { model, context, engine } = await setup({ slots: 2, decodeDelayMs: 1 });
    const prompt = model.tokenize("the cat sat");
    const [a, b] = await Promise.all([engine.complete({ prompt, ...long, seed: 5 }), engine.complete({ prompt, ...long, seed: 5 })]);
    expect(a.tokens).toEqual(b.tokens);
    expect(context.samplerCount()).toBe(0);
    const generatedBefore = engine.stats().tokensGenerated;
    const running = new AbortController();
    const queued = new AbortController();
    const first = engine.complete({ prompt, ...long, maxTokens: 10_000, signal: running.signal });
    const second = engine.complete({ prompt, ...long, frequencyPenalty: 1 });
    const third = engine.complete({ prompt, ...long, signal: queued.signal });
    queued.abort();
    while (engine.stats().tokensGenerated < generatedBefore + 5) await new Promise((resolve) => setTimeout(resolve, 1));
    expect(context.samplerCount()).toBe(2);
    running.abort();
    expect((await first).reason).toBe("cancelled");
    expect((await third).reason).toBe("cancelled");
    expect((await second).reason).toBe("length");
    await engine.idle();
    expect(context.samplerCount()).toBe(0);

    const failing = await setup({ failDecodeAt: 3 });
    const failed = await failing.engine.complete({ prompt, ...long, seed: 1 });
    expect(failed.reason).toBe("error");
    await failing.engine.idle();
    expect(failing.context.samplerCount()).toBe(0);
  });

  test.each(["swap", "recompute"] as const)("a preempted sampled request (%s) keeps its sampler: the same tokens as unpreempted, no leak", async (preemption) => {
    const texts = ["the cat sat on the mat", "once upon a time there", "to be or not to be", "lorem ipsum dolor sit"];
    const roomy = await setup({ ctx: 4096, slots: 4 });
    const request = (text: string, seed: number) => ({ prompt: roomy.model.tokenize(text), ...long, maxTokens: 100, seed, frequencyPenalty: 0.5 });
    const reference = await Promise.all(texts.map((text, i) => roomy.engine.complete(request(text, i))));
    const tight = await setup({ ctx: 256, slots: 4, admission: { preemption } });
    const results = await Promise.all(texts.map((text, i) => tight.engine.complete(request(text, i))));
    expect(tight.engine.stats().preemption.swaps + tight.engine.stats().preemption.recomputes).toBeGreaterThan(0);
    expect(results.map((r) => r.tokens)).toEqual(reference.map((r) => r.tokens));
    expect(tight.context.samplerCount()).toBe(0);
  });

  test("logprobs: the chosen token's and the top alternatives, only when asked", async () => {
    const { model, engine } = await setup();
    const parts = [];
    for await (const part of engine.generate({ prompt: model.tokenize("abc"), maxTokens: 3, temperature: 0, logprobs: 2 })) if (part.type === "token") parts.push(part);
    expect(parts).toHaveLength(3);
    for (const part of parts) {
      expect(part.logprob).toBeLessThan(0);
      expect(part.topLogprobs).toHaveLength(2);
      expect(part.topLogprobs![0]!.token).toBe(part.token);
    }
    for await (const part of engine.generate({ prompt: model.tokenize("abc"), maxTokens: 1, temperature: 0 })) if (part.type === "token") expect(part.logprob).toBeUndefined();
  });

  test("after a crash and reopen, queued sampled requests get samplers on the new context; none is left on either", async () => {
    const contexts: BackendContext[] = [];
    const open = async () => {
      const inner = new MockBackend({ decodeDelayMs: 1 });
      const faulty = withFaults(inner, (point, call) => (contexts.length === 1 && point === "decode" && call === 5 ? "crash" : undefined));
      const model = await faulty.loadModel({ bytes: new Uint8Array() });
      const context = await model.createContext({ ctx: 4096, slots: 2 });
      contexts.push(context);
      return { model, context };
    };
    const first = await open();
    const engine = new Engine({ ...first, reopen: async () => open() });
    const prompts = ["the cat sat on", "once upon a time", "abc", "xyz xyz"].map((text) => first.model.tokenize(text));
    const results = await Promise.all(prompts.map((prompt, seed) => engine.complete({ prompt, ...long, maxTokens: 20, seed, presencePenalty: 1 })));
    expect(results.map((r) => r.reason)).toEqual(["error", "error", "length", "length"]);
    await engine.idle();
    expect(contexts).toHaveLength(2);
    expect(contexts[1]!.samplerCount()).toBe(0);
  });
});

describe("generateOnce (MockBackend)", () => {
  test("a refused sampler config leaves the caller's sequence as it was", async () => {
    const { model, context } = await setup();
    await generateOnce(model, context, model.tokenize("hello there"), { maxTokens: 2, temperature: 0 });
    const before = context.posMax(0);
    expect(before).toBeGreaterThan(0);
    await expect(generateOnce(model, context, model.tokenize("abc"), { maxTokens: 2, temperature: 1, grammar: "digits ::= [0-9]" })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(context.posMax(0)).toBe(before);
    expect(context.samplerCount()).toBe(0);
  });

  test("a long request's default penalty window stays within what llama.cpp takes", async () => {
    const { model, context } = await setup();
    const result = await generateOnce(model, context, model.tokenize("abc"), { maxTokens: 8, temperature: 1, presencePenalty: 0.5, seed: 1 });
    expect(result.tokens.length).toBeGreaterThan(0);
    expect(resolveSampling({ presencePenalty: 0.5 }, { vocabSize: 100, maxTokens: 2 ** 25 })?.penaltyLastN).toBe(2 ** 24);
  });
});
