import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, test } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));

test("examples/node-engine.mjs runs: three concurrent streams, batched, all finished", async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ["examples/node-engine.mjs"], { cwd: root, timeout: 120_000 });
  const output = JSON.parse(stdout.trim().split("\n").at(-1)!);
  expect(output.results).toHaveLength(3);
  for (const result of output.results) expect(["stop", "length"]).toContain(result.reason);
  expect(output.stats.slotsBusy).toBe(0);
  expect(output.stats.steps).toBeLessThan(output.results.reduce((n: number, r: { tokens: number }) => n + r.tokens, 0) + 3);
});
