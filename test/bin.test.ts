import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, test } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "node_modules", ".bin", "hybrid-llm");

// `npm ci` links the bin before the build exists; the committed shim keeps `npx hybrid-llm` working on a fresh clone.
test("the hybrid-llm bin is linked and runs", async () => {
  const { stdout } = await promisify(execFile)(bin, ["plan", "--list-presets"], { cwd: root });
  expect(stdout).toMatch(/^nemotron3-nano-30b-a3b\s+nemotron_h_moe/m);
});

test("the bin: a missing model file is one line on stderr and exit 1, no stack trace", async () => {
  const failure = await promisify(execFile)(bin, ["generate", "--model", "nope.gguf", "--prompt", "hi"], { cwd: root }).then(
    () => undefined,
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
  expect(failure).toMatchObject({ code: 1, stdout: "", stderr: "hybrid-llm generate: no such model file: nope.gguf\n" });
});
