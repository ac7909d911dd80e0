/**
 * hybrid-llm's Wasm backend under Deno: generate a tiny hybrid model, load it into llama.cpp compiled to
 * WebAssembly (running in a worker), and generate greedily.
 *
 *   npx deno run --allow-read --allow-write --allow-env examples/deno-generate.ts [model.gguf] [prompt]
 *
 * (after `npm ci`, which builds the packages and the Wasm module). Prints one JSON line.
 */
import { buildFixture, generateOnce } from "@hybrid-llm/core";
import { WasmBackend } from "@hybrid-llm/wasm";

const [modelPath, prompt = "Once upon a time, in a land far away"] = Deno.args;
const backend = await WasmBackend.create();
try {
  const model = await backend.loadModel(modelPath ? { path: modelPath } : { bytes: buildFixture("nemotron-3-nano-twin") });
  const context = await model.createContext({ ctx: 4096, slots: 1 });
  const result = await generateOnce(model, context, model.tokenize(prompt), { temperature: 0, maxTokens: 24 });
  console.log(JSON.stringify({
    runtime: `deno ${Deno.version.deno}`,
    backend: backend.name,
    architecture: model.info.architecture,
    tokens: result.tokens,
    text: model.detokenize(Int32Array.from(result.tokens)),
  }));
} finally {
  await backend.dispose();
}
