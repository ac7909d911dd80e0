import { type BackendModel, cacheSpecFromMetadata, parseGguf, planMemory } from "@hybrid-llm/core";
import { NodeBackend } from "@hybrid-llm/node";
import { runCli } from "@hybrid-llm/server";
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { fixturePath } from "./support/fixtures.js";
import { greedy } from "./support/greedy.js";

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("hybrid-llm on the node backend", () => {
  test("plan --verify: planned == allocated, byte for byte", async () => {
    const path = await fixturePath("nemotron-3-nano-twin");
    const { code, out } = await cli("plan", path, "--ctx", "20000", "--slots", "6", "--kv-type", "q8_0", "--verify", "--json");
    expect(code).toBe(0);
    const json = JSON.parse(out);
    expect(json.matches).toBe(true);
    expect(json.allocated.attentionKvBytes).toBe(json.attentionKvBytes);
    expect(json.allocated.recurrentStateBytes).toBe(json.recurrentStateBytes);
    const plan = planMemory(cacheSpecFromMetadata(parseGguf(readFileSync(path)).metadata), { ctx: 20000, slots: 6, kvType: "q8_0" });
    expect(json.allocated.contextBytes).toBe(plan.attentionKvBytes + plan.recurrentStateBytes);
  });

  test("generate --temperature 0 --json gives the greedy tokens, the same every run", async () => {
    const path = await fixturePath("nemotron-3-nano-twin");
    const run = async () => JSON.parse((await cli("generate", "--model", path, "--prompt", "The quick brown fox", "--temperature", "0", "--max-tokens", "10", "--gpu", "off", "--json")).out);
    const first = await run();
    expect(first.usage.completionTokens).toBe(first.tokens.length);
    expect(first.tokens.length).toBeGreaterThan(0);
    expect(await run()).toMatchObject({ tokens: first.tokens, text: first.text });

    const backend = await NodeBackend.create({ gpu: false });
    const model: BackendModel = await backend.loadModel({ path });
    const context = await model.createContext({ ctx: 4096, threads: 1 });
    const [stream] = await greedy(context, model.info.vocabSize, [model.tokenize("The quick brown fox")], first.tokens.length);
    expect(stream!.tokens).toEqual(first.tokens);
    await backend.dispose();
  });

  test("generate refuses a prompt longer than the context with a typed error, exit 1", async () => {
    const path = await fixturePath("tiny");
    const { code, err } = await cli("generate", "--model", path, "--prompt", "word ".repeat(400), "--ctx", "256", "--gpu", "off", "--json");
    expect(code).toBe(1);
    expect(err).toMatch(/the prompt \(\d+ tokens\) plus maxTokens \(64\) exceeds the 256 tokens one sequence can hold/);
  });

  test("bench --vs node-llama-cpp --json reports both sides, the ratio and the JS share of step time", async () => {
    const path = await fixturePath("tiny");
    const { code, out } = await cli("bench", "--model", path, "--slots", "4", "--prompt-tokens", "16", "--gen-tokens", "8", "--threads", "1", "--vs", "node-llama-cpp", "--json");
    expect(code).toBe(0);
    const json = JSON.parse(out);
    expect(json.aggregateDecodeTokensPerSecond).toBeGreaterThan(0);
    expect(json.peer.aggregateDecodeTokensPerSecond).toBeGreaterThan(0);
    expect(json.ratio).toBeCloseTo(json.aggregateDecodeTokensPerSecond / json.peer.aggregateDecodeTokensPerSecond, 10);
    expect(json.jsShareOfStepTime).toBeGreaterThanOrEqual(0);
    expect(json.jsShareOfStepTime).toBeLessThan(1);
  });

  test("demo on a model: streams finish, allocation matches the plan exactly", async () => {
    const path = await fixturePath("tiny");
    const { code, out } = await cli("demo", "--model", path, "--slots", "4", "--tokens", "6", "--ctx", "1024", "--gpu", "off");
    expect(code).toBe(0);
    expect(out.match(/^slot \d: .* 6\/6 length$/gm)).toHaveLength(4);
    expect(out).toMatch(/24 tokens in [\d.]+ s/);
    expect(out).toMatch(/planned [\d.]+ [KM]iB: exact match/);
  });
});
