import { join } from "node:path";
import { parseArgs } from "node:util";
import { Engine, formatBytes, modelPreset, planMemory } from "@hybrid-llm/core";
import { writeFixtureFile } from "@hybrid-llm/core/node";
import { backendNames, backendOption, defaultGpu, gpuOption, gpuUsage } from "./backends.js";
import { defaultThreads, openModel } from "./open-model.js";
import { count, renderTable } from "./table.js";
import { integerOption } from "./options.js";

export const demoUsage = `hybrid-llm demo [--model <file>] [options]

The job in one command, with nothing to download: writes the Nemotron 3 Nano shape twin (its exact KV and
Mamba2 geometry, random weights), prints the memory plan (one shared KV pool vs per-slot streams vs pre-fix
llama.cpp), runs 8 concurrent generation streams with live per-slot progress and pool usage, and ends with what
llama.cpp really allocated and the throughput. With --model, the same on a real model.

  --model <file|uri>  GGUF model, or hf:<owner>/<repo>/<file.gguf> / an https:// URL (default: the generated twin)
  --slots <n>         concurrent streams (default: 8)
  --ctx <n>           shared KV cells (default: 8192)
  --tokens <n>        tokens per stream (default: 48)
  --threads <n>       CPU threads (default: ${defaultThreads()} here)
  --backend <name>    ${backendNames.join(", ")} (default: node)
  --gpu <api>         ${gpuUsage}`;

const topics = [
  "the history of the printing press",
  "how bees find flowers",
  "a recipe for bread",
  "why the sky is blue",
  "the rules of chess",
  "a trip to the mountains",
  "how a compiler works",
  "the life of a star",
];

export async function demoCommand(args: string[], print: (line: string) => void): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: "string" },
      slots: { type: "string", default: "8" },
      ctx: { type: "string", default: "8192" },
      tokens: { type: "string", default: "48" },
      threads: { type: "string", default: String(defaultThreads()) },
      backend: { type: "string", default: "node" },
      gpu: { type: "string", default: defaultGpu },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return print(demoUsage);
  const integer = (name: string, text: string, min: number) => integerOption(name, text, min, demoUsage);
  const slots = integer("slots", values.slots, 1);
  const ctx = integer("ctx", values.ctx, 256);
  const tokens = integer("tokens", values.tokens, 1);
  // Checked before the twin is written; openModel checks them again.
  gpuOption(values.gpu, demoUsage, backendOption(values.backend, demoUsage));

  let path = values.model;
  if (path === undefined) {
    path = join(process.cwd(), ".cache", "hybrid-llm", "nemotron-3-nano-twin.gguf");
    print(`writing the Nemotron 3 Nano shape twin (random weights, exact cache geometry) to ${path}`);
    await writeFixtureFile("nemotron-3-nano-twin", path);
    const preset = modelPreset("nemotron3-nano-30b-a3b")!;
    const real = planMemory(preset.spec, { ctx: 1_048_576, slots: 8 });
    print("");
    print("What the real Nemotron 3 Nano 30B-A3B needs at 1,048,576 tokens × 8 slots (f16 KV):");
    print(
      renderTable(
        [
          ["", "attention KV", "recurrent state"],
          ["one shared pool (hybrid-llm)", formatBytes(real.attentionKvBytes), formatBytes(real.recurrentStateBytes)],
          ["per-slot streams", formatBytes(planMemory(preset.spec, { ctx: 1_048_576, slots: 8, unified: false }).attentionKvBytes), formatBytes(real.recurrentStateBytes)],
          ["pre-fix llama.cpp (< PR #19559)", formatBytes(real.perStreamAttentionKvBytes ?? 0), formatBytes(real.recurrentStateBytes)],
        ],
        [1, 2],
      ),
    );
  }
  print("");
  const opened = await openModel({ path, backend: values.backend, gpu: values.gpu, usage: demoUsage, context: { ctx, slots, threads: integer("threads", values.threads, 1), batch: 512 } });
  try {
    const { model, context, plan } = opened;
    print(`This run: ${count(plan.nCtx)} KV cells shared by ${slots} slots — planned ${formatBytes(plan.attentionKvBytes)} KV + ${formatBytes(plan.recurrentStateBytes)} recurrent state.`);
    const engine = new Engine({ model, context, maxQueue: slots });
    const progress = Array.from({ length: slots }, () => ({ tokens: 0, done: "" }));
    const live = process.stdout.isTTY;
    const render = () => {
      const stats = engine.stats();
      const lines = progress.map((p, i) => `slot ${i}: ${"█".repeat(Math.round((p.tokens / tokens) * 30)).padEnd(30, "·")} ${String(p.tokens).padStart(4)}/${tokens} ${p.done}`);
      lines.push(`pool: ${count(stats.poolCellsUsed)} cells written, ${count(stats.poolCellsReserved)} reserved of ${count(stats.poolCells)}; queue ${stats.queueDepth}; ${count(stats.tokensGenerated)} tokens generated`);
      return lines;
    };
    let drawn = 0;
    const draw = () => {
      const lines = render();
      if (drawn > 0) process.stdout.write(`\x1b[${drawn}A`);
      process.stdout.write(lines.map((line) => `\x1b[2K${line}`).join("\n") + "\n");
      drawn = lines.length;
    };
    const timer = live ? setInterval(draw, 100) : undefined;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: slots }, async (_, i) => {
        const prompt = model.tokenize(`Write a short essay about ${topics[i % topics.length]}.`);
        for await (const part of engine.generate({ prompt, maxTokens: tokens, temperature: 0.7, seed: i, ignoreEndOfGeneration: true })) {
          if (part.type === "token") progress[i]!.tokens++;
          if (part.type === "finish") progress[i]!.done = part.reason;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    if (timer !== undefined) clearInterval(timer);
    if (live) draw();
    else for (const line of render()) print(line);
    const stats = engine.stats();
    const allocation = context.allocation();
    print("");
    print(`${count(stats.tokensGenerated)} tokens in ${seconds.toFixed(1)} s: ${(stats.tokensGenerated / seconds).toFixed(1)} tokens/s across ${slots} streams on ${opened.backend.name} (${opened.backend.device.kind}).`);
    if (allocation !== null) {
      const planned = plan.attentionKvBytes + plan.recurrentStateBytes;
      print(
        `llama.cpp allocated ${formatBytes(allocation.contextBytes)} for KV + recurrent state (planned ${formatBytes(planned)}: ${allocation.contextBytes === planned ? "exact match" : "MISMATCH"}), ` +
          `${formatBytes(allocation.modelBytes)} for weights, ${formatBytes(allocation.computeBytes)} for compute buffers.`,
      );
    }
    await engine.dispose();
  } finally {
    await opened.dispose();
  }
}
