// A multi-turn chat on the engine with the prefix cache: each turn resumes where the previous answer ended, so only
// the new message is evaluated (on a hybrid model, where the recurrent state cannot be rewound).
//
//   node examples/chat-turns.mjs [model.gguf]
//
// (after `npm ci`). Without a model it uses the generated Nemotron 3 Nano twin (random weights: the text is noise,
// the caching is real). Prints one line per turn: prompt tokens, how many came from the cache, time to first token.
import { Engine, buildFixture, tokenizeChat } from "@hybrid-llm/core";
import { NodeBackend } from "@hybrid-llm/node";

const backend = await NodeBackend.create({ gpu: "auto" });
try {
  const model = await backend.loadModel(process.argv[2] ? { path: process.argv[2] } : { bytes: buildFixture("nemotron-3-nano-twin") });
  const context = await model.createContext({ ctx: 8192, slots: 2, threads: 1 });
  const engine = new Engine({ model, context });
  const template = model.info.chatTemplate ?? "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}assistant: ";
  const messages = [{ role: "system", content: "You are a concise assistant. ".repeat(20) }];
  const answers = new Map(); // answer text → the tokens it was generated as, so the next turn continues them exactly
  const turns = [];
  for (const question of ["What is a state space model?", "How does it differ from attention?", "Which is faster for long inputs?"]) {
    messages.push({ role: "user", content: question });
    const { tokens: prompt, messageEnds } = tokenizeChat(model, template, messages, { contentTokens: (m) => answers.get(m.content) });
    const started = performance.now();
    let firstToken;
    const generated = [];
    for await (const part of engine.generate({ prompt, maxTokens: 24, temperature: 0, checkpointAt: messageEnds.slice(0, -1) })) {
      if (part.type === "token") {
        firstToken ??= performance.now() - started;
        generated.push(part.token);
      }
      if (part.type === "finish") {
        turns.push({ promptTokens: part.usage.promptTokens, cachedTokens: part.usage.cachedPromptTokens, firstTokenMs: Math.round(firstToken ?? 0) });
        answers.set(part.text, Int32Array.from(generated));
        messages.push({ role: "assistant", content: part.text });
      }
    }
  }
  for (const [i, turn] of turns.entries()) console.log(`turn ${i + 1}: ${turn.promptTokens} prompt tokens, ${turn.cachedTokens} from cache, first token after ${turn.firstTokenMs} ms`);
  console.log(JSON.stringify({ turns, cache: engine.stats().cache }));
  await engine.dispose();
} finally {
  await backend.dispose();
}
