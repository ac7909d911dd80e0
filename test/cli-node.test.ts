import { type BackendModel, cacheSpecFromMetadata, parseGguf, planMemory } from "@hybrid-llm/core";
import { weightlessPresetFile } from "@hybrid-llm/core/node";
import { NodeBackend } from "@hybrid-llm/node";
import { runCli } from "@hybrid-llm/server";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { fixturePath } from "./support/fixtures.js";
import { greedy } from "./support/greedy.js";

const bin = fileURLToPath(new URL("../node_modules/.bin/hybrid-llm", import.meta.url));

/** Runs the built CLI with `input` on stdin (closed after it); resolves with its exit code and output. */
function runBin(args: readonly string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

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
    // The compute buffers too: measured by llama.cpp with no_alloc, then really allocated, the same bytes.
    expect(json.computeSource).toBe("llama.cpp no_alloc");
    expect(json.allocated.computeBytes).toBe(json.computeBytes);
    expect(json.computeBytes).toBeGreaterThan(json.computeBytesEstimate);
  });

  test("plan --verify says where llama.cpp put the context and the compute buffers (the device of every layer)", async () => {
    const { code, out } = await cli("plan", await fixturePath("tiny"), "--ctx", "4096", "--slots", "2", "--verify");
    expect(code).toBe(0);
    expect(out).toMatch(/^allocated in: CPU \(context [\d.]+ MiB, compute [\d.]+ MiB\)$/m);
  });

  test("plan --no-swa-full --verify on a sliding-window hybrid: the window-sized SWA cache, planned == allocated", async () => {
    const path = await fixturePath("lfm2-swa-tiny");
    const { code, out } = await cli("plan", path, "--ctx", "8192", "--slots", "4", "--no-swa-full", "--verify", "--json");
    expect(code).toBe(0);
    const json = JSON.parse(out);
    expect(json).toMatchObject({ matches: true, slidingWindow: 30, slidingLayers: 3, swaFull: false, swaCellsPerStream: 768 }); // 30 × 4 + 512
    expect(json.allocated.attentionKvBytes).toBe(json.attentionKvBytes);
    expect(json.attentionKvBytes).toBe(768 * 3 * 2 * 32 * 2); // 768 cells × 3 layers × K and V × 32 × f16
    const text = await cli("plan", path, "--ctx", "8192", "--slots", "4");
    expect(text.out).toMatch(/sliding window 30 tokens on 3 of 3 attention layers \(iSWA\): SWA cache 8,192 cells per stream, full-size/);
  });

  test("plan --preset: compute buffers measured by llama.cpp on the preset's weightless twin (no_alloc), said so", async () => {
    // The CLI caches twins under $XDG_CACHE_HOME/hybrid-llm/weightless: the repository's .cache here.
    const xdg = fileURLToPath(new URL("../.cache/xdg", import.meta.url));
    const weightlessDir = join(xdg, "hybrid-llm", "weightless");
    const saved = process.env.XDG_CACHE_HOME;
    process.env.XDG_CACHE_HOME = xdg;
    try {
      await presetComputeMeasured(weightlessDir);
      // Where the twin cannot be written (the cache is under a file), the plan stands with the estimate, saying why.
      process.env.XDG_CACHE_HOME = join(fileURLToPath(import.meta.url), "not-a-folder");
      const json = JSON.parse((await cli("plan", "--preset", "lfm2-1.2b", "--ctx", "4096", "--json")).out);
      expect(json.computeSource).toMatch(/^estimate \(llama\.cpp could not measure: /);
      expect(json.computeBytes).toBe(json.computeBytesEstimate);
    } finally {
      if (saved === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = saved;
    }
  });

  async function presetComputeMeasured(weightlessDir: string): Promise<void> {
    const args = ["plan", "--preset", "lfm2-1.2b", "--ctx", "65536", "--slots", "8"];
    const json = JSON.parse((await cli(...args, "--json")).out);
    expect(json.computeSource).toBe("llama.cpp no_alloc");
    const backend = await NodeBackend.create({ gpu: false });
    try {
      const twin = await weightlessPresetFile("lfm2-1.2b", weightlessDir);
      const [measured] = await backend.measureAllocations(twin, [{ ctx: 65536, slots: 8, flashAttention: true, threads: 1 }]);
      expect(json.computeBytes).toBe(measured!.computeBytes);
      expect(json.totalBytes).toBe(json.attentionKvBytes + json.recurrentStateBytes + json.computeBytes);
    } finally {
      await backend.dispose();
    }
    const { out } = await cli(...args);
    expect(out).toMatch(/compute buffers \(measured by llama\.cpp, no_alloc\)/);
    const estimate = await cli(...args, "--no-measure");
    expect(estimate.out).toMatch(/compute buffers \(estimate, ±2×, not a bound: --no-measure\)\s+~/);
  }

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
    const { code, out } = await cli("bench", "--model", path, "--slots", "4", "--prompt-tokens", "16", "--gen-tokens", "8", "--warmup-tokens", "12", "--threads", "1", "--vs", "node-llama-cpp", "--json");
    expect(code).toBe(0);
    const json = JSON.parse(out);
    expect(json.warmupTokens).toBe(12); // more than --gen-tokens: the context is sized for the warm-up too
    for (const bad of ["-1", "1.5", "x"]) {
      const refused = await cli("bench", "--model", path, "--warmup-tokens", bad);
      expect(refused.code).toBe(2);
      expect(refused.err).toMatch(/--warmup-tokens/);
    }
    expect(json.aggregateDecodeTokensPerSecond).toBeGreaterThan(0);
    expect(json.peer.aggregateDecodeTokensPerSecond).toBeGreaterThan(0);
    expect(json.ratio).toBeCloseTo(json.aggregateDecodeTokensPerSecond / json.peer.aggregateDecodeTokensPerSecond, 10);
    expect(json.jsShareOfStepTime).toBeGreaterThanOrEqual(0);
    expect(json.jsShareOfStepTime).toBeLessThan(1);
    // The same per second of the process's CPU time (what a busy shared machine changes least).
    expect(json.aggregateDecodeTokensPerCpuSecond).toBeGreaterThan(0);
    expect(Number.isFinite(json.aggregateDecodeTokensPerCpuSecond)).toBe(true);
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

describe("hybrid-llm chat", () => {
  test("over stdin: turns resume from the cache, /save writes the conversation, /reset forgets it", async () => {
    const path = await fixturePath("nemotron-3-nano-twin");
    const saved = join(mkdtempSync(join(tmpdir(), "hybrid-llm-chat-")), "chat.json");
    const question = "What is a state space model?";
    const input = [question, "How does it differ from attention?", `/save ${saved}`, "/reset", question, "/exit", "never read"].join("\n");
    const { code, stdout, stderr } = await runBin(["chat", "--model", path, "--temperature", "0", "--max-tokens", "8", "--gpu", "off", "--system", "Be brief."], input);
    expect(code).toBe(0);
    const turns = [...stderr.matchAll(/^\[(\d+) prompt tokens \((\d+) from cache\), (\d+) generated, (stop|length)/gm)].map((m) => ({
      prompt: Number(m[1]),
      cached: Number(m[2]),
      generated: Number(m[3]),
    }));
    expect(turns).toHaveLength(3);
    expect(turns[0]!.cached).toBe(0);
    // The second turn evaluates only the new message and its markup: the first turn's prompt and answer (all but the
    // last answer token, generated but never evaluated) come from the cache.
    expect(turns[1]!.cached).toBe(turns[0]!.prompt + turns[0]!.generated - 1);
    // After /reset the same question is a new conversation again: the same prompt, resumed from the cache, the same answer.
    expect(turns[2]!.prompt).toBe(turns[0]!.prompt);
    expect(turns[2]!.cached).toBeGreaterThan(0);
    const conversation = JSON.parse(readFileSync(saved, "utf8"));
    expect(conversation.messages.map((m: { role: string }) => m.role)).toEqual(["system", "user", "assistant", "user", "assistant"]);
    expect(conversation.messages[1].content).toBe(question);
    const [first, second] = [conversation.messages[2].content, conversation.messages[4].content];
    expect(stdout).toBe(`${first}\n${second}\n${first}\n`);
    expect(stderr).toMatch(/\(saved 5 messages to /);
    expect(stderr).not.toMatch(/never read/);
  });

  test("in a pseudo-terminal (util-linux script): a prompt, streaming, Ctrl-C stops the answer, Ctrl-C at the prompt exits", async () => {
    const path = await fixturePath("nemotron-3-nano-twin");
    // script -e: exit with the command's code; -f: flush each write; the terminal's output (both streams) on stdout.
    const child = spawn("script", ["-qefc", `${bin} chat --model ${path} --temperature 0 --max-tokens 4000 --gpu off`, "/dev/null"], { stdio: ["pipe", "pipe", "inherit"] });
    let screen = "";
    const waiters: { pattern: RegExp; from: number; resolve: () => void }[] = [];
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      screen += chunk;
      for (const waiter of waiters.splice(0)) {
        if (waiter.pattern.test(screen.slice(waiter.from))) waiter.resolve();
        else waiters.push(waiter);
      }
    });
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    /** Resolves once the terminal shows `pattern` after what it showed so far. */
    const waitFor = (pattern: RegExp) => new Promise<void>((resolve) => waiters.push({ pattern, from: screen.length, resolve }));

    try {
      await waitFor(/> /);
      // The echoed line, then the first character of the answer (not a cursor movement of the line editor).
      const answering = waitFor(/story\r*\n[^\x1b\r\n]/);
      child.stdin.write("Tell me a long story\r");
      await answering;
      const stopped = waitFor(/generated, cancelled;[\s\S]*> /);
      child.stdin.write("\x03");
      await stopped;
      child.stdin.write("\x03");
      expect(await exited).toBe(0);
    } finally {
      child.kill();
    }
    expect(screen).toMatch(/^\[\d+ prompt tokens \(0 from cache\), \d+ generated, cancelled; first token after \d+ ms/m);
  });
});
