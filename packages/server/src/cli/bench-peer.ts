/**
 * The peer side of `hybrid-llm bench --vs node-llama-cpp`, run in its own process (one llama.cpp per process): the
 * same workload on node-llama-cpp — n sequences of one context, each fed a p-token prompt and generating g tokens
 * (greedily, or with hybrid-llm's sampling options), all at once. Prints one JSON line.
 */
import { getLlama, LlamaLogLevel, type Token } from "node-llama-cpp";

const [modelPath, slots, promptTokens, genTokens, threads, batch, device = "cpu"] = process.argv.slice(2);
const n = Number(slots);
const p = Number(promptTokens);
const g = Number(genTokens);

// The device hybrid-llm ran on ("cpu", "cuda", "vulkan", "metal"), all layers there as ours.
const gpu = device === "cuda" || device === "vulkan" || device === "metal" ? device : false;
const llama = await getLlama({ gpu, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath: modelPath!, gpuLayers: gpu === false ? 0 : "max" });
const context = await model.createContext({ contextSize: p + g + 16, sequences: n, threads: Number(threads), batchSize: Number(batch) });
const prompts = JSON.parse(process.env.HYBRID_LLM_BENCH_PROMPTS ?? "[]") as number[][];
const sampling = JSON.parse(process.env.HYBRID_LLM_BENCH_SAMPLING ?? '{"temperature":0}') as { temperature?: number; topP?: number; topK?: number; minP?: number; seed?: number };
const started = performance.now();
const firstTokens: number[] = [];
await Promise.all(
  Array.from({ length: n }, async (_, i) => {
    const sequence = context.getSequence();
    let produced = 0;
    for await (const _token of sequence.evaluate(prompts[i]! as Token[], sampling)) {
      if (produced === 0) firstTokens.push(performance.now());
      if (++produced >= g) break;
    }
  }),
);
const ended = performance.now();
const firstAll = Math.max(...firstTokens);
process.stdout.write(
  JSON.stringify({
    aggregatePrefillTokensPerSecond: ((n * p) / (firstAll - started)) * 1000,
    aggregateDecodeTokensPerSecond: ((n * (g - 1)) / (ended - firstAll)) * 1000,
    wallMs: ended - started,
  }),
);
await context.dispose();
await model.dispose();
