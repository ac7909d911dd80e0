import { describe, expect, test } from "vitest";
import { InvalidArgumentError } from "../errors/invalid-argument-error.js";
import { renderChat } from "./chat-template.js";
import { Sampler } from "./sampler.js";

const logits = Float32Array.from([1, 5, 3, 4.9, -2]);

describe("Sampler", () => {
  test("temperature 0 is argmax and needs no logits", () => {
    const sampler = new Sampler({ temperature: 0 });
    expect(sampler.needsLogits).toBe(false);
    expect(sampler.sample(logits)).toBe(1);
  });

  test("same seed, same tokens; top-k 1 is greedy; min-p prunes", () => {
    const draw = (seed: number) => Array.from({ length: 50 }, ((s) => () => s.sample(logits))(new Sampler({ temperature: 1, seed, topK: 0, topP: 1, minP: 0 })));
    expect(draw(3)).toEqual(draw(3));
    expect(new Set(draw(3)).size).toBeGreaterThan(1);
    const greedyTopK = new Sampler({ temperature: 5, topK: 1 });
    expect(Array.from({ length: 20 }, () => greedyTopK.sample(logits))).toEqual(new Array(20).fill(1));
    // min-p 0.5 keeps tokens with p ≥ 0.5 × p(top): only 1 and 3 (4.9 vs 5), never 2 (3) or 0 (1).
    const pruned = new Sampler({ temperature: 1, topK: 0, topP: 1, minP: 0.5, seed: 1 });
    expect(new Set(Array.from({ length: 200 }, () => pruned.sample(logits)))).toEqual(new Set([1, 3]));
  });

  test("without a seed, two samplers over the same logits do not repeat each other", () => {
    const flat = new Float32Array(1000); // uniform over 1,000 tokens
    const draw = () => ((s) => Array.from({ length: 16 }, () => s.sample(flat)))(new Sampler({ temperature: 1, topK: 0, topP: 1, minP: 0 }));
    expect(draw()).not.toEqual(draw());
  });

  test("repetition penalty demotes tokens already generated", () => {
    expect(new Sampler({ temperature: 0, repetitionPenalty: 1.5 }).sample(logits, [1])).toBe(3);
  });

  test("out-of-range options are refused", () => {
    expect(() => new Sampler({ temperature: -1 })).toThrow(InvalidArgumentError);
    expect(() => new Sampler({ topP: 0 })).toThrow(/topP/);
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
