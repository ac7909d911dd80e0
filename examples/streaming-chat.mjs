// A streaming chat with the SDK: render the conversation with the model's chat template, then print the answer as
// it is generated, piece by piece.
//
//   node examples/streaming-chat.mjs [model.gguf] [question]
//
// (after `npm ci`). Without a model it uses the generated `tiny` hybrid model (random weights: the text is noise,
// the streaming is real). Prints the answer as it streams, then one JSON line: how many pieces arrived, the text
// they spell, and the finish part's reason, text and usage.
import { Engine, buildFixture, tokenizeChat } from "@hybrid-llm/core";
import { NodeBackend } from "@hybrid-llm/node";

const [modelPath, question = "Explain a state space model in two sentences."] = process.argv.slice(2);
const backend = await NodeBackend.create({ gpu: "auto" });
try {
  const model = await backend.loadModel(modelPath ? { path: modelPath } : { bytes: buildFixture("tiny") });
  const context = await model.createContext({ ctx: 4096, slots: 1, threads: 1 });
  const engine = new Engine({ model, context });
  // Models without a template get a plain "role: content" one.
  const template = model.info.chatTemplate ?? "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}assistant: ";
  const { tokens: prompt } = tokenizeChat(model, template, [
    { role: "system", content: "You are a concise assistant." },
    { role: "user", content: question },
  ]);
  let streamed = "";
  let pieces = 0;
  let finish;
  for await (const part of engine.generate({ prompt, maxTokens: 32, temperature: 0.7, seed: 1 })) {
    if (part.type === "text-delta") {
      process.stdout.write(part.text); // each piece as soon as it is decoded (whole UTF-8 characters)
      streamed += part.text;
      pieces++;
    }
    if (part.type === "finish") finish = part;
  }
  process.stdout.write("\n");
  console.log(JSON.stringify({ pieces, streamed, reason: finish.reason, text: finish.text, usage: finish.usage }));
  await engine.dispose();
} finally {
  await backend.dispose();
}
