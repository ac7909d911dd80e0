#!/usr/bin/env node
// Where decode time goes, per function: the Wasm module (V8's CPU profiler in the backend's worker thread) or the
// native backend (`perf record` on this process), over the same greedy decode of one fixture at 1 thread. Only the
// timed decode steps are sampled (after --warmup-ms, default 3000, of prefills and decode steps: V8 runs a Wasm
// function in its baseline tier, ~3x slower, until it has run enough to be optimized).
// Prints the top functions by self time and the same time grouped by ggml op / graph work / boundary.
//
// --phase prefill samples --tokens / 8 prefills of the prompt (~60 tokens, logits for the last) instead of the decode.
//
// Wasm needs a module with its function names: HYBRID_LLM_WASM_PROFILE=1 node wasm/build.mjs (→ wasm/build/profile/).
// Native needs `perf` on PATH and perf_event access (kernel.perf_event_paranoid <= 1, or root).
// Usage: npm run build && node scripts/profile-wasm.mjs --backend wasm|native [--profile bench-60m-q8_0]
//   [--phase decode|prefill] [--tokens 128] [--warmup-ms 3000] [--top 20] [--wasm wasm/build/profile/hybrid-llm.wasm] [--keep DIR]
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { writeFixtureFile } from "../packages/core/dist/node.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const { values } = parseArgs({
  options: {
    backend: { type: "string", default: "wasm" },
    profile: { type: "string", default: "bench-60m-q8_0" },
    phase: { type: "string", default: "decode" },
    tokens: { type: "string", default: "128" },
    "warmup-ms": { type: "string", default: "3000" },
    top: { type: "string", default: "20" },
    wasm: { type: "string", default: join(root, "wasm", "build", "profile", "hybrid-llm.wasm") },
    keep: { type: "string" },
  },
});
const tokens = Number(values.tokens);
if (values.phase !== "decode" && values.phase !== "prefill") throw new Error("--phase: decode or prefill");
const prefillPhase = values.phase === "prefill";
const warmupMs = Number(values["warmup-ms"]);
const top = Number(values.top);
const prompt = "The quick brown fox jumps over the lazy dog. ".repeat(6);

/** Self-time groups, first match wins: ggml ops (the kernels they call included), graph work, the boundary. */
const GROUPS = [
  ["kernel (page faults, scheduling)", /^\[kernel\]$/],
  ["V8 / Node (GC, JIT, runtime)", /^v8::|^node::|^Builtins_|^\(garbage collector\)|^\(program\)|^uv_|epoll/],
  ["JS: worker, emnapi (boundary)", /^\[JS\]|^wasm-to-js:|^js-to-wasm:/],
  ["mul_mat: q8_0 dot", /vec_dot_q8_0_q8_0/],
  ["mul_mat: q4_0 dot", /vec_dot_q4_0_q8_0/],
  ["mul_mat: q4_K/q8_K dot", /vec_dot_q\d_K_q8_K/],
  ["mul_mat: f16 dot / conversion", /vec_dot_f16|fp16_to_fp32|fp32_to_fp16|cpy_f16_f32|GGML_FP16|ggml_lookup_fp16/],
  ["mul_mat: f32 dot", /vec_dot_f32|sgemm|tinyBLAS/],
  ["mul_mat: quantize activations (q8_0/q8_K)", /quantize_row_q8/],
  ["mul_mat: driver (chunking, from_float)", /compute_forward_mul_mat|mul_mat_one_chunk|ggml_compute_forward_mul_mat_id/],
  ["ssm_scan", /ssm_scan/],
  ["ssm_conv", /ssm_conv/],
  ["rms_norm / norm / group_norm", /rms_norm|forward_norm|group_norm|l2_norm/],
  ["soft_max", /soft_max|vec_max_f32|ggml_vec_soft_max/],
  ["flash_attn / attention", /flash_attn/],
  ["rope", /rope/],
  ["get_rows / set_rows / cpy / dup", /get_rows|set_rows|forward_dup|forward_cpy|cpy_f32|ggml_compute_forward_concat/],
  ["unary / glu (silu, swiglu, relu², …)", /silu|swiglu|glu|gelu|relu|sigmoid|forward_unary|vec_scale|forward_sqr|forward_softplus|exp_f32/],
  ["binary (add, mul, sub, div, scale)", /forward_add|forward_mul\b|forward_mul_f32|forward_sub|forward_div|binary_op|forward_scale|vec_add|vec_mul|vec_mad|apply_binary/],
  ["other ggml-cpu compute", /ggml_compute_forward|ggml_vec_|ggml_cpu_/],
  // clang inlines small ops into the compute loop in the Wasm build (ssm_scan, ssm_conv, norms do not appear there on
  // their own), so this is "ops inlined + the loop" in Wasm and mostly the loop natively.
  ["ggml_graph_compute_thread (Wasm: small ops inlined into it)", /^ggml_graph_compute_thread/],
  ["threads / barrier", /ggml_barrier|ggml_graph_compute_thread|thread_sync|sched_yield|futex|emscripten_futex|__pthread|pthread_/],
  ["graph build (llama / ggml graph, scheduler)", /llm_build|llama_|llm_graph|ggml_backend_sched|ggml_gallocr|ggml_graph|ggml_new_tensor|ggml_view|ggml_hash|ggml_reshape|ggml_permute|ggml_visit|ggml_build|ggml_new_|ggml_set_|ggml_get_|ggml_nbytes|ggml_is_|ggml_can_|ggml_backend_|ggml_dyn_tallocr|ggml_tallocr|std::|operator new|operator delete|^ggml_/],
  ["binding (hybrid-llm C++: context, sampler, napi)", /Hybrid|hybrid|Napi|napi_|emnapi|row_top2|fast_pick|Context|Sampler/],
  ["libc (malloc, memcpy, memset)", /malloc|free|memcpy|memset|memmove|dlmalloc|sbrk|calloc|realloc/],
];
const groupOf = (name) => GROUPS.find(([, pattern]) => pattern.test(name))?.[0] ?? "other";

async function fixture(profile) {
  const dir = join(root, ".cache", "bench");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${profile}.gguf`);
  if (!existsSync(path)) await writeFixtureFile(profile, path);
  return path;
}

/** Loads, prefills, warms up, then runs `during` around the timed phase; returns its tokens/s (decoded or prefilled). */
async function workload(backend, path, { start, stop }) {
  const model = await backend.loadModel({ path });
  const context = await model.createContext({ ctx: 4096, slots: 1, threads: 1, batch: 512 });
  const input = model.tokenize(prompt);
  const decodeOne = (token, position) =>
    context.decode({ tokens: Int32Array.of(token), positions: Int32Array.of(position), sequenceIds: Int32Array.of(0), outputs: Uint8Array.of(1) });
  const prefill = async () => {
    context.clear();
    const result = await context.decode({
      tokens: input,
      positions: Int32Array.from(input, (_, i) => i),
      sequenceIds: new Int32Array(input.length),
      outputs: Uint8Array.from(input, (_, i) => (i === input.length - 1 ? 1 : 0)),
    });
    return result.argmax[0];
  };
  // Warm-up for --warmup-ms (see bench-wasm.mjs: V8 runs a Wasm function in Liftoff, ~3x slower, until it tiers up;
  // 16 steps left Liftoff code in the sampled steps), then a fresh prefill for the timed steps.
  const warmupEnds = performance.now() + warmupMs;
  let next;
  let position;
  do {
    next = await prefill();
    position = input.length;
    for (let i = 0; i < 16; i++) next = (await decodeOne(next, position++)).argmax[0];
  } while (performance.now() < warmupEnds);
  next = await prefill();
  position = input.length;
  await start();
  const started = performance.now();
  let processed = 0;
  if (prefillPhase) {
    for (let i = 0; i < Math.max(1, tokens / 8); i++, processed += input.length) await prefill();
  } else {
    for (; processed < tokens; processed++) next = (await decodeOne(next, position++)).argmax[0];
  }
  const ms = performance.now() - started;
  const result = await stop();
  await model.dispose();
  return { tokensPerSecond: (processed / ms) * 1000, result };
}

/**
 * V8's profiler inside the backend's worker thread, reached through the main thread's inspector (NodeWorker domain,
 * enabled before `create` makes the worker: workers already running are not reported).
 */
async function workerProfiler(create) {
  // The inspector's replies do not keep the event loop alive (nor does the backend's worker, which is unref'd).
  const keepAlive = setInterval(() => {}, 1000);
  const session = new Session();
  session.connect();
  const post = (method, params = {}) => new Promise((resolve, reject) => session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))));
  const attached = new Promise((resolve) => session.once("NodeWorker.attachedToWorker", ({ params }) => resolve(params.sessionId)));
  await post("NodeWorker.enable", { waitForDebuggerOnStart: false });
  const backend = await create();
  const sessionId = await attached;
  let nextId = 1;
  const pending = new Map();
  session.on("NodeWorker.receivedMessageFromWorker", ({ params }) => {
    const message = JSON.parse(params.message);
    const handler = pending.get(message.id);
    if (!handler) return;
    pending.delete(message.id);
    if (message.error) handler.reject(new Error(JSON.stringify(message.error)));
    else handler.resolve(message.result);
  });
  const inWorker = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      post("NodeWorker.sendMessageToWorker", { sessionId, message: JSON.stringify({ id, method, params }) }).catch(reject);
    });
  await inWorker("Profiler.enable");
  await inWorker("Profiler.setSamplingInterval", { interval: 200 });
  return {
    backend,
    start: () => inWorker("Profiler.start"),
    stop: async () => {
      const { profile } = await inWorker("Profiler.stop");
      session.disconnect();
      clearInterval(keepAlive);
      return profile;
    },
  };
}

/**
 * Self time per function name in a .cpuprofile, as a share of the samples that found the worker busy (a count, not
 * the time deltas: on a loaded machine a descheduled thread's long gap would be charged to whatever ran before it).
 */
function selfTimes(profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const times = new Map();
  let busy = 0;
  for (const id of profile.samples) {
    const { functionName, url } = byId.get(id).callFrame;
    if (functionName === "(idle)") continue;
    const name = url.startsWith("wasm://") || /^(wasm-to-js|js-to-wasm):|^\(/.test(functionName) ? functionName.replace(/^\$/, "") : `[JS] ${functionName || "(anonymous)"}`;
    times.set(name, (times.get(name) ?? 0) + 1);
    busy++;
  }
  console.log(`worker busy in ${((100 * busy) / profile.samples.length).toFixed(1)} % of ${profile.samples.length} samples (the rest: waiting for the next call)`);
  return { times, total: busy };
}

/** Self samples per symbol from `perf report`. */
function perfTimes(data) {
  const out = spawnSync("perf", ["report", "-i", data, "--no-children", "--sort", "sym", "--stdio", "-F", "overhead,sym", "--percent-limit", "0"], { encoding: "utf8", maxBuffer: 1 << 28 });
  if (out.status !== 0) throw new Error(`perf report failed: ${out.stderr}`);
  const times = new Map();
  for (const line of out.stdout.split("\n")) {
    const match = /^\s+([\d.]+)%\s+\[([.k])\]\s+(.+?)\s*$/.exec(line);
    // Kernel time (page faults, scheduling) as one entry: it is the machine's, not a function of ours.
    const name = match?.[2] === "k" ? "[kernel]" : match?.[3];
    if (match) times.set(name, (times.get(name) ?? 0) + Number(match[1]));
  }
  return { times, total: 100 };
}

function report({ times, total }, title) {
  const rows = [...times].sort((a, b) => b[1] - a[1]);
  console.log(`\n${title}: top ${top} functions by self time`);
  for (const [name, t] of rows.slice(0, top)) console.log(`${((100 * t) / total).toFixed(1).padStart(6)} %  ${name.length > 100 ? `${name.slice(0, 97)}...` : name}`);
  const groups = new Map();
  for (const [name, t] of rows) groups.set(groupOf(name), (groups.get(groupOf(name)) ?? 0) + t);
  console.log(`\n${title}: self time by group`);
  for (const [group, t] of [...groups].sort((a, b) => b[1] - a[1])) console.log(`${((100 * t) / total).toFixed(1).padStart(6)} %  ${group}`);
}

const path = await fixture(values.profile);
if (values.backend === "wasm") {
  if (!existsSync(values.wasm)) throw new Error(`${values.wasm} is missing: HYBRID_LLM_WASM_PROFILE=1 node wasm/build.mjs`);
  const { WasmBackend } = await import("../packages/wasm/dist/index.js");
  const profiler = await workerProfiler(() => WasmBackend.create({ wasm: values.wasm }));
  const { tokensPerSecond, result } = await workload(profiler.backend, path, profiler);
  // The hop itself (main thread → worker → main thread), with the profiler off: an empty asynchronous call's round
  // trip. A decode step pays it once, on top of the worker's busy time; natively there is no hop.
  const trips = [];
  for (let i = 0; i < 200; i++) {
    const started = performance.now();
    await profiler.backend.memoryBytes();
    trips.push(performance.now() - started);
  }
  trips.sort((a, b) => a - b);
  await profiler.backend.dispose();
  if (values.keep) writeFileSync(join(values.keep, `wasm-${values.profile}.cpuprofile`), JSON.stringify(result));
  console.log(`wasm, ${values.profile}, 1 thread: ${tokensPerSecond.toFixed(1)} ${values.phase} tok/s over ${prefillPhase ? `${Math.max(1, tokens / 8)} prefills` : `${tokens} tokens`} (while sampled every 200 µs)`);
  console.log(`an empty call's round trip to the worker: median ${(trips[100] * 1000).toFixed(0)} µs, fastest ${(trips[0] * 1000).toFixed(0)} µs (${prefillPhase ? "a prompt token" : "a decode step"}: ${(1e6 / tokensPerSecond).toFixed(0)} µs while sampled)`);
  report(selfTimes(result), `wasm ${values.profile}`);
} else {
  const { NodeBackend } = await import("../packages/node/dist/index.js");
  const backend = await NodeBackend.create({ gpu: false });
  const dir = values.keep ?? mkdtempSync(join(tmpdir(), "hybrid-llm-perf-"));
  const data = join(dir, `native-${values.profile}.perf.data`);
  let perf;
  const { tokensPerSecond } = await workload(backend, path, {
    start: async () => {
      perf = spawn("perf", ["record", "-q", "-F", "4999", "-p", String(process.pid), "-o", data], { stdio: "inherit" });
      await new Promise((resolve) => setTimeout(resolve, 500)); // perf attaches
    },
    stop: async () => {
      const exited = new Promise((resolve) => perf.on("exit", resolve));
      perf.kill("SIGINT");
      await exited;
    },
  });
  await backend.dispose?.();
  console.log(`native, ${values.profile}, 1 thread: ${tokensPerSecond.toFixed(1)} ${values.phase} tok/s over ${prefillPhase ? `${Math.max(1, tokens / 8)} prefills` : `${tokens} tokens`} (while perf sampled at 4999 Hz)`);
  report(perfTimes(data), `native ${values.profile}`);
  if (!values.keep) rmSync(dir, { recursive: true, force: true });
}
