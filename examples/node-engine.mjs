// Several requests at once on one context with the native backend, streamed.
//
//   node examples/node-engine.mjs [model.gguf]
//
// (after `npm ci`). Without a model it uses the generated Nemotron 3 Nano twin (random weights: the text is noise,
// the scheduling and memory are real).
import { Engine, buildFixture } from "@hybrid-llm/core";
import { NodeBackend } from "@hybrid-llm/node";

const backend = await NodeBackend.create({ gpu: "auto" });
try {
  const model = await backend.loadModel(process.argv[2] ? { path: process.argv[2] } : { bytes: buildFixture("nemotron-3-nano-twin") });
  const context = await model.createContext({ ctx: 4096, slots: 3, threads: 1 });
  const engine = new Engine({ model, context });
  const questions = ["Why is the sky blue?", "Name three prime numbers.", "What is a hybrid LLM?"];
  const results = await Promise.all(
    questions.map(async (question, i) => {
      let tokens = 0;
      for await (const part of engine.generate({ prompt: model.tokenize(question), maxTokens: 16, temperature: 0 })) {
        if (part.type === "token") tokens++;
        if (part.type === "finish") return { request: i, tokens, reason: part.reason, usage: part.usage };
      }
    }),
  );
  console.log(JSON.stringify({ device: backend.device, results, stats: { steps: engine.stats().steps, slotsBusy: engine.stats().slotsBusy } }));
  await engine.dispose();
} finally {
  await backend.dispose();
}
