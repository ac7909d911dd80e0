import { readFileSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { BackendError, InvalidGgufError, buildFixture } from "@hybrid-llm/core";
import { WasmBackend } from "@hybrid-llm/wasm";
import { describe, expect, test } from "vitest";
import { greedy } from "./support/greedy.js";
import { fixturePath } from "./support/fixtures.js";
import { sparseTinyWithExtraTensor } from "./support/sparse-model.js";

// The Wasm backend reads model files in chunks from outside linear memory (packages/wasm/src/byte-sources.ts):
// linear memory holds the weights once, not the file and the weights.
describe("Wasm model loading holds the weights once", () => {
  test("bench-60m from bytes: after the load, linear memory is about the file's size, not three times it", async () => {
    const bytes = new Uint8Array(readFileSync(await fixturePath("bench-60m")));
    const backend = await WasmBackend.create();
    try {
      const progress: number[] = [];
      const model = await backend.loadModel({ bytes }, { onProgress: (fraction) => progress.push(fraction) });
      // A Wasm memory never shrinks: its size after the load is the load's peak. It starts at 64 MiB, mostly free.
      const after = await backend.memoryBytes();
      console.log(`bench-60m: file ${bytes.length} B, linear memory after the load ${after} B = ${(after / bytes.length).toFixed(2)}x`);
      // Measured: 3.14x when the file was copied into linear memory (emnapi's copy of the Uint8Array, the binding's
      // copy for fmemopen, then the weights); 1.14x streamed (the weights, the module's own data and heap).
      expect(after / bytes.length).toBeLessThan(1.3);
      expect(progress.at(-1)).toBe(1);
      expect(model.detokenize(model.tokenize("still whole"), { removeSpecial: true })).toBe("still whole");
    } finally {
      await backend.dispose();
    }
  });

  test("a path is read from the disk in chunks: the same weights as from bytes", async () => {
    const path = await fixturePath("nemotron-3-nano-twin");
    const backend = await WasmBackend.create();
    try {
      const fromPath = await backend.loadModel({ path });
      const fromBytes = await backend.loadModel({ bytes: new Uint8Array(readFileSync(path)) });
      const run = async (model: typeof fromPath) => {
        const context = await model.createContext({ ctx: 256, slots: 1 });
        const [stream] = await greedy(context, model.info.vocabSize, [model.tokenize("Once upon a time")], 4);
        await context.dispose();
        return stream!;
      };
      const a = await run(fromPath);
      const b = await run(fromBytes);
      expect(a.tokens).toEqual(b.tokens);
      expect(Array.from(a.firstLogits)).toEqual(Array.from(b.firstLogits));
    } finally {
      await backend.dispose();
    }
  });

  test("a model that fits only when the file is not copied is handed to llama.cpp; truncated bytes stay typed", async () => {
    // The tiny fixture's header plus a 2.25 GiB tensor that exists only as a hole in the file. Counting the file and
    // the weights (4.5 GiB) refused it; counting the weights once lets it through to llama.cpp, which refuses the
    // unknown tensor before allocating anything: a typed load failure, not the wasm32 limit.
    const path = sparseTinyWithExtraTensor("extra.weight", [65536, 18432]);
    const backend = await WasmBackend.create();
    try {
      const error = await backend.loadModel({ path }).catch((e: unknown) => e);
      expect(BackendError.isInstance(error)).toBe(true);
      expect((error as BackendError).code).toBe("load-failed");
      expect((error as Error).message).toMatch(/wrong number of tensors/);
      const bytes = buildFixture("tiny");
      const truncated = await backend.loadModel({ bytes: bytes.subarray(0, bytes.length - 1000) }).catch((e: unknown) => e);
      expect(InvalidGgufError.isInstance(truncated)).toBe(true);
      // Nothing was left behind: the backend loads and runs a good model.
      const model = await backend.loadModel({ bytes });
      expect(model.detokenize(model.tokenize("after the errors"), { removeSpecial: true })).toBe("after the errors");
    } finally {
      await backend.dispose();
      rmSync(dirname(path), { recursive: true, force: true });
    }
  });
});
