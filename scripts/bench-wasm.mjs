#!/usr/bin/env node
// Wasm backend vs native backend, at equal threads, same GGUF files, same run: greedy decode tokens/s (after
// warm-up: V8 tiers wasm up over the first calls) and prompt prefill tokens/s. Also prints the module's size.
// --threads 1,2 runs each profile at each count (Wasm above 1 thread: the multi-threaded build) and prints, per
// count above 1, the Wasm speed-up over Wasm at 1 thread.
// --baseline PATH also runs another single-threaded module (e.g. the previous build) at 1 thread in the same run and
// prints this build over it: decode and prefill speed-ups from a module change, under the same load.
// --wasm-only skips the native side (a machine without node-llama-cpp's libraries; native and ratio columns read NaN).
// Usage: npm run build && npm run bench:wasm [-- --tokens 64 --profiles bench-60m,bench-60m-q8_0 --threads 1,2]
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { writeFixtureFile } from "../packages/core/dist/node.js";
import { NodeBackend } from "../packages/node/dist/index.js";
import { WasmBackend, defaultWasmPath } from "../packages/wasm/dist/index.js";

const { values } = parseArgs({
  options: { tokens: { type: "string", default: "64" }, profiles: { type: "string", default: defaultProfiles() }, threads: { type: "string", default: "1" }, "wasm-only": { type: "boolean", default: false }, baseline: { type: "string" } },
});
const threadCounts = values.threads.split(",").map(Number);

/** f16 and the quantized formats CPU / edge users run, of the twin and bench-60m; tiny as the smallest case. */
function defaultProfiles() {
  const formats = ["", "-q8_0", "-q4_0", "-q4_K"];
  return ["tiny", ...formats.map((f) => `nemotron-3-nano-twin${f}`), ...formats.map((f) => `bench-60m${f}`)].join(",");
}
const tokens = Number(values.tokens);
const dir = join(fileURLToPath(new URL("..", import.meta.url)), ".cache", "bench");
mkdirSync(dir, { recursive: true });
const prompt = "The quick brown fox jumps over the lazy dog. ".repeat(6);

async function measure(backend, path, threads) {
  const model = await backend.loadModel({ path });
  const context = await model.createContext({ ctx: 4096, slots: 1, threads, batch: 512 });
  const input = model.tokenize(prompt);
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
  // Warm-up: a prefill and 16 decode steps.
  let { next } = await prefill();
  for (let i = 0; i < 16; i++) next = (await decodeOne(next, input.length + i)).argmax[0];
  const timed = await prefill();
  next = timed.next;
  const started = performance.now();
  for (let i = 0; i < tokens; i++) next = (await decodeOne(next, input.length + i)).argmax[0];
  const decodeMs = performance.now() - started;
  await model.dispose();
  return { prefillTokensPerSecond: (input.length / timed.ms) * 1000, decodeTokensPerSecond: (tokens / decodeMs) * 1000, promptTokens: input.length };
}

const native = values["wasm-only"] ? undefined : await NodeBackend.create({ gpu: false });
const wasms = new Map();
for (const threads of threadCounts) wasms.set(threads, await WasmBackend.create({ threads }));
const baseline = values.baseline ? await WasmBackend.create({ wasm: values.baseline }) : undefined;
const first = wasms.get(threadCounts[0]);
console.log(`wasm module: ${(statSync(defaultWasmPath).size / 1e6).toFixed(2)} MB; ${first.systemInfo.trim()}`);
console.log(`threads: ${threadCounts.join(", ")} (equal on both backends); decode: ${tokens} greedy tokens after warm-up; prefill: one batch`);
console.log("model                  thr   size      decode tok/s wasm / native   ratio    prefill tok/s wasm / native   ratio   wasm vs 1 thr: decode prefill");
for (const profile of values.profiles.split(",")) {
  const path = join(dir, `${profile}.gguf`);
  if (!existsSync(path)) await writeFixtureFile(profile, path);
  let single;
  for (const threads of threadCounts) {
    const w = await measure(wasms.get(threads), path, threads);
    const n = native ? await measure(native, path, threads) : { decodeTokensPerSecond: Number.NaN, prefillTokensPerSecond: Number.NaN };
    if (threads === 1) single = w;
    if (threads === 1 && baseline) {
      const b = await measure(baseline, path, 1);
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
