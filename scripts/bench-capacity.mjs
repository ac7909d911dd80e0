#!/usr/bin/env node
// Users per memory budget: how many requests one fixed attention-KV budget serves at once, and with what refusals,
// under a mixed workload arriving over time. Three configurations of the same model, KV cells and threads, each in
// its own child process, in the same run:
//   on-demand    hybrid-llm: one shared pool, requests claim cells as they generate, preemption when it runs dry
//   worst-case   hybrid-llm: one shared pool, each request reserves prompt + max_tokens when admitted
//   static split every slot capped at ctx / slots with its own stream and reservation (what node-llama-cpp's
//                sequences and pre-#19559 llama-server give): a long document that does not fit one slot is refused
// Workload (deterministic): R requests arriving at a fixed rate; 90 % short chats (--short prompt tokens), 10 % long
// documents (--long); every request asks max_tokens --max-tokens (as clients do) but its answer ends after a drawn
// length (uniform in [--answer-min, --answer-max]: the client has what it needs and stops, as at an end of turn).
// A request that waits in the queue longer than --deadline seconds counts as timed out (and is cancelled).
// Usage: npm run build && npm run bench:capacity [-- --ctx 16384 --requests 120 --rate 6 --threads 2]
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    ctx: { type: "string", default: "16384" },
    "slots-static": { type: "string", default: "8" },
    slots: { type: "string", default: "64" },
    requests: { type: "string", default: "120" },
    rate: { type: "string", default: "6" },
    short: { type: "string", default: "256" },
    long: { type: "string", default: "4096" },
    "max-tokens": { type: "string", default: "512" },
    "answer-min": { type: "string", default: "16" },
    "answer-max": { type: "string", default: "96" },
    deadline: { type: "string", default: "120" },
    threads: { type: "string", default: "2" },
    batch: { type: "string", default: "512" },
    fixture: { type: "string", default: "nemotron-3-nano-twin" },
    child: { type: "string" },
    model: { type: "string" },
  },
});
const n = (key) => Number(values[key]);

/** The workload, identical for every configuration: arrival time, prompt tokens, answer length. */
function workload(vocabSize) {
  let state = 12345;
  const random = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
  return Array.from({ length: n("requests") }, (_, i) => {
    const long = i % 10 === 9; // 10 %, spread evenly
    const length = long ? n("long") : n("short");
    const prompt = Array.from({ length }, () => 300 + Math.floor(random() * (vocabSize - 300)));
    const answer = n("answer-min") + Math.floor(random() * (n("answer-max") - n("answer-min") + 1));
    return { at: (i / n("rate")) * 1000, prompt, answer, long };
  });
}

async function child(config) {
  const { Engine, ContextOverflowError, QueueFullError, planContext } = await import("../packages/core/dist/index.js");
  const { NodeBackend } = await import("../packages/node/dist/index.js");
  const backend = await NodeBackend.create({ gpu: false });
  const model = await backend.loadModel({ path: values.model });
  const slots = config === "static" ? n("slots-static") : n("slots");
  const contextOptions = { ctx: n("ctx"), slots, unified: config !== "static", threads: n("threads"), batch: n("batch") };
  const context = await model.createContext(contextOptions);
  const { plan } = planContext(model.info.cacheSpec, contextOptions);
  const engine = new Engine({ model, context, maxQueue: 1024, defaultMaxTokens: n("max-tokens"), admission: { reserve: config === "on-demand" ? "on-demand" : "worst-case" } });
  const jobs = workload(model.info.vocabSize);
  const outcome = { completed: 0, refusedTooLong: 0, refusedQueue: 0, timedOut: 0, errors: 0, tokens: 0, ttft: [] };
  const started = performance.now();
  let peakWaiting = 0;
  await Promise.all(
    jobs.map(async (job) => {
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, job.at - (performance.now() - started))));
      const controller = new AbortController();
      const submitted = performance.now();
      let stream;
      try {
        stream = engine.generate({ prompt: Int32Array.from(job.prompt), maxTokens: n("max-tokens"), temperature: 0, ignoreEndOfGeneration: true, stopTokens: [], signal: controller.signal });
      } catch (error) {
        if (ContextOverflowError.isInstance(error)) outcome.refusedTooLong++;
        else if (QueueFullError.isInstance(error)) outcome.refusedQueue++;
        else outcome.errors++;
        return;
      }
      peakWaiting = Math.max(peakWaiting, engine.stats().queueDepth);
      let startedAt;
      const deadline = setTimeout(() => startedAt === undefined && controller.abort(), n("deadline") * 1000);
      let generated = 0;
      for await (const part of stream) {
        if (part.type === "start") startedAt = performance.now();
        if (part.type === "token") {
          if (generated === 0) outcome.ttft.push(performance.now() - submitted);
          generated++;
          if (generated >= job.answer) break; // the answer is complete: the client stops (an end of turn)
        }
        if (part.type === "error") outcome.errors++;
        if (part.type === "finish" && part.reason === "cancelled" && startedAt === undefined) outcome.timedOut++;
      }
      clearTimeout(deadline);
      outcome.tokens += generated;
      if (generated >= job.answer) outcome.completed++;
    }),
  );
  const wall = (performance.now() - started) / 1000;
  await engine.idle();
  const stats = engine.stats();
  const ttft = outcome.ttft.sort((a, b) => a - b);
  const result = {
    config,
    slots,
    nCtx: context.info.nCtx,
    cellsPerSlot: context.info.cellsPerStream,
    ...outcome,
    ttft: undefined,
    ttftP50: ttft[Math.floor(ttft.length / 2)] ?? null,
    ttftP95: ttft[Math.floor(ttft.length * 0.95)] ?? null,
    peakActive: stats.peakActive,
    peakWaiting,
    swaps: stats.preemption.swaps,
    recomputes: stats.preemption.recomputes,
    wall,
    tokensPerSecond: outcome.tokens / wall,
    kvBytes: plan.attentionKvBytes,
    recurrentBytes: plan.recurrentStateBytes,
  };
  await engine.dispose();
  await backend.dispose();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (values.child !== undefined) {
  await child(values.child);
} else {
  const { writeFixtureFile } = await import("../packages/core/dist/node.js");
  const dir = join(fileURLToPath(new URL("..", import.meta.url)), ".cache", "bench");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${values.fixture}.gguf`);
  if (!existsSync(path)) await writeFixtureFile(values.fixture, path);
  console.log(
    `${n("requests")} requests at ${n("rate")}/s: 90 % ${n("short")}-token chats, 10 % ${n("long")}-token documents; max_tokens ${n("max-tokens")}, answers ${n("answer-min")}-${n("answer-max")} tokens; ` +
      `${n("ctx")} KV cells for every configuration; ${values.fixture}; ${n("threads")} thread(s), batch ${n("batch")}; queue deadline ${n("deadline")} s`,
  );
  const configs = [
    ["on-demand", `hybrid-llm on-demand (${n("slots")} slots, one pool)`],
    ["worst-case", `hybrid-llm worst-case (${n("slots")} slots, one pool)`],
    ["static", `static split (${n("slots-static")} slots, one stream each)`],
  ];
  const rows = [];
  for (const [config, label] of configs) {
    const args = [fileURLToPath(import.meta.url), "--child", config, "--model", path, ...process.argv.slice(2)];
    const out = execFileSync(process.execPath, args, { encoding: "utf8", maxBuffer: 1 << 24, stdio: ["ignore", "pipe", "inherit"] });
    const result = JSON.parse(out.trim().split("\n").at(-1));
    rows.push({ ...result, label: config === "static" ? `static split (${result.slots} slots × ${result.cellsPerSlot} cells)` : label });
    console.error(`  ${label}: done in ${result.wall.toFixed(1)} s`);
  }
  const header = ["configuration", "completed", "refused (too long)", "timed out in queue", "errors", "peak concurrent", "peak queued", "swaps / recomputes", "TTFT p50 s", "TTFT p95 s", "tok/s", "wall s", "KV MiB", "recurrent MiB"];
  const mib = (b) => (b === null ? "?" : (b / 1024 ** 2).toFixed(1));
  const sec = (ms) => (ms === null ? "-" : (ms / 1000).toFixed(2));
  const table = rows.map((r) => [r.label, r.completed, r.refusedTooLong, r.timedOut, r.errors, r.peakActive, r.peakWaiting, `${r.swaps} / ${r.recomputes}`, sec(r.ttftP50), sec(r.ttftP95), r.tokensPerSecond.toFixed(1), r.wall.toFixed(1), mib(r.kvBytes), mib(r.recurrentBytes)]);
  console.log(`| ${header.join(" | ")} |`);
  console.log(`|${header.map(() => "---").join("|")}|`);
  for (const row of table) console.log(`| ${row.join(" | ")} |`);
  const staticPeak = rows.find((r) => r.config === "static").peakActive;
  const ours = rows.find((r) => r.config === "on-demand");
  console.log(`\non-demand peak concurrency ${ours.peakActive} vs static split ${staticPeak}: ${(ours.peakActive / staticPeak).toFixed(2)}x; on-demand refusals ${ours.refusedTooLong + ours.refusedQueue}, timeouts ${ours.timedOut}`);
}
