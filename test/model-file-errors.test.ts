import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Backend, BackendError, InvalidGgufError, ModelFileError } from "@hybrid-llm/core";
import { NodeBackend } from "@hybrid-llm/node";
import { WasmBackend } from "@hybrid-llm/wasm";
import { describe, expect, test } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "hybrid-llm-model-file-"));
const text = join(dir, "notes.txt");
writeFileSync(text, "not a model\n");

const rejection = async (promise: Promise<unknown>) => {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
};

// SDK users calling loadModel({ path }) get the typed errors, on both backends (the Wasm one across its worker:
// a missing file used to come back as BackendError "crashed", which restarts a serving engine).
describe.each([
  ["node", () => NodeBackend.create({ gpu: "off" })],
  ["wasm", () => WasmBackend.create()],
] as [string, () => Promise<Backend>][])("loadModel({ path }) on the %s backend", (_, create) => {
  test("a missing file, a folder, a text file: ModelFileError / InvalidGgufError, and the backend goes on", async () => {
    const backend = await create();
    try {
      const missing = await rejection(backend.loadModel({ path: join(dir, "nope.gguf") }));
      expect(ModelFileError.isInstance(missing)).toBe(true);
      expect(BackendError.isInstance(missing)).toBe(false);
      expect(missing).toMatchObject({ problem: "missing", code: "ENOENT", message: `no such model file: ${join(dir, "nope.gguf")}` });
      expect(await rejection(backend.loadModel({ path: dir }))).toMatchObject({ problem: "not-a-file" });
      expect(InvalidGgufError.isInstance(await rejection(backend.loadModel({ path: text })))).toBe(true);
    } finally {
      await backend.dispose();
    }
  });
});
