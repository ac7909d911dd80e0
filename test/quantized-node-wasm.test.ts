import { readFileSync } from "node:fs";
import { BackendError, InvalidArgumentError, buildFixture, fixtureQuantizations } from "@hybrid-llm/core";
import { NodeBackend } from "@hybrid-llm/node";
import { WasmBackend } from "@hybrid-llm/wasm";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fixturePath } from "./support/fixtures.js";
import { expectTrapRecovers } from "./support/wasm-trap.js";
import { sparseTinyWithExtraTensor } from "./support/sparse-model.js";
import { compareStreams, greedy, maxAbsDifference, prompts } from "./support/greedy.js";

// The formats CPU / edge users run go through ggml's quantized kernels (AVX2 natively, SIMD128 in Wasm) and through
// the activations' own quantization (q8_0 / q8_K). The two kernels sum in different orders and compute the activation
// scale as 127 / amax (AVX2) or 1 / (amax / 127) (SIMD128, NEON), so a value on a rounding edge can land one level
// apart: logits agree to within ~1 % of their spread (f16: ~0.03 %), where a wrong block layout or a truncating
// quantizer (ggml's SIMD128 q8_0 did, until wasm/patches/0001) is off by several. Tokens must be equal wherever the
// native top-1 / top-2 margin is above twice the measured difference; a random-weight model's flat distribution does
// have closer calls, after which a flip is legitimate.
/** A fixture's greedy stream after the first prompt: one sequence, `threads` threads, `steps` tokens. */
async function greedyRun(backend: NodeBackend | WasmBackend, source: { path: string } | { bytes: Uint8Array }, threads: number, steps: number) {
  const model = await backend.loadModel(source);
  try {
    const context = await model.createContext({ ctx: 256, slots: 1, threads });
    const [stream] = await greedy(context, model.info.vocabSize, [model.tokenize(prompts[0]!)], steps);
    return stream!;
  } finally {
    await model.dispose();
  }
}

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
    const native = await greedyRun(node, { path }, 1, 12);
    const inWasm = await greedyRun(wasm, { path }, 1, 12);
    const difference = maxAbsDifference(native.firstLogits, inWasm.firstLogits);
    const spread = Math.max(...native.firstLogits) - Math.min(...native.firstLogits);
    expect(difference).toBeLessThan(0.015 * spread);
    const { compared, mismatchAt } = compareStreams(native, inWasm, 2 * difference);
    console.log(`${profile}: logits differ by ${difference.toPrecision(2)} (spread ${spread.toPrecision(3)}); ${compared} tokens compared, ${native.tokens.join(",") === inWasm.tokens.join(",") ? "all 12 equal" : `first difference at ${native.tokens.findIndex((t, i) => t !== inWasm.tokens[i])}`}`);
    expect(mismatchAt).toBeUndefined();
    expect(compared).toBeGreaterThan(0);
  });
});

// The multi-threaded build: llama.cpp's thread pool on emscripten pthreads. ggml splits each operation's rows between
// the threads and every row is summed as on one thread, so 2 Wasm threads must give exactly the 1-thread Wasm logits;
// and the tokens equal native's at 2 threads, as above.
describe("2 Wasm threads (the multi-threaded build): the same tokens as 1 Wasm thread and as native at 2 threads", () => {
  let node: NodeBackend;
  let single: WasmBackend;
  let threaded: WasmBackend;
  beforeAll(async () => {
    node = await NodeBackend.create({ gpu: "off" });
    single = await WasmBackend.create();
    threaded = await WasmBackend.create({ threads: 2 });
  });
  afterAll(async () => {
    await threaded?.dispose();
    await single?.dispose();
    await node?.dispose();
  });

  // One quantized hybrid (attention + recurrent layers, q4_0 kernels), and the same model in F16 (its matmuls on
  // wasm/patches/0007's per-thread panels): 2 threads on a busy 2-core machine is slow.
  test.each(["nemotron-3-nano-twin-q4_0", "nemotron-3-nano-twin"])("%s", async (profile) => {
    const path = await fixturePath(profile);
    expect(threaded.threads).toBe(2);
    const oneThread = await greedyRun(single, { path }, 1, 8);
    const twoThreads = await greedyRun(threaded, { path }, 2, 8);
    expect(twoThreads.tokens).toEqual(oneThread.tokens);
    expect(maxAbsDifference(oneThread.firstLogits, twoThreads.firstLogits)).toBe(0);
    const native = await greedyRun(node, { path }, 2, 8);
    const difference = maxAbsDifference(native.firstLogits, twoThreads.firstLogits);
    const spread = Math.max(...native.firstLogits) - Math.min(...native.firstLogits);
    expect(difference).toBeLessThan(0.015 * spread);
    const { compared, mismatchAt } = compareStreams(native, twoThreads, 2 * difference);
    expect(mismatchAt).toBeUndefined();
    expect(compared).toBeGreaterThan(0);
  });

  // wasm/patches/0006 takes the query heads that share a K / V head (a group) through flash attention together, but only
  // when all of a group's rows fall in one thread's row chunk: with fewer groups than threads, ggml's chunks cut through
  // groups and those rows go through the pass one at a time. `tiny` has 4 query heads on 2 K / V heads (2 groups), so
  // at 3 threads the prompt's rows are cut that way (a group's rows for one token are a head's worth of rows apart).
  // The rows are summed as on one thread either way: 1 thread's exact logits and tokens.
  test("3 Wasm threads, flash-attention groups split between threads' chunks: 1 Wasm thread's exact logits and tokens", { timeout: 120_000 }, async () => {
    const three = await WasmBackend.create({ threads: 3 });
    try {
      const bytes = buildFixture("tiny");
      const oneThread = await greedyRun(single, { bytes }, 1, 8);
      const threeThreads = await greedyRun(three, { bytes }, 3, 8);
      expect(three.threads).toBe(3);
      expect(maxAbsDifference(oneThread.firstLogits, threeThreads.firstLogits)).toBe(0);
      expect(threeThreads.tokens).toEqual(oneThread.tokens);
    } finally {
      await three.dispose();
    }
  });

  // Several output rows per decode, several decodes: the per-row work must not hold on to the pthread workers that
  // llama.cpp's compute needs on the next decode (the module cannot start a worker while a decode blocks its thread:
  // it used to hang on the second batched decode). A hang fails by the timeout below.
  test("batched decodes (several rows, several steps) on 2 threads: the 1-thread tokens, no hang", { timeout: 120_000 }, async () => {
    const bytes = buildFixture("tiny");
    const run = async (backend: WasmBackend) => {
      const model = await backend.loadModel({ bytes });
      try {
        const context = await model.createContext({ ctx: 256, slots: 3 });
        const streams = await greedy(context, model.info.vocabSize, prompts.slice(0, 3).map((p) => model.tokenize(p)), 4);
        return streams.map((stream) => stream.tokens);
      } finally {
        await model.dispose();
      }
    };
    const oneThread = await run(single);
    expect(oneThread).toHaveLength(3);
    expect(await run(threaded)).toEqual(oneThread);
  });

  test("a context may use up to the backend's threads, not more: a typed error, and the backend goes on", async () => {
    const model = await single.loadModel({ path: await fixturePath("nemotron-3-nano-twin-q4_0") });
    try {
      await expect(model.createContext({ ctx: 256, slots: 1, threads: 2 })).rejects.toThrow(InvalidArgumentError);
      const context = await model.createContext({ ctx: 256, slots: 1 });
      expect(context.info).toBeDefined();
    } finally {
      await model.dispose();
    }
    await expect(WasmBackend.create({ threads: 0 })).rejects.toThrow(InvalidArgumentError);
    await expect(WasmBackend.create({ threads: 2.5 })).rejects.toThrow(InvalidArgumentError);
    await expect(WasmBackend.create({ threads: 2, wasm: new Uint8Array(8) })).rejects.toThrow(InvalidArgumentError);
  });

  test("C++ errors inside the multi-threaded module stay typed (they were caught only by catch (...)): bad state bytes, a GGUF llama.cpp refuses from bytes and from a path", async () => {
    for (const backend of [single, threaded]) {
      const model = await backend.loadModel({ bytes: buildFixture("tiny") });
      const context = await model.createContext({ ctx: 256, slots: 1 });
      expect(() => context.setState(0, new Uint8Array(100).fill(7))).toThrow(InvalidArgumentError);
      await context.dispose();
      await model.dispose();
      // llama.cpp throws while loading (the architecture has no such tensor): a typed load failure, process alive.
      const path = sparseTinyWithExtraTensor("extra.weight", [64, 64]);
      for (const source of [{ path }, { bytes: new Uint8Array(readFileSync(path)) }]) {
        const error = await backend.loadModel(source).catch((e: unknown) => e);
        expect(BackendError.isInstance(error)).toBe(true);
        expect((error as BackendError).code).toBe("load-failed");
      }
      const again = await backend.loadModel({ bytes: buildFixture("tiny") });
      expect(again.detokenize(again.tokenize("still alive"), { removeSpecial: true })).toBe("still alive");
      await again.dispose();
    }
  });

  test("a trap inside the multi-threaded module becomes a typed error; a new 2-thread backend works", async () => {
    await expectTrapRecovers({ threads: 2 });
  });
});
