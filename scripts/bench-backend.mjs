#!/usr/bin/env node
// Load time and single-sequence greedy decode speed: hybrid-llm's node backend vs node-llama-cpp, on the same GGUF
// files and thread count, each in its own child process (one llama.cpp per process), in the same run.
// Usage: npm run build && npm run bench:backend [-- --threads 1 --tokens 128 --runs 3]
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    threads: { type: "string", default: "1" },
    tokens: { type: "string", default: "128" },
    runs: { type: "string", default: "3" },
    child: { type: "string" },
    model: { type: "string" },
  },
});
const threads = Number(values.threads);
const tokens = Number(values.tokens);
const prompt = "The quick brown fox jumps over the lazy dog, and then";

async function ours(path) {
  const { NodeBackend } = await import("../packages/node/dist/index.js");
  const backend = await NodeBackend.create({ gpu: false });
  const started = performance.now();
  const model = await backend.loadModel({ path });
  const loadMs = performance.now() - started;
  const context = await model.createContext({ ctx: 4096, slots: 1, threads, batch: 512 });
  const promptTokens = model.tokenize(prompt);
  let result = await context.decode({
    tokens: promptTokens,
    positions: Int32Array.from(promptTokens, (_, i) => i),
    sequenceIds: new Int32Array(promptTokens.length),
    outputs: Uint8Array.from(promptTokens, (_, i) => (i === promptTokens.length - 1 ? 1 : 0)),
  });
  const decodeStarted = performance.now();
  for (let i = 0; i < tokens; i++) {
    result = await context.decode({
      tokens: Int32Array.of(result.argmax[0]),
      positions: Int32Array.of(promptTokens.length + i),
      sequenceIds: Int32Array.of(0),
      outputs: Uint8Array.of(1),
    });
  }
  const decodeMs = performance.now() - decodeStarted;
  await backend.dispose();
  return { loadMs, tokensPerSecond: (tokens / decodeMs) * 1000 };
}

async function peer(path) {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const started = performance.now();
  const model = await llama.loadModel({ modelPath: path });
  const loadMs = performance.now() - started;
  const context = await model.createContext({ contextSize: 4096, sequences: 1, threads, batchSize: 512 });
  const sequence = context.getSequence();
  let generated = 0;
  let decodeStarted = 0;
  for await (const _ of sequence.evaluate(model.tokenize(prompt), { temperature: 0 })) {
    if (generated === 0) decodeStarted = performance.now(); // the first token comes from the prompt's logits
    if (++generated > tokens) break;
  }
  const decodeMs = performance.now() - decodeStarted;
  await context.dispose();
  await model.dispose();
  return { loadMs, tokensPerSecond: (tokens / decodeMs) * 1000 };
}

if (values.child) {
  const run = values.child === "ours" ? ours : peer;
  process.stdout.write(JSON.stringify(await run(values.model)));
} else {
  const { writeFixtureFile } = await import("../packages/core/dist/node.js");
  const dir = join(fileURLToPath(new URL("..", import.meta.url)), ".cache", "bench");
  mkdirSync(dir, { recursive: true });
  const self = fileURLToPath(import.meta.url);
  console.log(`single sequence, greedy, ${tokens} tokens after a ${prompt.split(" ").length}-word prompt, ${threads} thread(s), CPU; best of ${values.runs} runs each`);
  console.log("fixture                 load ms (ours / node-llama-cpp)   decode tok/s (ours / node-llama-cpp)   decode ratio");
  for (const profile of ["tiny", "nemotron-3-nano-twin"]) {
    const path = join(dir, `${profile}.gguf`);
    if (!existsSync(path)) await writeFixtureFile(profile, path);
    const measure = (who) => {
      const runs = Array.from({ length: Number(values.runs) }, () =>
        JSON.parse(execFileSync(process.execPath, [self, "--child", who, "--model", path, "--threads", String(threads), "--tokens", String(tokens)], { encoding: "utf8" })),
      );
      return { loadMs: Math.min(...runs.map((r) => r.loadMs)), tokensPerSecond: Math.max(...runs.map((r) => r.tokensPerSecond)) };
    };
    const a = measure("ours");
    const b = measure("peer");
    console.log(
      `${profile.padEnd(22)} ${a.loadMs.toFixed(1).padStart(8)} / ${b.loadMs.toFixed(1).padEnd(22)} ${a.tokensPerSecond.toFixed(1).padStart(10)} / ${b.tokensPerSecond.toFixed(1).padEnd(24)} ${(a.tokensPerSecond / b.tokensPerSecond).toFixed(2)}×`,
    );
  }
}
