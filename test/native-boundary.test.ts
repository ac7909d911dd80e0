import { buildFixture } from "@hybrid-llm/core";
import { NodeBackend } from "@hybrid-llm/node";
import { expect, test } from "vitest";

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
