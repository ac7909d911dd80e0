/**
 * The peer side of `hybrid-llm bench --vs node-llama-cpp`, run in its own process (one llama.cpp per process): the
 * same workload on node-llama-cpp — n sequences of one context, each fed a p-token prompt and generating g tokens
 * (greedily, or with hybrid-llm's sampling options), all at once. Prints one JSON line.
 */
import { getLlama, LlamaLogLevel, type Token } from "node-llama-cpp";

const [modelPath, slots, promptTokens, genTokens, threads, batch, device = "cpu", warmupTokens = "0"] = process.argv.slice(2);
const n = Number(slots);
const p = Number(promptTokens);
const g = Number(genTokens);
const w = Number(warmupTokens);

// The device hybrid-llm ran on ("cpu", "cuda", "vulkan", "metal"), all layers there as ours.
const gpu = device === "cuda" || device === "vulkan" || device === "metal" ? device : false;
const llama = await getLlama({ gpu, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath: modelPath!, gpuLayers: gpu === false ? 0 : "max" });
const context = await model.createContext({ contextSize: p + Math.max(g, w) + 16, sequences: n, threads: Number(threads), batchSize: Number(batch) });
const prompts = JSON.parse(process.env.HYBRID_LLM_BENCH_PROMPTS ?? "[]") as number[][];
const warmupPrompts = JSON.parse(process.env.HYBRID_LLM_BENCH_WARMUP_PROMPTS ?? "[]") as number[][];
const sampling = JSON.parse(process.env.HYBRID_LLM_BENCH_SAMPLING ?? '{"temperature":0}') as { temperature?: number; topP?: number; topK?: number; minP?: number; seed?: number };

const sequences = Array.from({ length: n }, () => context.getSequence());

/** n sequences at once, each fed its prompt and generating `tokens`: when each produced its first token, when all ended. */
async function run(inputs: number[][], tokens: number): Promise<{ firstTokens: number[]; ended: number }> {
  const firstTokens: number[] = [];
  await Promise.all(
    sequences.map(async (sequence, i) => {
      let produced = 0;
      for await (const _token of sequence.evaluate(inputs[i]! as Token[], sampling)) {
        if (produced === 0) firstTokens.push(performance.now());
        if (++produced >= tokens) break;
      }
    }),
  );
  const ended = performance.now();
  for (const sequence of sequences) await sequence.clearHistory(); // (nothing of a warm-up may serve the timed run)
  return { firstTokens, ended };
}

if (w > 0) await run(warmupPrompts, w); // untimed, as hybrid-llm's --warmup-tokens
const started = performance.now();
const { firstTokens, ended } = await run(prompts, g);
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
