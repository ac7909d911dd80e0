#!/usr/bin/env node
// The sampled serving path vs greedy, on the realistic-vocab fixture (131,072 tokens; --profile bench-60m-real-vocab:
// the same vocabulary under bench-60m's 768-wide body, a realistic compute per token): `hybrid-llm bench` at 8 slots,
// greedy and temperature 0.8 / top-p 0.95 runs alternated (so a busy machine slows both alike), per backend. Prints
// the median aggregate decode tok/s of each, their ratio, and the JavaScript share of step time on the sampled path;
// then the same ratio per second of process CPU time, which time-sharing on a busy machine changes least (at 1 thread;
// with more, llama.cpp's spinning threads count too).
// Usage: npm run build && npm run bench:sampling [-- --rounds 3 --backends node,wasm --gen-tokens 64 --threads 2
//        --profile real-vocab]
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
  },
});
const root = fileURLToPath(new URL("..", import.meta.url));
const dir = join(root, ".cache", "bench");
mkdirSync(dir, { recursive: true });
const model = join(dir, `${values.profile}.gguf`);
if (!existsSync(model)) await writeFixtureFile(values.profile, model);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const bench = (backend, sampling) => {
  const args = [join(root, "packages", "server", "dist", "cli.js"), "bench", "--model", model, "--backend", backend, "--slots", values.slots, "--threads", values.threads];
  args.push("--prompt-tokens", values["prompt-tokens"], "--gen-tokens", values["gen-tokens"], "--json", ...sampling);
  return JSON.parse(execFileSync(process.execPath, args, { encoding: "utf8" }).trim().split("\n").at(-1));
};

for (const backend of values.backends.split(",")) {
  const greedy = [];
  const sampled = [];
  for (let round = 0; round < Number(values.rounds); round++) {
    greedy.push(bench(backend, ["--temperature", "0"]));
    sampled.push(bench(backend, ["--temperature", "0.8", "--top-p", "0.95"]));
  }
  const g = median(greedy.map((r) => r.aggregateDecodeTokensPerSecond));
  const s = median(sampled.map((r) => r.aggregateDecodeTokensPerSecond));
  const js = median(sampled.map((r) => r.jsShareOfStepTime));
  const gCpu = median(greedy.map((r) => r.aggregateDecodeTokensPerCpuSecond));
  const sCpu = median(sampled.map((r) => r.aggregateDecodeTokensPerCpuSecond));
  console.log(
    `${backend}: greedy ${g.toFixed(1)} tok/s, temperature 0.8 / top-p 0.95 ${s.toFixed(1)} tok/s (${(s / g).toFixed(3)}× greedy); ` +
      `JS share of step time, sampled: ${(js * 100).toFixed(2)} % (${values.slots} slots, ${values.profile}, ${values.threads} threads, ${values.rounds} rounds, medians)`,
  );
  console.log(`${backend}, per CPU second: greedy ${gCpu.toFixed(1)} tok/s, sampled ${sCpu.toFixed(1)} tok/s (${(sCpu / gCpu).toFixed(3)}× greedy)`);
}
