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

test("examples/chat-turns.mjs runs: turns 2 and 3 resume from the cache", async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ["examples/chat-turns.mjs"], { cwd: root, timeout: 120_000 });
  const output = JSON.parse(stdout.trim().split("\n").at(-1)!);
  const [first, second, third] = output.turns as { promptTokens: number; cachedTokens: number }[];
  expect(first!.cachedTokens).toBe(0);
  // Everything but the new message (and its markup) came from the cache.
  for (const [turn, previous] of [[second!, first!], [third!, second!]] as const) {
    expect(turn.cachedTokens).toBeGreaterThan(previous.promptTokens);
    expect(turn.promptTokens - turn.cachedTokens).toBeLessThan(64); // a ~30-token question in the fixture's tiny vocabulary
  }
  expect(output.cache.hits).toBe(2);
});
