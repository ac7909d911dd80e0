import { BackendError } from "@hybrid-llm/core";
import { runCli } from "@hybrid-llm/server";
import { WasmBackend } from "@hybrid-llm/wasm";
import { describe, expect, test } from "vitest";
import { fixturePath } from "./support/fixtures.js";
import { expectTrapRecovers } from "./support/wasm-trap.js";
import { sparseTinyWithExtraTensor } from "./support/sparse-model.js";

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("wasm and native give the same tokens", () => {
  test.each(["tiny", "nemotron-3-nano-twin"])("generate --temperature 0 on %s: --backend wasm == --backend node", async (profile) => {
    const path = await fixturePath(profile);
    const generate = async (backend: string) =>
      JSON.parse((await cli("generate", "--model", path, "--prompt", "Once upon a time, in a land far away", "--temperature", "0", "--max-tokens", "24", "--backend", backend, "--gpu", "off", "--json")).out);
    const wasm = await generate("wasm");
    const native = await generate("node");
    expect(wasm.backend.name).toBe("wasm");
    expect(native.backend.name).toBe("node");
    expect(wasm.tokens.length).toBeGreaterThan(0);
    expect(wasm.tokens).toEqual(native.tokens);
    expect(wasm.text).toBe(native.text);
  });

  test("plan --verify --backend wasm: planned == allocated", async () => {
    const { code, out } = await cli("plan", await fixturePath("nemotron-3-nano-twin"), "--ctx", "30000", "--slots", "5", "--verify", "--backend", "wasm", "--json");
    expect(code).toBe(0);
    expect(JSON.parse(out).matches).toBe(true);
  });
});

describe("wasm32 limits and failures", () => {
  test("a model too large for 4 GB is refused up front, saying how much it needs", async () => {
    // A sparse file: the header of the tiny fixture plus a 4 GiB tensor that exists only as a hole in the file.
    const path = sparseTinyWithExtraTensor("huge.weight", [65536, 32768]);
    const backend = await WasmBackend.create();
    try {
      const error = await backend.loadModel({ path }).catch((e: unknown) => e);
      expect(BackendError.isInstance(error)).toBe(true);
      expect((error as BackendError).code).toBe("too-large");
      expect((error as Error).message).toMatch(/loading this model needs \d+\.\d+ GiB of linear memory, beyond the 3\.75 GiB a wasm32 module can address/);
    } finally {
      await backend.dispose();
    }
  });

  test("a context too large for 4 GB is refused before allocation", async () => {
    const backend = await WasmBackend.create();
    try {
      const model = await backend.loadModel({ path: await fixturePath("nemotron-3-nano-twin") });
      const error = await model.createContext({ ctx: 1_048_576, slots: 8 }).catch((e: unknown) => e);
      expect((error as BackendError).code).toBe("too-large");
      expect((error as Error).message).toMatch(/a context of 1048576 tokens × 8 slots \(with the model\) needs 6\.\d+ GiB/);
      // The backend is fine: a context that fits works.
      const context = await model.createContext({ ctx: 4096, slots: 8 });
      expect(context.info.nCtx).toBe(4096);
    } finally {
      await backend.dispose();
    }
  });

  test("a trap inside the module becomes a typed error; the backend disposes and a new one works", async () => {
    await expectTrapRecovers();
  });
});
