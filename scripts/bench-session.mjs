#!/usr/bin/env node
// Saved sessions: is a conversation restored from a file as fast to continue as one still cached in memory?
// For each round: turn 1 (a --history-token prompt, an --answer-token answer) on engine A; save the session to a
// file; turn 2 (--new tokens) on A (warm, in memory). Then a fresh context (engine B) reads the file, restores it and
// runs the same turn 2 (after a warm-up decode of its own, as A had). Reports the median time to first token of turn 2 warm vs restored (and the restore itself).
// Usage: npm run build && npm run bench:session [-- --history 1500 --new 100 --answer 32 --rounds 5 --threads 2]
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Engine } from "../packages/core/dist/index.js";
import { writeFixtureFile } from "../packages/core/dist/node.js";
import { NodeBackend } from "../packages/node/dist/index.js";

const { values } = parseArgs({
  options: {
    history: { type: "string", default: "1500" },
    new: { type: "string", default: "100" },
    answer: { type: "string", default: "32" },
    rounds: { type: "string", default: "5" },
    threads: { type: "string", default: "2" },
    fixture: { type: "string", default: "nemotron-3-nano-twin" },
  },
});
const n = (key) => Number(values[key]);
const dir = join(fileURLToPath(new URL("..", import.meta.url)), ".cache", "bench");
mkdirSync(dir, { recursive: true });
const path = join(dir, `${values.fixture}.gguf`);
if (!existsSync(path)) await writeFixtureFile(values.fixture, path);

const backend = await NodeBackend.create({ gpu: false });
const model = await backend.loadModel({ path });
const ctx = n("history") + n("answer") + n("new") + 512;
const newEngine = async () => new Engine({ model, context: await model.createContext({ ctx, slots: 2, threads: n("threads") }) });
let seed = 99;
const randomTokens = (count) => Array.from({ length: count }, () => 300 + ((seed = (seed * 1103515245 + 12345) % 2147483648) % (model.info.vocabSize - 300)));
const ask = (prompt, maxTokens) => ({ prompt: Int32Array.from(prompt), temperature: 0, maxTokens, ignoreEndOfGeneration: true, stopTokens: [] });
async function firstToken(engine, prompt) {
  const started = performance.now();
  let ttft;
  let cached;
  for await (const part of engine.generate(ask(prompt, 1))) {
    if (part.type === "start") cached = part.cachedTokens;
    if (part.type === "token") ttft ??= performance.now() - started;
  }
  return { ttft, cached };
}

const files = mkdtempSync(join(tmpdir(), "hybrid-llm-bench-session-"));
const warm = [];
const restored = [];
const restore = [];
let bytes = 0;
for (let round = 0; round < n("rounds"); round++) {
  const a = await newEngine();
  const turn1 = randomTokens(n("history"));
  const answer = (await a.complete(ask(turn1, n("answer")))).tokens;
  const conversation = [...turn1, ...answer];
  const file = join(files, `round-${round}.session`);
  const saved = await a.saveSession(conversation);
  bytes = saved.length;
  writeFileSync(file, saved);
  const turn2 = [...conversation, ...randomTokens(n("new"))];
  const w = await firstToken(a, turn2);
  await a.dispose();

  const b = await newEngine();
  // Both engines have decoded before turn 2 (the first decode of a context allocates its compute graph): warm B up.
  await b.complete(ask(randomTokens(16), 1));
  b.clearCache();
  const started = performance.now();
  await b.restoreSession(readFileSync(file));
  restore.push(performance.now() - started);
  const r = await firstToken(b, turn2);
  await b.dispose();
  if (w.cached !== r.cached) throw new Error(`the restored turn resumed at ${r.cached}, the warm one at ${w.cached}`);
  warm.push(w.ttft);
  restored.push(r.ttft);
  console.error(`  round ${round + 1}: warm ${w.ttft.toFixed(1)} ms, restored ${r.ttft.toFixed(1)} ms (+ restore ${restore.at(-1).toFixed(1)} ms), resumed at ${r.cached}`);
}
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const mw = median(warm);
const mr = median(restored);
const mrr = median(restore);
console.log(`${values.fixture}, ${n("history")}-token history + ${n("answer")}-token answer, turn 2 adds ${n("new")} tokens; ${n("threads")} thread(s); ${n("rounds")} rounds; session file ${(bytes / 1024 ** 2).toFixed(1)} MiB`);
console.log("| turn 2 | median TTFT ms | vs warm |");
console.log("|---|---|---|");
console.log(`| warm (in memory) | ${mw.toFixed(1)} | 1.00 |`);
console.log(`| restored from file | ${mr.toFixed(1)} | ${(mr / mw).toFixed(3)} |`);
console.log(`| restore + TTFT | ${(mrr + mr).toFixed(1)} | ${((mrr + mr) / mw).toFixed(3)} |`);
await backend.dispose();
