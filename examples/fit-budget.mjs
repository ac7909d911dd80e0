// Planning for a GPU budget, before downloading or loading anything: how long a context fits with 8 slots, and how
// many slots fit at a given context, for a published model (or a GGUF file's header).
//
//   node examples/fit-budget.mjs [preset-id | model.gguf] [budget]
//
// Defaults: the preset nemotron3-nano-30b-a3b and 8GiB (what a GPU has left for the caches once the weights are
// loaded). `npx hybrid-llm plan --list-presets` lists the presets.
// With a GGUF file, only its header is read and its weights count against the budget. Prints a few lines, then
// one JSON line.
import { cacheSpecFromMetadata, fitContextToBudget, fitSlotsToBudget, formatBytes, modelPreset, parseByteSize, planMemory, weightsBytesOf } from "@hybrid-llm/core";
import { readGgufFile } from "@hybrid-llm/core/node";

const [source = "nemotron3-nano-30b-a3b", budgetText = "8GiB"] = process.argv.slice(2);
const budget = parseByteSize(budgetText);
if (budget === undefined) throw new Error(`not a size: ${budgetText} (e.g. 24GiB, 80GB)`);
let spec;
let weightsBytes = 0;
const preset = modelPreset(source);
if (preset !== undefined) spec = preset.spec; // published configuration: caches only, the weights depend on the quantization
else {
  const file = await readGgufFile(source);
  spec = cacheSpecFromMetadata(file.metadata);
  weightsBytes = weightsBytesOf(file);
}

// With 8 slots: the largest context (all slots together) that fits.
const longest = fitContextToBudget(spec, { budget, slots: 8, weightsBytes });
// At 131,072 tokens of context: the most slots that fit.
const widest = fitSlotsToBudget(spec, { budget, ctx: 131_072, weightsBytes });
// The same context as per-slot streams (each slot its own ctx / slots cells) and as pre-fix llama.cpp (each its own ctx).
const shared = planMemory(spec, { ctx: 131_072, slots: 8 });

console.log(`${preset?.name ?? source}, budget ${formatBytes(budget)}${weightsBytes ? `, weights ${formatBytes(weightsBytes)}` : ""}`);
console.log(longest ? `8 slots: up to ${longest.plan.nCtx.toLocaleString("en")} tokens of shared context (${formatBytes(longest.totalBytes)})` : "8 slots: does not fit");
console.log(widest ? `131,072 tokens: up to ${widest.plan.options.slots} slots (${formatBytes(widest.totalBytes)})` : "131,072 tokens: does not fit");
console.log(`131,072 tokens × 8 slots: KV ${formatBytes(shared.attentionKvBytes)} shared, ${formatBytes(shared.perStreamAttentionKvBytes ?? shared.attentionKvBytes)} before llama.cpp PR #19559; recurrent ${formatBytes(shared.recurrentStateBytes)}`);
console.log(
  JSON.stringify({
    model: preset?.id ?? source,
    budget,
    weightsBytes,
    longestContext: longest && { slots: 8, ctx: longest.plan.nCtx, totalBytes: longest.totalBytes },
    mostSlots: widest && { ctx: widest.plan.nCtx, slots: widest.plan.options.slots, totalBytes: widest.totalBytes },
    at131k: { attentionKvBytes: shared.attentionKvBytes, perStreamAttentionKvBytes: shared.perStreamAttentionKvBytes, recurrentStateBytes: shared.recurrentStateBytes },
  }),
);
