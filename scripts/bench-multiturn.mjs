#!/usr/bin/env node
// Multi-turn chat serving: U users each hold a T-turn conversation at once (closed loop: a user sends the next turn
// when the previous answer is complete); every turn appends N new tokens to the history, the answer is A tokens.
// Three runners on the same GGUF, threads and batch, each in its own child process, in the same run:
//   ours          hybrid-llm's engine with the prefix cache (default options)
//   ours, no cache the same engine with the prefix cache off (every turn re-evaluates the whole history)
//   node-llama-cpp 3.21.1: one context with U sequences, LlamaCompletion per user, its checkpoints on (defaults)
// Reports prompt tokens evaluated, the share of turn >= 2 prompt tokens served from cache, mean time to first
// token per turn, and wall time.
// Usage: npm run build && npm run bench:multiturn [-- --users 8 --turns 5 --new-tokens 1000 --answer 32 --threads 2]
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    users: { type: "string", default: "8" },
    turns: { type: "string", default: "5" },
    "new-tokens": { type: "string", default: "1000" },
    "first-tokens": { type: "string" },
    answer: { type: "string", default: "32" },
    threads: { type: "string", default: "2" },
    batch: { type: "string", default: "512" },
    fixture: { type: "string", default: "nemotron-3-nano-twin" },
    backend: { type: "string", default: "node" },
    only: { type: "string" },
    child: { type: "string" },
    model: { type: "string" },
    vocab: { type: "string" },
  },
});
const users = Number(values.users);
const turns = Number(values.turns);
const newTokens = Number(values["new-tokens"]);
const firstTokens = Number(values["first-tokens"] ?? values["new-tokens"]);
const answer = Number(values.answer);
const threads = Number(values.threads);
const batch = Number(values.batch);
const perUser = firstTokens + (turns - 1) * newTokens + turns * answer + 64;

/** The new tokens of user u's turn t: deterministic pseudo-random ids (the same for every runner). */
function turnTokens(vocabSize, user, turn) {
  let state = (user + 1) * 7919 + (turn + 1) * 104729;
  return Array.from({ length: turn === 0 ? firstTokens : newTokens }, () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return 300 + (state % (vocabSize - 300));
  });
}

/**
 * Runs every user's conversation concurrently. `send(user, prompt)` generates the answer and reports
 * `{ tokens, firstTokenMs, evaluated }`. Returns per-turn records.
 */
async function conversations(vocabSize, send) {
  const records = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: users }, async (_, user) => {
      let history = [];
      for (let turn = 0; turn < turns; turn++) {
        const prompt = [...history, ...turnTokens(vocabSize, user, turn)];
        const sent = performance.now();
        const result = await send(user, prompt);
        records.push({ user, turn, promptTokens: prompt.length, history: history.length, evaluated: result.evaluated, ttftMs: result.firstTokenAt - sent });
        history = [...prompt, ...result.tokens];
      }
    }),
  );
  return { records, wallMs: performance.now() - started };
}

async function ours(path, cache) {
  const { Engine } = await import("../packages/core/dist/index.js");
  const backend =
    values.backend === "wasm"
      ? await (await import("../packages/wasm/dist/index.js")).WasmBackend.create()
      : await (await import("../packages/node/dist/index.js")).NodeBackend.create({ gpu: false });
  const model = await backend.loadModel({ path });
  const context = await model.createContext({ ctx: users * perUser, slots: users, threads, batch });
  const engine = new Engine({ model, context, maxQueue: users, ...(cache ? {} : { prefixCache: false }) });
  const run = await conversations(Number(values.vocab), async (_user, prompt) => {
    const tokens = [];
    let firstTokenAt = 0;
    let evaluated = 0;
    for await (const part of engine.generate({ prompt: Int32Array.from(prompt), maxTokens: answer, temperature: 0, ignoreEndOfGeneration: true })) {
      if (part.type === "token") {
        if (tokens.length === 0) firstTokenAt = performance.now();
        tokens.push(part.token);
      }
      if (part.type === "finish") evaluated = part.usage.promptTokens - part.usage.cachedPromptTokens;
    }
    return { tokens, firstTokenAt, evaluated };
  });
  const cacheStats = engine.stats().cache;
  await engine.dispose();
  await backend.dispose();
  return { ...run, checkpointBytes: cacheStats.checkpointBytes, checkpoints: cacheStats.checkpoints };
}

async function peer(path) {
  const { getLlama, LlamaLogLevel, LlamaCompletion } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: path });
  const context = await model.createContext({ contextSize: perUser, sequences: users, threads, batchSize: batch });
  const sequences = Array.from({ length: users }, () => context.getSequence());
  const completions = sequences.map((contextSequence) => new LlamaCompletion({ contextSequence }));
  const run = await conversations(Number(values.vocab), async (user, prompt) => {
    const sequence = sequences[user];
    const before = sequence.tokenMeter.usedInputTokens;
    const tokens = [];
    let firstTokenAt = 0;
    await completions[user].generateCompletion(prompt, {
      maxTokens: answer,
      temperature: 0,
      onToken: (chunk) => {
        if (tokens.length === 0) firstTokenAt = performance.now();
        tokens.push(...chunk);
      },
    });
    return { tokens, firstTokenAt, evaluated: sequence.tokenMeter.usedInputTokens - before };
  });
  const checkpointBytes = sequences.reduce((n, s) => n + s.checkpointsMemoryUsage, 0);
  await context.dispose();
  await model.dispose();
  return { ...run, checkpointBytes };
}

if (values.child) {
  const result = values.child === "peer" ? await peer(values.model) : await ours(values.model, values.child === "ours");
  process.stdout.write(JSON.stringify(result));
} else {
  const { writeFixtureFile, readGgufFile } = await import("../packages/core/dist/node.js");
  const { cacheSpecFromMetadata } = await import("../packages/core/dist/index.js");
  const dir = join(fileURLToPath(new URL("..", import.meta.url)), ".cache", "bench");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${values.fixture}.gguf`);
  if (!existsSync(path)) await writeFixtureFile(values.fixture, path);
  const self = fileURLToPath(import.meta.url);
  values.vocab = String(cacheSpecFromMetadata((await readGgufFile(path)).metadata).vocabSize);
  console.log(
    `${users} users × ${turns} turns, ${firstTokens} tokens in turn 1, ${newTokens} new tokens per later turn, ${answer}-token answers, greedy; ${values.fixture}; ${threads} thread(s), batch ${batch}, CPU (${values.backend} backend for ours)`,
  );
  const runners = [
    ["ours", "hybrid-llm, prefix cache"],
    ["peer", "node-llama-cpp 3.21.1"],
    ["ours-off", "hybrid-llm, cache off"],
  ].filter(([id]) => values.only === undefined || values.only.split(",").includes(id));
  const rows = [];
  for (const [id, label] of runners) {
    const args = [self, "--child", id, "--model", path, ...Object.entries(values).flatMap(([k, v]) => (["child", "model", "only"].includes(k) || v === undefined ? [] : [`--${k}`, String(v)]))];
    const result = JSON.parse(execFileSync(process.execPath, args, { encoding: "utf8", maxBuffer: 1 << 26 }));
    rows.push({ label, ...result });
  }
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const header = ["runner", "prompt tokens", "evaluated", "turn≥2 from cache", "history from cache", ...Array.from({ length: turns }, (_, t) => `TTFT t${t + 1} ms`), "t≥2/t1", "wall s", "checkpoint MiB"];
  const table = rows.map((row) => {
    const total = row.records.reduce((n, r) => n + r.promptTokens, 0);
    const evaluated = row.records.reduce((n, r) => n + r.evaluated, 0);
    const later = row.records.filter((r) => r.turn > 0);
    const sum = (key) => later.reduce((n, r) => n + r[key], 0);
    const laterShare = 1 - sum("evaluated") / sum("promptTokens");
    // Of the turn >= 2 prompts, the part a cache can serve: the history (earlier turns and answers).
    const historyShare = (sum("promptTokens") - sum("evaluated")) / sum("history");
    const ttft = Array.from({ length: turns }, (_, t) => mean(row.records.filter((r) => r.turn === t).map((r) => r.ttftMs)));
    return [
      row.label,
      String(total),
      String(evaluated),
      `${(laterShare * 100).toFixed(1)} %`,
      `${(historyShare * 100).toFixed(1)} %`,
      ...ttft.map((ms) => ms.toFixed(0)),
      `${((mean(ttft.slice(1)) / ttft[0]) * 100).toFixed(1)} %`,
      (row.wallMs / 1000).toFixed(1),
      (row.checkpointBytes / 1024 ** 2).toFixed(1),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ")} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const row of table) console.log(line(row));
  const warm = rows.find((r) => r.label === "hybrid-llm, prefix cache");
  const cold = rows.find((r) => r.label === "hybrid-llm, cache off");
  if (warm && cold) {
    const later = (row) => mean(row.records.filter((r) => r.turn > 0).map((r) => r.ttftMs));
    console.log(
      `turn ≥ 2 mean TTFT: ${later(warm).toFixed(0)} ms with the cache vs ${later(cold).toFixed(0)} ms cold (cache off) = ${((later(warm) / later(cold)) * 100).toFixed(1)} %; wall ${(cold.wallMs / warm.wallMs).toFixed(2)}× faster`,
    );
  }
}
