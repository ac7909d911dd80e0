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

  test("a sync call that outlives syncTimeoutMs leaves the backend crashed: its late answer is never read as the next call's", async () => {
    const backend = await WasmBackend.create({ syncTimeoutMs: 1 });
    try {
      const model = await backend.loadModel({ path: await fixturePath("tiny") });
      // Tokenizing 2.4 MB of text takes the worker far longer than 1 ms: the caller stops waiting before the answer.
      expect(() => model.tokenize("lorem ipsum ".repeat(200_000))).toThrow(/did not answer tokenize \(request \d+\): no answer within 1 ms/);
      let error: unknown;
      try {
        model.tokenize("a");
      } catch (thrown) {
        error = thrown;
      }
      expect(BackendError.isInstance(error) && error.code).toBe("crashed");
      expect((error as Error).message).toMatch(/the Wasm worker stopped: it did not answer tokenize/);
      await expect(model.createContext({ ctx: 256 })).rejects.toThrow(/the Wasm worker stopped/);
    } finally {
      await backend.dispose();
    }
  });

  test.each([0, -1, Number.NaN, "5"])("syncTimeoutMs %s is refused with InvalidArgumentError", async (value) => {
    await expect(WasmBackend.create({ syncTimeoutMs: value as number })).rejects.toMatchObject({ name: "InvalidArgumentError", argument: "syncTimeoutMs" });
  });
});
