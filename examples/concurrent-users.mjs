// Eight users at once on one model: eight recurrent slots over one shared KV pool, every answer streamed while the
// others generate. Each step decodes one token for every user in a single batch.
//
//   node examples/concurrent-users.mjs [model.gguf]
//
// (after `npm ci`). Without a model it uses the generated `tiny` hybrid model (random weights: the text is noise,
// the scheduling and memory are real). Prints one line per user, then one JSON line with the engine's figures.
import { Engine, buildFixture } from "@hybrid-llm/core";
import { NodeBackend } from "@hybrid-llm/node";

const users = 8;
const backend = await NodeBackend.create({ gpu: "auto" });
try {
  const model = await backend.loadModel(process.argv[2] ? { path: process.argv[2] } : { bytes: buildFixture("tiny") });
  // 8 slots share 8,192 KV cells: a user takes cells as it needs them, not ctx / 8 up front.
  const context = await model.createContext({ ctx: 8192, slots: users, threads: 1 });
  const engine = new Engine({ model, context });
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: users }, async (_, user) => {
      const prompt = model.tokenize(`User ${user + 1} asks: what is ${user + 2} times ${user + 3}?`);
      let tokens = 0;
      let firstTokenMs;
      for await (const part of engine.generate({ prompt, maxTokens: 24, temperature: 0.8, seed: user })) {
        if (part.type === "token") {
          firstTokenMs ??= Math.round(performance.now() - started);
          tokens++;
        }
        if (part.type === "finish") return { user: user + 1, tokens, firstTokenMs, reason: part.reason, text: part.text };
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  for (const r of results) console.log(`user ${r.user}: ${r.tokens} tokens (${r.reason}), first after ${r.firstTokenMs} ms`);
  const stats = engine.stats();
  const generated = results.reduce((sum, r) => sum + r.tokens, 0);
  console.log(JSON.stringify({ users: results, peakActive: stats.peakActive, steps: stats.steps, generated, tokensPerSecond: Math.round(generated / seconds), slotsBusy: stats.slotsBusy, poolCells: stats.poolCells }));
  await engine.dispose();
} finally {
  await backend.dispose();
}
