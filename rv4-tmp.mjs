import { NodeBackend } from "@hybrid-llm/node";
const backend = await NodeBackend.create({ gpu: false });
for (const path of [".cache/bench/real-vocab.gguf"]) {
  const model = await backend.loadModel({ path });
  const context = await model.createContext({ ctx: 4096, slots: 8, threads: 1, batch: 512 });
  const cfg = { temperature: 0.8, topK: 0, topP: 0.95, minP: 0, typicalP: 1, repetitionPenalty: 1, presencePenalty: 0, frequencyPenalty: 0, penaltyLastN: 64, seed: 1, logitBias: new Map() };
  const handles = Array.from({ length: 8 }, () => context.createSampler(cfg));
  let pos = 0;
  const step = (samplers) => context.decode({ tokens: Int32Array.from({ length: 8 }, (_, i) => 100 + i), positions: new Int32Array(8).fill(pos++), sequenceIds: Int32Array.from({ length: 8 }, (_, i) => i), outputs: new Uint8Array(8).fill(1) }, samplers ? { samplers } : {});
  await step();
  const totals = { greedy: Infinity, sampled: Infinity };
  for (let round = 0; round < 60; round++) {
    for (const samplers of [Int32Array.from(handles)]) {
      const t = performance.now();
      await step(samplers);
      { const k = samplers ? "sampled" : "greedy"; totals[k] = Math.min(totals[k], performance.now() - t); }
    }
  }
  console.log(path, "greedy", (totals.greedy).toFixed(1), "sampled", (totals.sampled).toFixed(1), "ms/step");
  await context.dispose(); await model.dispose();
}
await backend.dispose();
