import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { buildFixture, generateOnce } from "@hybrid-llm/core";
import { NodeBackend } from "@hybrid-llm/node";
import { expect, test } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));

// The Deno example, run with one `deno run` command (the npm `deno` package), gives the native backend's tokens.
test("examples/deno-generate.ts runs under Deno 2 on the Wasm backend, token-identical to native", async () => {
  const { stdout } = await promisify(execFile)(
    join(root, "node_modules", ".bin", "deno"),
    ["run", "--allow-read", "--allow-write", "--allow-env", "examples/deno-generate.ts"],
    { cwd: root, env: { ...process.env, NO_COLOR: "1" }, timeout: 240_000 },
  );
  const result = JSON.parse(stdout.trim().split("\n").at(-1)!);
  expect(result.runtime).toMatch(/^deno 2\./);
  expect(result.backend).toBe("wasm");
  expect(result.architecture).toBe("nemotron_h_moe");

  const backend = await NodeBackend.create({ gpu: false });
  try {
    const model = await backend.loadModel({ bytes: buildFixture("nemotron-3-nano-twin") });
    const context = await model.createContext({ ctx: 4096, slots: 1, threads: 1 });
    const native = await generateOnce(model, context, model.tokenize("Once upon a time, in a land far away"), { temperature: 0, maxTokens: 24 });
    expect(result.tokens).toEqual(native.tokens);
  } finally {
    await backend.dispose();
  }
});

// The multi-threaded Wasm module (emscripten's pthread workers on node:worker_threads) under Deno.
test("Deno 2: the multi-threaded Wasm module (2 threads) gives the native backend's tokens", async () => {
  const { stdout } = await promisify(execFile)(
    join(root, "node_modules", ".bin", "deno"),
    ["run", "--allow-read", "--allow-write", "--allow-env", "test/support/deno-threads.ts"],
    { cwd: root, env: { ...process.env, NO_COLOR: "1" }, timeout: 240_000 },
  );
  const result = JSON.parse(stdout.trim().split("\n").at(-1)!);
  expect(result.runtime).toMatch(/^deno 2\./);
  expect(result.threads).toBe(2);
  const backend = await NodeBackend.create({ gpu: false });
  try {
    const model = await backend.loadModel({ bytes: buildFixture("tiny") });
    const context = await model.createContext({ ctx: 512, slots: 1, threads: 1 });
    const native = await generateOnce(model, context, model.tokenize("Once upon a time, in a land far away"), { temperature: 0, maxTokens: 16 });
    expect(result.tokens.length).toBeGreaterThan(0);
    expect(result.tokens).toEqual(native.tokens);
  } finally {
    await backend.dispose();
  }
});
