#!/usr/bin/env node
// llama.cpp's RPC backend on loopback vs the same model on this machine alone: `hybrid-llm bench` (the engine,
// greedy, n concurrent requests) once locally and once with every layer split over two rpc-server workers on
// 127.0.0.1, alternated over rounds; prints tokens/s and the ratio. On one machine RPC only adds work (serializing
// graphs, loopback round trips per step), so the ratio shows the protocol's overhead, not a speed-up.
// Usage: npm run build && npm run bench:rpc [-- --profiles tiny,nemotron-3-nano-twin --slots 1 --rounds 2]
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { writeFixtureFile } from "../packages/core/dist/node.js";
import { startRpcWorker } from "../packages/node/dist/index.js";

const { values } = parseArgs({
  options: {
    profiles: { type: "string", default: "tiny,nemotron-3-nano-twin" },
    slots: { type: "string", default: "1" },
    "prompt-tokens": { type: "string", default: "32" },
    "gen-tokens": { type: "string", default: "64" },
    rounds: { type: "string", default: "2" },
  },
});
const root = fileURLToPath(new URL("..", import.meta.url));
const cli = join(root, "packages", "server", "dist", "cli.js");
const dir = join(root, ".cache", "bench");
mkdirSync(dir, { recursive: true });

const workers = await Promise.all([startRpcWorker({ threads: 1 }), startRpcWorker({ threads: 1 })]);
const rpc = ["--rpc", workers.map((worker) => worker.endpoint).join(","), "--tensor-split", "1,1"];
const bench = (path, extra) =>
  JSON.parse(
    execFileSync(
      process.execPath,
      [cli, "bench", "--model", path, "--slots", values.slots, "--prompt-tokens", values["prompt-tokens"], "--gen-tokens", values["gen-tokens"], "--threads", "1", "--gpu", "off", "--json", ...extra],
      { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
    ),
  );
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
try {
  console.log(`workers: ${workers.map((worker) => worker.endpoint).join(", ")} (1 thread each); ${values.slots} slot(s), ${values["prompt-tokens"]} prompt + ${values["gen-tokens"]} generated tokens`);
  for (const profile of values.profiles.split(",")) {
    const path = join(dir, `${profile}.gguf`);
    await writeFixtureFile(profile, path);
    const runs = { local: [], rpc: [] };
    for (let round = 0; round < Number(values.rounds); round++) {
      runs.local.push(bench(path, []));
      runs.rpc.push(bench(path, rpc));
    }
    const summary = (kind) => ({
      prefill: median(runs[kind].map((r) => r.aggregatePrefillTokensPerSecond)),
      decode: median(runs[kind].map((r) => r.aggregateDecodeTokensPerSecond)),
    });
    const local = summary("local");
    const split = summary("rpc");
    console.log(
      `${profile.padEnd(22)} decode ${local.decode.toFixed(1)} tok/s local, ${split.decode.toFixed(1)} over 2 workers (×${(split.decode / local.decode).toFixed(2)}); ` +
        `prefill ${local.prefill.toFixed(0)} vs ${split.prefill.toFixed(0)} tok/s (×${(split.prefill / local.prefill).toFixed(2)})`,
    );
  }
} finally {
  await Promise.all(workers.map((worker) => worker.stop()));
}
