import { createRequire } from "node:module";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import { type NativeBinding, buildFixture } from "@hybrid-llm/core";
import { NodeBackend, addonPath } from "@hybrid-llm/node";
import { expect, test } from "vitest";
import { fixturePath } from "./support/fixtures.js";

// The native binding under callers that do what JavaScript allows: the process must survive and the model work.
test("model bytes detached and dropped while the load runs on a worker thread: the load reads its own copy", async () => {
  const backend = await NodeBackend.create({ gpu: false });
  try {
    const bytes = buildFixture("tiny");
    const expected = await backend.loadModel({ bytes: bytes.slice() });
    const reference = expected.tokenize("hello world");
    await expected.dispose();
    const loading = backend.loadModel({ bytes });
    // Detach the caller's buffer (its memory moves to a clone that is dropped at once) and overwrite what is left.
    structuredClone(bytes.buffer, { transfer: [bytes.buffer as ArrayBuffer] });
    expect(bytes.byteLength).toBe(0);
    const model = await loading;
    expect([...model.tokenize("hello world")]).toEqual([...reference]);
    const context = await model.createContext({ ctx: 256, threads: 1 });
    const result = await context.decode({ tokens: reference, positions: Int32Array.from(reference, (_, i) => i), sequenceIds: new Int32Array(reference.length), outputs: new Uint8Array(reference.length).fill(1) });
    expect(result.rows.length).toBe(reference.length);
    await context.dispose();
  } finally {
    await backend.dispose();
  }
});

/** The addon NodeBackend loaded (the same module instance: require caches it by path), initialised by create(). */
async function rawAddon() {
  const backend = await NodeBackend.create({ gpu: false });
  return { backend, binding: createRequire(import.meta.url)(addonPath) as NativeBinding };
}

test("a C++ exception that is not a Napi::Error (bad_alloc, runtime_error, a non-std value) becomes a JavaScript error, not a terminate", async () => {
  const { backend, binding } = await rawAddon();
  try {
    // Without NODE_ADDON_API_CPP_EXCEPTIONS_ALL each of these ends the process (std::terminate).
    expect(() => binding.throwForTesting!("bad_alloc")).toThrow(/bad_alloc/);
    expect(() => binding.throwForTesting!("runtime_error")).toThrow(/injected runtime_error/);
    expect(() => binding.throwForTesting!("other")).toThrow(/native exception/);
    expect(backend.device.kind).toBe("cpu"); // and the addon still answers
  } finally {
    await backend.dispose();
  }
});

test("a native context dropped without dispose() and collected releases its model: the model disposes", async () => {
  const { backend, binding } = await rawAddon();
  try {
    v8.setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const model = new binding.Model();
    await model.load(await fixturePath("tiny"), {});
    await (async () => {
      // Created in a scope that ends: nothing refers to it afterwards.
      const context = new binding.Context(model);
      await context.create({ ctx: 256, slots: 1, unified: true, batch: 64, ubatch: 64, typeK: 1, typeV: 1, flashAttention: "auto", threads: 1, recurrentSnapshots: 0 });
    })();
    expect(() => model.dispose()).toThrow(/live contexts/); // still referenced somewhere until collected
    // Collect until the context's finalizer ran (bounded: finalizers may wait for a turn of the event loop).
    let disposed = false;
    for (let round = 0; round < 50 && !disposed; round++) {
      gc();
      await new Promise((resolve) => setImmediate(resolve));
      try {
        model.dispose();
        disposed = true;
      } catch {
        // not collected yet
      }
    }
    // Before ~Context released its model, this stayed false forever ("the model still has live contexts").
    expect(disposed).toBe(true);
  } finally {
    await backend.dispose();
  }
});

test("llama.cpp's problems are kept per thread: two workers failing at once each quote their own reason", async () => {
  const { backend, binding } = await rawAddon();
  try {
    // Before the buffer was thread_local, the first thread took both problems and the second none.
    expect(binding.problemLogForTesting!()).toEqual(["problem of the first thread", "problem of the second thread"]);
  } finally {
    await backend.dispose();
  }
});
