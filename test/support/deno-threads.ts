/**
 * Run by test/deno.test.ts under Deno 2: the multi-threaded Wasm module (2 threads) generates greedily on the tiny
 * fixture and prints one JSON line.
 */
import { buildFixture, generateOnce } from "@hybrid-llm/core";
import { WasmBackend } from "@hybrid-llm/wasm";

declare const Deno: { readonly version: { readonly deno: string } };

const backend = await WasmBackend.create({ threads: 2 });
try {
  const model = await backend.loadModel({ bytes: buildFixture("tiny") });
  const context = await model.createContext({ ctx: 512, slots: 1 });
  const result = await generateOnce(model, context, model.tokenize("Once upon a time, in a land far away"), { temperature: 0, maxTokens: 16 });
  console.log(JSON.stringify({ runtime: `deno ${Deno.version.deno}`, threads: backend.threads, tokens: result.tokens }));
} finally {
  await backend.dispose();
}
