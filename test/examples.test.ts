import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { modelPreset, planMemory, planTotalBytes } from "@hybrid-llm/core";
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

/** Runs an example with node and returns its last stdout line, parsed. */
async function lastJsonLine(example: string, args: string[] = []): Promise<Record<string, any>> {
  const { stdout } = await promisify(execFile)(process.execPath, [example, ...args], { cwd: root, timeout: 120_000 });
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

test("examples/streaming-chat.mjs runs: the answer arrives in pieces that spell the finished text", async () => {
  const output = await lastJsonLine("examples/streaming-chat.mjs");
  expect(output.pieces).toBeGreaterThan(1);
  expect(output.streamed).toBe(output.text);
  expect(["stop", "length"]).toContain(output.reason);
  expect(output.usage.completionTokens).toBeGreaterThan(0);
  // The chat template's markup around the two messages is in the prompt, not only their words.
  expect(output.usage.promptTokens).toBeGreaterThan(20);
});

test("examples/concurrent-users.mjs runs: 8 users at once, each step one batch for all of them", async () => {
  const output = await lastJsonLine("examples/concurrent-users.mjs");
  expect(output.users).toHaveLength(8);
  for (const user of output.users) expect(["stop", "length"]).toContain(user.reason);
  expect(output.peakActive).toBe(8);
  expect(output.slotsBusy).toBe(0);
  // Batched: far fewer steps than tokens (one user alone would take one step per token).
  expect(output.steps).toBeLessThan(output.generated / 4);
});

test("examples/openai-client.mjs runs: the openai package streams a chat and gets a completion from hybrid-llm serve", async () => {
  const output = await lastJsonLine("examples/openai-client.mjs");
  expect(output.models).toEqual(["tiny"]);
  expect(output.chat.chunks).toBeGreaterThan(1);
  expect(["stop", "length"]).toContain(output.chat.finishReason);
  expect(output.chat.usage.completion_tokens).toBeGreaterThan(0);
  expect(output.chat.usage.total_tokens).toBe(output.chat.usage.prompt_tokens + output.chat.usage.completion_tokens);
  expect(["stop", "length"]).toContain(output.completion.finishReason);
  expect(output.completion.usage.completion_tokens).toBeGreaterThan(0);
});

test("examples/fit-budget.mjs runs: the largest context and the most slots that fit 8 GiB, and no more", async () => {
  const output = await lastJsonLine("examples/fit-budget.mjs");
  const { spec } = modelPreset("nemotron3-nano-30b-a3b")!;
  const budget = 8 * 1024 ** 3;
  expect(output.budget).toBe(budget);
  const { ctx } = output.longestContext;
  expect(output.longestContext.totalBytes).toBeLessThanOrEqual(budget);
  expect(planTotalBytes(planMemory(spec, { ctx, slots: 8 }))).toBe(output.longestContext.totalBytes);
  expect(planTotalBytes(planMemory(spec, { ctx: ctx + 256, slots: 8 }))).toBeGreaterThan(budget);
  const { slots } = output.mostSlots;
  expect(output.mostSlots.totalBytes).toBeLessThanOrEqual(budget);
  expect(planTotalBytes(planMemory(spec, { ctx: 131_072, slots: slots + 1 }))).toBeGreaterThan(budget);
  // Before llama.cpp PR #19559 every slot of a hybrid model got the whole context.
  expect(output.at131k.perStreamAttentionKvBytes).toBe(8 * output.at131k.attentionKvBytes);
});
