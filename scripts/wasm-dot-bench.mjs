#!/usr/bin/env node
// The 2x2-tiled Wasm SIMD128 Q8_0 / Q4_0 dot of wasm/patches/0004, measured two ways, one thread:
// * default: wasm/bench/dot-2x2.c, linked against the static libraries `node wasm/build.mjs` built (the shipped
//   kernels), drives ggml's mul_mat loop over decode shapes (--cols activation columns) through the Q8_0 / Q4_0
//   vec_dot at nrc 1 and 2, under Node: ns per dot, and whether the tiles give the 1x1 bits.
// * --decode: batched greedy decode (--slots sequences per step, default 8: mul_mat then has 8 columns, the tiles'
//   case; `npm run bench:wasm` decodes one sequence, where ggml never takes them) and one prefill, this build's
//   single-threaded module against --baseline PATH (another hybrid-llm.wasm, e.g. main's) and native, best of
//   --rounds alternating rounds after --warmup-ms of warm-up on each.
// Usage: node scripts/wasm-dot-bench.mjs [--reps 20 --cols 8]   (--cols: activation columns; an odd count runs its last
//          column 1x1, the route wasm/README.md says was tried)
//        npm run build && node scripts/wasm-dot-bench.mjs --decode --baseline /path/to/old/hybrid-llm.wasm
//          [--profiles bench-60m-q8_0,bench-60m-q4_0 --slots 8 --steps 32 --warmup-ms 3000 --rounds 3]
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = fileURLToPath(new URL("..", import.meta.url));
const { values } = parseArgs({
  options: {
    reps: { type: "string", default: "20" },
    cols: { type: "string", default: "8" },
    decode: { type: "boolean", default: false },
    baseline: { type: "string" },
    profiles: { type: "string", default: "bench-60m-q8_0,bench-60m-q4_0,nemotron-3-nano-twin-q8_0,nemotron-3-nano-twin-q4_0" },
    slots: { type: "string", default: "8" },
    steps: { type: "string", default: "32" },
    "warmup-ms": { type: "string", default: "3000" },
    rounds: { type: "string", default: "3" },
  },
});

if (values.decode) await decode();
else microbench();

function microbench() {
  const { tag } = JSON.parse(readFileSync(join(root, "node_modules", "node-llama-cpp", "llama", "llama.cpp.info.json"), "utf8"));
  const ggml = join(root, "wasm", "build", `llama.cpp-${tag}`, "ggml");
  const libraries = join(root, "wasm", "build", `cmake-${tag}`, "ggml", "src");
  if (!existsSync(join(libraries, "libggml-cpu.a"))) throw new Error(`missing ${join(libraries, "libggml-cpu.a")}: run node wasm/build.mjs first`);
  const out = join(root, ".cache", "wasm-dot-bench");
  mkdirSync(out, { recursive: true });
  const object = join(out, "dot-2x2.o");
  const program = join(out, "dot-2x2.cjs");
  const env = { ...process.env, NODE_PATH: [process.env.NODE_PATH, "/usr/share/nodejs"].filter(Boolean).join(":") };
  // As test/wasm-kernels.test.ts builds its harness (the libraries are -O3 already; -O0 link skips wasm-opt).
  execFileSync("emcc", ["-O3", "-msimd128", "-fwasm-exceptions", `-I${join(ggml, "include")}`, "-c", join(root, "wasm", "bench", "dot-2x2.c"), "-o", object], { env, stdio: "inherit" });
  execFileSync("em++", ["-O0", "-fwasm-exceptions", object, join(libraries, "libggml-cpu.a"), join(libraries, "libggml-base.a"), "-sALLOW_MEMORY_GROWTH=1", "-sENVIRONMENT=node", "-sWASM_ASYNC_COMPILATION=0", "-o", program], { env, stdio: "inherit" });
  const lines = execFileSync(process.execPath, [program, values.reps, values.cols], { encoding: "utf8" }).split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
  console.log("type  k     m      ns/dot 1x1   2x2 tile   speed-up   bit mismatches (2x2)   nrows (ggml's route)");
  for (const r of lines) {
    console.log(`${r.type}  ${String(r.k).padEnd(5)} ${String(r.m).padEnd(6)} ${r.ns_1x1.toFixed(1).padStart(10)}   ${r.ns_2x2.toFixed(1).padStart(8)}   ${(r.ns_1x1 / r.ns_2x2).toFixed(2).padStart(6)}x   ${String(r.mismatches).padStart(8)}               ${r.nrows}`);
  }
}

async function decode() {
  if (!values.baseline) throw new Error("--decode needs --baseline PATH (the hybrid-llm.wasm to compare with)");
  const { writeFixtureFile } = await import("../packages/core/dist/node.js");
  const { NodeBackend } = await import("../packages/node/dist/index.js");
  const { WasmBackend } = await import("../packages/wasm/dist/index.js");
  const slots = Number(values.slots);
  const steps = Number(values.steps);
  const warmupMs = Number(values["warmup-ms"]);
  const rounds = Number(values.rounds);
  const dir = join(root, ".cache", "bench");
  mkdirSync(dir, { recursive: true });
  // An even prompt length (ggml takes the 2x2 route only on an even column count): trimmed below.
  const prompt = "The quick brown fox jumps over the lazy dog. ".repeat(6);
  const runners = [
    ["this build", await WasmBackend.create({ threads: 1 })],
    ["baseline", await WasmBackend.create({ wasm: values.baseline })],
    ["native", await NodeBackend.create({ gpu: false })],
  ];
  console.log(`1 thread; decode: ${slots} sequences per step, ${steps} steps; prefill: one batch; best of ${rounds} alternating rounds after ${warmupMs} ms of warm-up`);
  console.log("model                        decode tok/s: this build / baseline / native   (vs baseline, vs native)   prefill tok/s: this / baseline / native   (vs baseline, vs native)");
  for (const profile of values.profiles.split(",")) {
    const path = join(dir, `${profile}.gguf`);
    if (!existsSync(path)) await writeFixtureFile(profile, path);
    const opened = [];
    for (const [, backend] of runners) opened.push(await open(backend, path));
    const best = opened.map(() => ({ decode: 0, prefill: 0 }));
    for (let round = 0; round < rounds; round++) {
      for (const [i, runner] of opened.entries()) {
        const r = await runner.run();
        best[i].decode = Math.max(best[i].decode, r.decode);
        best[i].prefill = Math.max(best[i].prefill, r.prefill);
      }
    }
    for (const runner of opened) await runner.dispose();
    const [t, b, n] = best;
    const f = (x) => x.toFixed(1);
    console.log(
      `${profile.padEnd(28)} ${f(t.decode)} / ${f(b.decode)} / ${f(n.decode)}   (${(t.decode / b.decode).toFixed(2)}x, ${(t.decode / n.decode).toFixed(2)}x)   ${f(t.prefill)} / ${f(b.prefill)} / ${f(n.prefill)}   (${(t.prefill / b.prefill).toFixed(2)}x, ${(t.prefill / n.prefill).toFixed(2)}x)`,
    );
  }
  for (const [, backend] of runners) await backend.dispose();

  async function open(backend, path) {
    const model = await backend.loadModel({ path });
    const context = await model.createContext({ ctx: 4096, slots, threads: 1, batch: 512 });
    let input = model.tokenize(prompt);
    if (input.length % 2 !== 0) input = input.subarray(0, input.length - 1);
    const sequences = Int32Array.from({ length: slots }, (_, i) => i);
    const prefill = async () => {
      context.clear();
      const started = performance.now();
      await context.decode({
        tokens: input,
        positions: Int32Array.from(input, (_, i) => i),
        sequenceIds: new Int32Array(input.length),
        outputs: Uint8Array.from(input, (_, i) => (i === input.length - 1 ? 1 : 0)),
      });
      return performance.now() - started;
    };
    // Every sequence starts from a one-token prompt of its own and decodes greedily: `slots` columns per step.
    const decodeSteps = async (count) => {
      context.clear();
      let next = Int32Array.from(sequences, (s) => input[s % input.length]);
      for (let step = 0; step < count; step++) {
        const result = await context.decode({ tokens: next, positions: new Int32Array(slots).fill(step), sequenceIds: sequences, outputs: new Uint8Array(slots).fill(1) });
        next = Int32Array.from(result.argmax);
      }
    };
    const warmupEnds = performance.now() + warmupMs;
    do {
      await prefill();
      await decodeSteps(16);
    } while (performance.now() < warmupEnds);
    return {
      async run() {
        const prefillMs = await prefill();
        const started = performance.now();
        await decodeSteps(steps);
        const decodeMs = performance.now() - started;
        return { prefill: (input.length / prefillMs) * 1000, decode: ((slots * steps) / decodeMs) * 1000 };
      },
      dispose: () => model.dispose(),
    };
  }
}
