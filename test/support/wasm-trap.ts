import { BackendError, buildFixture } from "@hybrid-llm/core";
import { WasmBackend, type WasmBackendOptions } from "@hybrid-llm/wasm";
import { expect } from "vitest";

/**
 * A trap inside the module (as a failed GGML_ASSERT would) becomes a typed `crashed` error, the model says so, the
 * backend disposes, and a new backend made with the same `options` loads and runs a model.
 */
export async function expectTrapRecovers(options: WasmBackendOptions = {}): Promise<void> {
  const backend = await WasmBackend.create(options);
  const model = await backend.loadModel({ bytes: buildFixture("tiny") });
  const error = await backend.abortForTesting().catch((e: unknown) => e);
  expect(BackendError.isInstance(error)).toBe(true);
  expect((error as BackendError).code).toBe("crashed");
  expect(() => model.tokenize("x")).toThrow(/crashed/);
  await backend.dispose();
  const fresh = await WasmBackend.create(options);
  const again = await fresh.loadModel({ bytes: buildFixture("tiny") });
  expect(again.detokenize(again.tokenize("still alive"), { removeSpecial: true })).toBe("still alive");
  await fresh.dispose();
}
