#!/usr/bin/env node
// The sampled serving path vs greedy, on the realistic-vocab fixture (131,072 tokens; --profile bench-60m-real-vocab:
// the same vocabulary under bench-60m's 768-wide body, a realistic compute per token): `hybrid-llm bench` at 8 slots,
// greedy and temperature 0.8 / top-p 0.95 runs alternated (so a busy machine slows both alike), per backend. Prints
// the median aggregate decode tok/s of each, their ratio, and the JavaScript share of step time on the sampled path;
// then the same ratio per second of process CPU time, which time-sharing on a busy machine changes least (at 1 thread;
// with more, llama.cpp's spinning threads count too).
// --bounded-ab: a third run each round, sampled with fast_pick's bounded sweep off (HYBRID_LLM_FAST_PICK_BOUNDED=off),
// for an A/B of the same build (native only: the Wasm module does not read the environment).
// Usage: npm run build && npm run bench:sampling [-- --rounds 3 --backends node,wasm --gen-tokens 64 --threads 2
//        --profile real-vocab --bounded-ab --warmup-tokens 256]
// --warmup-tokens: each bench first runs the same workload on other prompts, untimed (V8 optimizes the engine's
// JavaScript over its first ~150 steps; 0, the default, measures a fresh process).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { writeFixtureFile } from "../packages/core/dist/node.js";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    backends: { type: "string", default: "node,wasm" },
    "gen-tokens": { type: "string", default: "64" },
    "prompt-tokens": { type: "string", default: "32" },
    threads: { type: "string", default: "2" },
    slots: { type: "string", default: "8" },
    profile: { type: "string", default: "real-vocab" },
    "bounded-ab": { type: "boolean", default: false },
    "warmup-tokens": { type: "string", default: "0" },
  },
});
const root = fileURLToPath(new URL("..", import.meta.url));
const dir = join(root, ".cache", "bench");
mkdirSync(dir, { recursive: true });
const model = join(dir, `${values.profile}.gguf`);
if (!existsSync(model)) await writeFixtureFile(values.profile, model);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const bench = (backend, sampling, env = process.env) => {
  const args = [join(root, "packages", "server", "dist", "cli.js"), "bench", "--model", model, "--backend", backend, "--slots", values.slots, "--threads", values.threads];
  args.push("--prompt-tokens", values["prompt-tokens"], "--gen-tokens", values["gen-tokens"], "--warmup-tokens", values["warmup-tokens"], "--json", ...sampling);
  return JSON.parse(execFileSync(process.execPath, args, { encoding: "utf8", env }).trim().split("\n").at(-1));
};

for (const backend of values.backends.split(",")) {
  const greedy = [];
  const sampled = [];
  const unbounded = [];
  const topP = ["--temperature", "0.8", "--top-p", "0.95"];
  for (let round = 0; round < Number(values.rounds); round++) {
    greedy.push(bench(backend, ["--temperature", "0"]));
    sampled.push(bench(backend, topP));
    if (values["bounded-ab"] && backend === "node") unbounded.push(bench(backend, topP, { ...process.env, HYBRID_LLM_FAST_PICK_BOUNDED: "off" }));
  }
  const g = median(greedy.map((r) => r.aggregateDecodeTokensPerSecond));
  const s = median(sampled.map((r) => r.aggregateDecodeTokensPerSecond));
  const js = median(sampled.map((r) => r.jsShareOfStepTime));
  const gCpu = median(greedy.map((r) => r.aggregateDecodeTokensPerCpuSecond));
  const sCpu = median(sampled.map((r) => r.aggregateDecodeTokensPerCpuSecond));
  console.log(
    `${backend}: greedy ${g.toFixed(1)} tok/s, temperature 0.8 / top-p 0.95 ${s.toFixed(1)} tok/s (${(s / g).toFixed(3)}× greedy); ` +
      `JS share of step time, sampled: ${(js * 100).toFixed(2)} % (${values.slots} slots, ${values.profile}, ${values.threads} threads, ${values.rounds} rounds, warm-up ${values["warmup-tokens"]} tokens, medians)`,
  );
  const ratios = sampled.map((r, i) => r.aggregateDecodeTokensPerSecond / greedy[i].aggregateDecodeTokensPerSecond).sort((a, b) => a - b);
  console.log(`${backend}: sampled / greedy per round (its greedy run just before it): ${ratios[0].toFixed(3)}-${ratios.at(-1).toFixed(3)}, median ${median(ratios).toFixed(3)}`);
  console.log(`${backend}, per CPU second: greedy ${gCpu.toFixed(1)} tok/s, sampled ${sCpu.toFixed(1)} tok/s (${(sCpu / gCpu).toFixed(3)}× greedy)`);
  if (values["bounded-ab"] && backend !== "node") console.log(`${backend}: --bounded-ab is native only (the Wasm module does not read the environment)`);
  if (values["bounded-ab"] && backend === "node") {
    const u = median(unbounded.map((r) => r.aggregateDecodeTokensPerSecond));
    const uCpu = median(unbounded.map((r) => r.aggregateDecodeTokensPerCpuSecond));
    console.log(`${backend}, bounded sweep off: sampled ${u.toFixed(1)} tok/s (${(u / g).toFixed(3)}× greedy), per CPU second ${uCpu.toFixed(1)} (${(uCpu / gCpu).toFixed(3)}× greedy)`);
  }
}
