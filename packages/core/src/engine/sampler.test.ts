import { describe, expect, test } from "vitest";
import { InvalidArgumentError } from "../errors/invalid-argument-error.js";
import { renderChat } from "./chat-template.js";
import { Sampler } from "./sampler.js";
import { type SamplingOptions, resolveLogprobs, resolveSampling } from "./sampling-options.js";
import { catchError } from "../testing/catch-error.js";

const logits = Float32Array.from([1, 5, 3, 4.9, -2]);

const config = (options: SamplingOptions) => resolveSampling({ temperature: 1, ...options }, { vocabSize: 1000, maxTokens: 100 })!;

describe("Sampler (the mock's TypeScript reference)", () => {
  test("temperature 0 with a penalty is argmax of the penalized logits", () => {
    expect(new Sampler(config({ temperature: 0, repetitionPenalty: 1.5 })).sample(logits)).toBe(1);
    const sampler = new Sampler(config({ temperature: 0, repetitionPenalty: 1.5 }));
    sampler.accept(1);
    expect(sampler.sample(logits)).toBe(3);
  });

  test("same seed, same tokens; top-k 1 is greedy; min-p prunes; a -Infinity bias bans", () => {
    const draw = (seed: number) => ((s) => Array.from({ length: 50 }, () => s.sample(logits)))(new Sampler(config({ seed })));
    expect(draw(3)).toEqual(draw(3));
    expect(new Set(draw(3)).size).toBeGreaterThan(1);
    const greedyTopK = new Sampler(config({ temperature: 5, topK: 1 }));
    expect(Array.from({ length: 20 }, () => greedyTopK.sample(logits))).toEqual(new Array(20).fill(1));
    const pruned = new Sampler(config({ minP: 0.5, seed: 1 }));
    expect(new Set(Array.from({ length: 200 }, () => pruned.sample(logits)))).toEqual(new Set([1, 3]));
    const banned = new Sampler(config({ minP: 0.5, seed: 1, logitBias: { 1: Number.NEGATIVE_INFINITY } }));
    expect(Array.from({ length: 50 }, () => banned.sample(logits))).not.toContain(1);
  });
});

describe("resolveSampling", () => {
  test("OpenAI's defaults: temperature 1, nothing truncated; plain greedy needs no sampler", () => {
    const resolved = resolveSampling({}, { vocabSize: 10, maxTokens: 7 })!;
    expect(resolved).toMatchObject({ temperature: 1, topK: 0, topP: 1, minP: 0, typicalP: 1, repetitionPenalty: 1, presencePenalty: 0, frequencyPenalty: 0, penaltyLastN: 7 });
    expect(resolveSampling({ temperature: 0 }, { vocabSize: 10, maxTokens: 7 })).toBeUndefined();
    expect(resolveSampling({ temperature: 0, grammar: "root ::= \"a\"" }, { vocabSize: 10, maxTokens: 7 })).toBeDefined();
  });

  test("unseeded requests get different seeds; a seed is kept", () => {
    const seeds = new Set(Array.from({ length: 8 }, () => resolveSampling({}, { vocabSize: 10, maxTokens: 1 })!.seed));
    expect(seeds.size).toBeGreaterThan(1);
    expect(resolveSampling({ seed: 42 }, { vocabSize: 10, maxTokens: 1 })!.seed).toBe(42);
  });

  test.each([
    ["temperature", { temperature: -1 }],
    ["temperature", { temperature: "1" }],
    ["topK", { topK: 1.5 }],
    ["topP", { topP: 1.1 }],
    ["minP", { minP: Number.NaN }],
    ["typicalP", { typicalP: 2 }],
    ["repetitionPenalty", { repetitionPenalty: 0 }],
    ["presencePenalty", { presencePenalty: 3 }],
    ["frequencyPenalty", { frequencyPenalty: -2.5 }],
    ["penaltyLastN", { penaltyLastN: -2 }],
    ["seed", { seed: 2 ** 32 }],
    ["seed", { seed: -1 }],
    ["logitBias", { logitBias: { 10: 1 } }],
    ["logitBias", { logitBias: { x: 1 } }],
    ["logitBias", { logitBias: { 1: Number.POSITIVE_INFINITY } }],
    ["logitBias", { logitBias: [1] }],
    ["grammar", { grammar: "" }],
    ["grammar", { grammar: 3 }],
  ])("%s: %j is refused", (argument, options) => {
    const error = catchError(() => resolveSampling(options as SamplingOptions, { vocabSize: 10, maxTokens: 1 }));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).argument).toBe(argument);
  });

  test("logprobs is an integer in [0, 20]", () => {
    expect(resolveLogprobs(undefined)).toBe(-1);
    expect(resolveLogprobs(0)).toBe(0);
    expect(() => resolveLogprobs(21)).toThrow(InvalidArgumentError);
    expect(() => resolveLogprobs(1.5)).toThrow(/logprobs/);
  });
});

describe("renderChat", () => {
  test("renders a ChatML template with the generation prompt", () => {
    const template =
      "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    expect(renderChat(template, [{ role: "user", content: "Hi" }])).toBe("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    expect(() => renderChat("{% for %}", [])).toThrow(InvalidArgumentError);
  });
});
