import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parseArgs } from "node:util";
import { Engine, InvalidArgumentError, SeededRandom, type SamplingOptions, resolveSampling } from "@hybrid-llm/core";
import { backendNames, defaultGpu, gpuUsage, rpcUsage } from "./backends.js";
import { defaultThreads, openModel } from "./open-model.js";
import { count, renderTable } from "./table.js";
import { integerOption } from "./options.js";
import { UsageError } from "./usage-error.js";

export const benchUsage = `hybrid-llm bench --model <file> [options]

Serving throughput: n concurrent requests, each a p-token prompt generating g tokens (greedy unless sampling
options are given; through end-of-generation tokens), all submitted at once. Aggregate prefill and decode tokens/s,
and the share of step time spent in JavaScript (scheduling, streaming) rather than in llama.cpp (which also samples).

  --model <file>         GGUF model
  --slots <n>            concurrent requests (default: 8)
  --prompt-tokens <p>    prompt length (default: 128)
  --gen-tokens <g>       tokens generated per request (default: 64)
  --warmup-tokens <w>    first, the same workload on other prompts generating w tokens each, untimed, on both sides:
                         what a long-running server sees once V8 has optimized the JavaScript (default: 0, a fresh
                         process, as llama-bench's --warmup off)
  --batch <n>            tokens per step (default: 512)
  --threads <n>          CPU threads, both sides (default: ${defaultThreads()} here)
  --backend <name>       ${backendNames.join(", ")} (default: node)
  --gpu <api>            ${gpuUsage}
${rpcUsage}
  --temperature <t>      sample at this temperature (default: 0, greedy, so figures compare across versions)
  --top-p <p>            nucleus sampling (default: 1, off)
  --top-k <k>            keep the k most likely tokens (default: 0, off)
  --min-p <p>            min-p sampling (default: 0, off)
  --seed <n>             seed of every request's sampler (default: a random seed per request)
  --vs node-llama-cpp    run the same workload on node-llama-cpp (same file, threads, sequences, device) and report the ratio
  --json                 print one JSON object`;

export interface BenchResult {
  readonly aggregatePrefillTokensPerSecond: number;
  readonly aggregateDecodeTokensPerSecond: number;
  readonly wallMs: number;
}

export async function benchCommand(args: string[], print: (line: string) => void): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: "string" },
      slots: { type: "string", default: "8" },
      "prompt-tokens": { type: "string", default: "128" },
      "gen-tokens": { type: "string", default: "64" },
      "warmup-tokens": { type: "string", default: "0" },
      batch: { type: "string", default: "512" },
      threads: { type: "string", default: String(defaultThreads()) },
      backend: { type: "string", default: "node" },
      gpu: { type: "string", default: defaultGpu },
      rpc: { type: "string" },
      "tensor-split": { type: "string" },
      vs: { type: "string" },
      temperature: { type: "string", default: "0" },
      "top-p": { type: "string" },
      "top-k": { type: "string" },
      "min-p": { type: "string" },
      seed: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return print(benchUsage);
  if (values.model === undefined) throw new UsageError("--model <file> is required", benchUsage);
  if (values.vs !== undefined && values.vs !== "node-llama-cpp") throw new UsageError(`--vs supports node-llama-cpp, got "${values.vs}"`, benchUsage);
  if (values.vs !== undefined && values.rpc !== undefined) throw new UsageError("--vs runs the peer on this machine only: leave out --rpc (bench with and without --rpc to compare)", benchUsage);
  const integer = (name: string, text: string, min: number) => integerOption(name, text, min, benchUsage);
  const n = integer("slots", values.slots, 1);
  const p = integer("prompt-tokens", values["prompt-tokens"], 1);
  const g = integer("gen-tokens", values["gen-tokens"], 2);
  const w = integer("warmup-tokens", values["warmup-tokens"], 0);
  const threads = integer("threads", values.threads, 1);
  const batch = integer("batch", values.batch, 1);
  const sampling = samplingOptions(values);

  const opened = await openModel({
    path: values.model,
    backend: values.backend,
    gpu: values.gpu,
      rpc: values.rpc,
      tensorSplit: values["tensor-split"],
    usage: benchUsage,
    quiet: values.json === true,
    context: { ctx: n * (p + Math.max(g, w) + 16), slots: n, threads, batch },
  });
  // The peer runs on the same llama.cpp build as ours (CPU, CUDA, Vulkan or Metal), whatever --gpu resolved to.
  const device = opened.backend.device.kind;
  let ours: BenchResult & { jsShareOfStepTime: number; steps: number; aggregateDecodeTokensPerCpuSecond: number };
  let prompts: number[][];
  let warmupPrompts: number[][];
  try {
    // Deterministic prompts of exactly p tokens, avoiding end-of-generation and control tokens.
    const random = new SeededRandom(1234);
    const avoid = new Set([...opened.model.info.endOfGenerationTokens, opened.model.info.bosToken]);
    const vocab = opened.model.info.vocabSize;
    const promptSet = () =>
      Array.from({ length: n }, () => {
        const tokens: number[] = [];
        while (tokens.length < p) {
          const token = Math.floor(random.uniform() * vocab);
          if (!avoid.has(token) && token >= 8) tokens.push(token);
        }
        return tokens;
      });
    prompts = promptSet();
    warmupPrompts = promptSet();
    const engine = new Engine({ model: opened.model, context: opened.context, maxQueue: n });
    // Warm-up (page in weights, let V8 tier up the Wasm module): one short request.
    await engine.complete({ prompt: Int32Array.from(prompts[0]!.slice(0, Math.min(p, 16))), maxTokens: 4, temperature: 0, ignoreEndOfGeneration: true });
    if (w > 0) {
      // The same workload on other prompts, so that the engine's JavaScript runs optimized; then the cache forgets
      // them (nothing of it may serve the timed run's prompts).
      await Promise.all(warmupPrompts.map((prompt) => engine.complete({ prompt: Int32Array.from(prompt), maxTokens: w, ...sampling, ignoreEndOfGeneration: true })));
    }
    engine.clearCache();
    const before = engine.stats();
    const started = performance.now();
    const firstTokens: number[] = [];
    let cpuAtFirstTokens = process.cpuUsage();
    await Promise.all(
      prompts.map(async (prompt) => {
        let first = true;
        for await (const part of engine.generate({ prompt: Int32Array.from(prompt), maxTokens: g, ...sampling, ignoreEndOfGeneration: true })) {
          if (part.type === "token" && first) {
            first = false;
            firstTokens.push(performance.now());
            cpuAtFirstTokens = process.cpuUsage(); // the last one to arrive starts the decode phase
          }
        }
      }),
    );
    const ended = performance.now();
    const cpu = process.cpuUsage(cpuAtFirstTokens);
    const after = engine.stats();
    const firstAll = Math.max(...firstTokens);
    const stepMs = after.stepMs - before.stepMs;
    ours = {
      aggregatePrefillTokensPerSecond: ((n * p) / (firstAll - started)) * 1000,
      aggregateDecodeTokensPerSecond: ((n * (g - 1)) / (ended - firstAll)) * 1000,
      // The same per second of this process's CPU time (all its threads): what a shared, busy machine changes least.
      aggregateDecodeTokensPerCpuSecond: ((n * (g - 1)) / ((cpu.user + cpu.system) / 1000)) * 1000,
      wallMs: ended - started,
      jsShareOfStepTime: (stepMs - (after.decodeMs - before.decodeMs)) / stepMs,
      steps: after.steps - before.steps,
    };
    await engine.dispose();
  } finally {
    await opened.dispose();
  }

  let peer: BenchResult | undefined;
  if (values.vs === "node-llama-cpp") {
    if (!values.json) process.stderr.write("running the same workload on node-llama-cpp…\n");
    // Bundled beside cli.js; from the TypeScript sources (tests) the built one.
    const script = fileURLToPath(import.meta.url.endsWith(".ts") ? new URL("../../dist/bench-peer.js", import.meta.url) : new URL("./bench-peer.js", import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [script, values.model, String(n), String(p), String(g), String(threads), String(batch), device, String(w)], {
      env: {
        ...process.env,
        HYBRID_LLM_BENCH_PROMPTS: JSON.stringify(prompts),
        HYBRID_LLM_BENCH_WARMUP_PROMPTS: JSON.stringify(warmupPrompts!),
        HYBRID_LLM_BENCH_SAMPLING: JSON.stringify(sampling),
      },
      maxBuffer: 1 << 20,
    });
    peer = JSON.parse(stdout.trim().split("\n").at(-1)!) as BenchResult;
  }

  const ratio = peer === undefined ? undefined : ours.aggregateDecodeTokensPerSecond / peer.aggregateDecodeTokensPerSecond;
  if (values.json) {
    print(
      JSON.stringify({
        model: values.model,
        backend: values.backend,
        slots: n,
        promptTokens: p,
        genTokens: g,
        warmupTokens: w,
        threads,
        batch,
        sampling,
        ...ours,
        ...(peer === undefined ? {} : { peer: { name: "node-llama-cpp", ...peer }, ratio, prefillRatio: ours.aggregatePrefillTokensPerSecond / peer.aggregatePrefillTokensPerSecond }),
      }),
    );
    return;
  }
  const fmt = (x: number) => x.toFixed(1);
  const rows = [["", "prefill tok/s", "decode tok/s", "wall ms"], ["hybrid-llm (" + values.backend + ")", fmt(ours.aggregatePrefillTokensPerSecond), fmt(ours.aggregateDecodeTokensPerSecond), count(Math.round(ours.wallMs))]];
  if (peer !== undefined) {
    rows.push(["node-llama-cpp", fmt(peer.aggregatePrefillTokensPerSecond), fmt(peer.aggregateDecodeTokensPerSecond), count(Math.round(peer.wallMs))]);
    rows.push(["ratio", `${(ours.aggregatePrefillTokensPerSecond / peer.aggregatePrefillTokensPerSecond).toFixed(2)}×`, `${ratio!.toFixed(2)}×`, ""]);
  }
  print(`${n} concurrent requests × (${p} prompt + ${g} generated tokens), ${threads} thread(s), batch ${batch}, ${describeSampling(sampling)}${w > 0 ? `, after a warm-up of ${w} tokens each` : ""}`);
  print(renderTable(rows, [1, 2, 3]));
  print(`JavaScript share of step time: ${(ours.jsShareOfStepTime * 100).toFixed(1)} % over ${ours.steps} steps`);
  print(`decode per second of this process's CPU time: ${fmt(ours.aggregateDecodeTokensPerCpuSecond)} tok/s`);
}

/** The sampling options of the command line (temperature 0 = greedy unless given), checked like a request's. */
function samplingOptions(values: Record<string, string | boolean | undefined>): SamplingOptions {
  const read = (flag: string): number | undefined => {
    const text = values[flag];
    if (typeof text !== "string") return undefined;
    const value = Number(text);
    if (text.trim() === "" || !Number.isFinite(value)) throw new UsageError(`--${flag} must be a number, got "${text}"`, benchUsage);
    return value;
  };
  const entries: [keyof SamplingOptions, string][] = [["temperature", "temperature"], ["topP", "top-p"], ["topK", "top-k"], ["minP", "min-p"], ["seed", "seed"]];
  const options: Record<string, number> = {};
  for (const [key, flag] of entries) {
    const value = read(flag);
    if (value !== undefined) options[key] = value;
  }
  try {
    resolveSampling(options, { vocabSize: 1, maxTokens: 1 });
  } catch (error) {
    if (InvalidArgumentError.isInstance(error)) throw new UsageError(`--${entries.find(([key]) => key === error.argument)?.[1] ?? error.argument}: ${error.message}`, benchUsage);
    throw error;
  }
  return options;
}

function describeSampling(options: SamplingOptions): string {
  if (options.temperature === 0) return "greedy";
  const parts = [`temperature ${options.temperature}`];
  if (options.topP !== undefined) parts.push(`top-p ${options.topP}`);
  if (options.topK !== undefined) parts.push(`top-k ${options.topK}`);
  if (options.minP !== undefined) parts.push(`min-p ${options.minP}`);
  if (options.seed !== undefined) parts.push(`seed ${options.seed}`);
  return `sampled in llama.cpp (${parts.join(", ")})`;
}
