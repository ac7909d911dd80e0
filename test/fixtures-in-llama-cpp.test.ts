import { LlamaLogLevel, getLlama } from "node-llama-cpp";
import { describe, expect, test } from "vitest";
import { fixturePath } from "./support/fixtures.js";

// An independent peer: node-llama-cpp's own addon (prebuilt from the same llama.cpp release) loads and runs the
// generated fixtures. Contexts use one thread: on shared 2-vCPU machines llama.cpp's thread pool is far slower with two.
describe.each(["tiny", "nemotron-3-nano-twin"])("fixture %s in node-llama-cpp", (profile) => {
  test("loads, takes several sequences and generates the same greedy tokens on each", async () => {
    const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
    const model = await llama.loadModel({ modelPath: await fixturePath(profile) });
    try {
      expect(model.fileInfo.metadata.general.architecture).toBe(profile === "tiny" ? "nemotron_h" : "nemotron_h_moe");
      const context = await model.createContext({ contextSize: 512, sequences: 3, threads: 1, batchSize: 128 });
      const prompt = model.tokenize("The quick brown fox jumps over the lazy dog");
      expect(prompt.length).toBeGreaterThan(5);
      expect(model.detokenize(prompt)).toBe("The quick brown fox jumps over the lazy dog");
      const generate = async () => {
        const sequence = context.getSequence();
        const tokens: number[] = [];
        for await (const token of sequence.evaluate(prompt, { temperature: 0 })) {
          tokens.push(token);
          if (tokens.length === 8) break;
        }
        return tokens;
      };
      const [first, second] = await Promise.all([generate(), generate()]);
      expect(first).toHaveLength(8);
      expect(first.every((token) => token >= 0 && token < 320)).toBe(true);
      expect(second).toEqual(first);
      await context.dispose();
    } finally {
      await model.dispose();
    }
  });
});
