import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, test } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));

// `npm ci` links the bin before the build exists; the committed shim keeps `npx hybrid-llm` working on a fresh clone.
test("the hybrid-llm bin is linked and runs", async () => {
  const { stdout } = await promisify(execFile)(join(root, "node_modules", ".bin", "hybrid-llm"), ["plan", "--list-presets"], { cwd: root });
  expect(stdout).toMatch(/^nemotron3-nano-30b-a3b\s+nemotron_h_moe/m);
});
