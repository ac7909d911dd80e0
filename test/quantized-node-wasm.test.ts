import { fixtureQuantizations } from "@hybrid-llm/core";
import { NodeBackend } from "@hybrid-llm/node";
import { WasmBackend } from "@hybrid-llm/wasm";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fixturePath } from "./support/fixtures.js";
import { compareStreams, greedy, maxAbsDifference, prompts } from "./support/greedy.js";

// The formats CPU / edge users run go through ggml's quantized kernels (AVX2 natively, SIMD128 in Wasm) and through
// the activations' own quantization (q8_0 / q8_K). The two kernels sum in different orders and compute the activation
// scale as 127 / amax (AVX2) or 1 / (amax / 127) (SIMD128, NEON), so a value on a rounding edge can land one level
// apart: logits agree to within ~1 % of their spread (f16: ~0.03 %), where a wrong block layout or a truncating
// quantizer (ggml's SIMD128 q8_0 did, until wasm/patches/0001) is off by several. Tokens must be equal wherever the
// native top-1 / top-2 margin is above twice the measured difference; a random-weight model's flat distribution does
// have closer calls, after which a flip is legitimate.
const profiles = ["nemotron-3-nano-twin", "bench-60m"].flatMap((base) => fixtureQuantizations.map((quantization) => `${base}-${quantization}`));

describe("quantized fixtures: the wasm backend's greedy tokens equal the native backend's", () => {
  let node: NodeBackend;
  let wasm: WasmBackend;
  beforeAll(async () => {
    node = await NodeBackend.create({ gpu: "off" });
    wasm = await WasmBackend.create();
  });
  afterAll(async () => {
    await wasm?.dispose();
    await node?.dispose();
  });

  test.each(profiles)("%s", async (profile) => {
    const path = await fixturePath(profile);
    const run = async (backend: NodeBackend | WasmBackend) => {
      const model = await backend.loadModel({ path });
      try {
        const context = await model.createContext({ ctx: 256, slots: 1, threads: 1 });
        const [stream] = await greedy(context, model.info.vocabSize, [model.tokenize(prompts[0]!)], 12);
        return stream!;
      } finally {
        await model.dispose();
      }
    };
    const native = await run(node);
    const inWasm = await run(wasm);
    const difference = maxAbsDifference(native.firstLogits, inWasm.firstLogits);
    const spread = Math.max(...native.firstLogits) - Math.min(...native.firstLogits);
    expect(difference).toBeLessThan(0.015 * spread);
    const { compared, mismatchAt } = compareStreams(native, inWasm, 2 * difference);
    console.log(`${profile}: logits differ by ${difference.toPrecision(2)} (spread ${spread.toPrecision(3)}); ${compared} tokens compared, ${native.tokens.join(",") === inWasm.tokens.join(",") ? "all 12 equal" : `first difference at ${native.tokens.findIndex((t, i) => t !== inWasm.tokens[i])}`}`);
    expect(mismatchAt).toBeUndefined();
    expect(compared).toBeGreaterThan(0);
  });
});
