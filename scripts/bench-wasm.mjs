#!/usr/bin/env node
// Wasm backend vs native backend, at equal threads, same GGUF files, same run: greedy decode tokens/s and prompt
// prefill tokens/s, after a warm-up of prefills and decode steps lasting --warmup-ms (default 3000) on each backend.
// Why that long: V8 runs a Wasm function in its baseline tier (Liftoff, ~3x slower here) until the function has run
// enough to be optimized (dynamic tiering, compiled in the background); a kernel's first ~1-3 s of use are slow, and
// the 16 steps this script used to warm up with left the first fixture of a run measured at ~0.3x instead of ~0.45x.
// Each backend's best of --rounds (default 3) runs, the backends taking turns, so a burst of load on a shared
// machine does not land on one side of a ratio only. Also prints the module's size.
// --threads 1,2 runs each profile at each count (Wasm above 1 thread: the multi-threaded build) and prints, per
// count above 1, the Wasm speed-up over Wasm at 1 thread.
// --baseline PATH also runs another single-threaded module (e.g. the previous build) at 1 thread in the same run and
// prints this build over it: decode and prefill speed-ups from a module change, under the same load.
// --prompt-tokens N prefills N tokens (the sentence below repeated) instead of the sentence x 6 (~60 tokens), so decode
// runs on a longer KV cache, where flash attention's share of a step grows.
// --wasm-only skips the native side (a machine without node-llama-cpp's libraries; native and ratio columns read NaN).
// Usage: npm run build && npm run bench:wasm [-- --tokens 64 --prompt-tokens 1024 --warmup-ms 3000 --rounds 3 --profiles bench-60m,bench-60m-q8_0 --threads 1,2]
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { writeFixtureFile } from "../packages/core/dist/node.js";
import { NodeBackend } from "../packages/node/dist/index.js";
import { WasmBackend, defaultWasmPath } from "../packages/wasm/dist/index.js";

const { values } = parseArgs({
  options: { tokens: { type: "string", default: "64" }, "warmup-ms": { type: "string", default: "3000" }, rounds: { type: "string", default: "3" }, profiles: { type: "string", default: defaultProfiles() }, threads: { type: "string", default: "1" }, "wasm-only": { type: "boolean", default: false }, baseline: { type: "string" }, "prompt-tokens": { type: "string" } },
});
const threadCounts = values.threads.split(",").map(Number);

/** f16 and the quantized formats CPU / edge users run, of the twin and bench-60m; tiny as the smallest case. */
function defaultProfiles() {
  const formats = ["", "-q8_0", "-q4_0", "-q4_K"];
  return ["tiny", ...formats.map((f) => `nemotron-3-nano-twin${f}`), ...formats.map((f) => `bench-60m${f}`)].join(",");
}
const tokens = Number(values.tokens);
const warmupMs = Number(values["warmup-ms"]);
const rounds = Number(values.rounds);
const promptTokens = values["prompt-tokens"] === undefined ? undefined : Number(values["prompt-tokens"]);
if (promptTokens !== undefined && !(Number.isInteger(promptTokens) && promptTokens > 0 && promptTokens + tokens <= 4096)) throw new Error(`--prompt-tokens: a whole number from 1 to ${4096 - tokens} (the context is 4,096 tokens)`);
const dir = join(fileURLToPath(new URL("..", import.meta.url)), ".cache", "bench");
mkdirSync(dir, { recursive: true });
const prompt = "The quick brown fox jumps over the lazy dog. ".repeat(6);

/** A model and context on `backend`, warmed up; `run()` times one prefill and `tokens` greedy decode steps. */
async function open(backend, path, threads) {
  const model = await backend.loadModel({ path });
  const context = await model.createContext({ ctx: 4096, slots: 1, threads, batch: Math.max(512, promptTokens ?? 0) });
  const sentence = model.tokenize(prompt);
  const input = promptTokens === undefined ? sentence : Int32Array.from({ length: promptTokens }, (_, i) => sentence[i % sentence.length]);
  const decodeOne = (token, position) =>
    context.decode({ tokens: Int32Array.of(token), positions: Int32Array.of(position), sequenceIds: Int32Array.of(0), outputs: Uint8Array.of(1) });
  const prefill = async () => {
    context.clear();
    const started = performance.now();
    const result = await context.decode({
      tokens: input,
      positions: Int32Array.from(input, (_, i) => i),
      sequenceIds: new Int32Array(input.length),
      outputs: Uint8Array.from(input, (_, i) => (i === input.length - 1 ? 1 : 0)),
    });
    return { ms: performance.now() - started, next: result.argmax[0] };
  };
  // Warm-up (see the top): prefills and 16 decode steps each, for at least warmupMs.
  const warmupEnds = performance.now() + warmupMs;
  do {
    let { next } = await prefill();
    for (let i = 0; i < 16; i++) next = (await decodeOne(next, input.length + i)).argmax[0];
  } while (performance.now() < warmupEnds);
  return {
    async run() {
      const timed = await prefill();
      let next = timed.next;
      const started = performance.now();
      for (let i = 0; i < tokens; i++) next = (await decodeOne(next, input.length + i)).argmax[0];
      const decodeMs = performance.now() - started;
      return { prefillTokensPerSecond: (input.length / timed.ms) * 1000, decodeTokensPerSecond: (tokens / decodeMs) * 1000 };
    },
    dispose: () => model.dispose(),
  };
}

/**
 * Each runner's best of `rounds` runs, the runners taking turns in every round: on a shared machine a burst of load
 * then slows one round of each rather than one backend's only measurement.
 */
async function measure(runners) {
  const best = runners.map(() => ({ prefillTokensPerSecond: 0, decodeTokensPerSecond: 0 }));
  for (let round = 0; round < rounds; round++) {
    for (const [i, runner] of runners.entries()) {
      if (runner === undefined) continue;
      const r = await runner.run();
      best[i].prefillTokensPerSecond = Math.max(best[i].prefillTokensPerSecond, r.prefillTokensPerSecond);
      best[i].decodeTokensPerSecond = Math.max(best[i].decodeTokensPerSecond, r.decodeTokensPerSecond);
    }
  }
  for (const runner of runners) await runner?.dispose();
  return runners.map((runner, i) => (runner === undefined ? { decodeTokensPerSecond: Number.NaN, prefillTokensPerSecond: Number.NaN } : best[i]));
}

const native = values["wasm-only"] ? undefined : await NodeBackend.create({ gpu: false });
const wasms = new Map();
for (const threads of threadCounts) wasms.set(threads, await WasmBackend.create({ threads }));
const baseline = values.baseline ? await WasmBackend.create({ wasm: values.baseline }) : undefined;
const first = wasms.get(threadCounts[0]);
console.log(`wasm module: ${(statSync(defaultWasmPath).size / 1e6).toFixed(2)} MB; ${first.systemInfo.trim()}`);
console.log(`threads: ${threadCounts.join(", ")} (equal on both backends); decode: ${tokens} greedy tokens, prefill: one batch, after ${warmupMs} ms of warm-up; best of ${rounds} rounds, backends alternating`);
console.log("model                  thr   size      decode tok/s wasm / native   ratio    prefill tok/s wasm / native   ratio   wasm vs 1 thr: decode prefill");
for (const profile of values.profiles.split(",")) {
  const path = join(dir, `${profile}.gguf`);
  if (!existsSync(path)) await writeFixtureFile(profile, path);
  let single;
  for (const threads of threadCounts) {
    const withBaseline = threads === 1 && baseline !== undefined;
    const [w, n, b] = await measure([
      await open(wasms.get(threads), path, threads),
      native ? await open(native, path, threads) : undefined,
      withBaseline ? await open(baseline, path, 1) : undefined,
    ]);
    if (threads === 1) single = w;
    if (withBaseline) {
      console.log(
        `${profile.padEnd(22)}   1 baseline: decode ${b.decodeTokensPerSecond.toFixed(1)} tok/s (this build ${(w.decodeTokensPerSecond / b.decodeTokensPerSecond).toFixed(2)}×), prefill ${b.prefillTokensPerSecond.toFixed(1)} tok/s (${(w.prefillTokensPerSecond / b.prefillTokensPerSecond).toFixed(2)}×)`,
      );
    }
    const scaling = threads > 1 && single ? `${(w.decodeTokensPerSecond / single.decodeTokensPerSecond).toFixed(2).padStart(5)}×  ${(w.prefillTokensPerSecond / single.prefillTokensPerSecond).toFixed(2).padStart(5)}×` : "";
    console.log(
      `${profile.padEnd(22)} ${String(threads).padStart(3)} ${`${(statSync(path).size / 1e6).toFixed(1)} MB`.padStart(8)}  ${w.decodeTokensPerSecond.toFixed(1).padStart(10)} / ${n.decodeTokensPerSecond.toFixed(1).padEnd(14)} ${(w.decodeTokensPerSecond / n.decodeTokensPerSecond).toFixed(2).padStart(5)}×  ${w.prefillTokensPerSecond.toFixed(1).padStart(12)} / ${n.prefillTokensPerSecond.toFixed(1).padEnd(14)} ${(w.prefillTokensPerSecond / n.prefillTokensPerSecond).toFixed(2).padStart(5)}×   ${scaling}`,
    );
  }
}
for (const wasm of wasms.values()) await wasm.dispose();
await native?.dispose();
