// A process of its own that restores a saved session and continues the conversation, to show that a session file
// carries everything a later process needs. Prints one JSON line: the tokens generated and the prompt tokens the
// cache served. Usage: node session-child.mjs <model.gguf> <session file> <next-turn prompt tokens, comma-separated> <max tokens>
import { readFile } from "node:fs/promises";
import { Engine } from "../../packages/core/dist/index.js";
import { NodeBackend } from "../../packages/node/dist/index.js";

const [modelPath, sessionPath, promptText, maxTokensText] = process.argv.slice(2);
const backend = await NodeBackend.create({ gpu: false });
const model = await backend.loadModel({ path: modelPath });
const engine = new Engine({ model, context: await model.createContext({ ctx: 2048, slots: 2, threads: 1 }) });
const restored = await engine.restoreSession(await readFile(sessionPath));
const prompt = Int32Array.from(promptText.split(",").map(Number));
const result = await engine.complete({ prompt, temperature: 0, maxTokens: Number(maxTokensText), ignoreEndOfGeneration: true, stopTokens: [] });
process.stdout.write(`${JSON.stringify({ restoredTokens: restored.tokens.length, tokens: result.tokens, cachedPromptTokens: result.usage.cachedPromptTokens, evaluated: engine.stats().promptTokensEvaluated })}\n`);
await engine.dispose();
await backend.dispose();
