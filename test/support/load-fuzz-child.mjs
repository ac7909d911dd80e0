// Loads damaged copies of a fixture through a backend's whole load path (TypeScript checks, then llama.cpp), in a
// process of its own so that a native abort shows as a crash of this process, not of the test runner. For each
// case that loads, a small context decodes one token. Prints one JSON line: outcome counts, RSS, the first
// unexpected errors. Usage: node load-fuzz-child.mjs <node|wasm> <profile> <count> [seed]
import { HybridLlmError, buildFixture } from "../../packages/core/dist/index.js";
import { mutateGguf } from "../../packages/core/dist/testing.js";

const [backendName, profile, countText, seedText] = process.argv.slice(2);
const backend =
  backendName === "wasm"
    ? await (await import("../../packages/wasm/dist/index.js")).WasmBackend.create()
    : await (await import("../../packages/node/dist/index.js")).NodeBackend.create({ gpu: false });
const cases = mutateGguf(buildFixture(profile), Number(countText), Number(seedText ?? 7));
const outcomes = { cases: 0, loaded: 0, typedError: 0, unexpected: 0 };
const unexpectedErrors = [];
const rssBefore = process.memoryUsage().rss;
let last = -1;
for (const bytes of cases) {
  const i = outcomes.cases++;
  last = i;
  try {
    const model = await backend.loadModel({ bytes });
    try {
      const context = await model.createContext({ ctx: 256, threads: 1 });
      await context.decode({ tokens: Int32Array.of(1), positions: Int32Array.of(0), sequenceIds: Int32Array.of(0), outputs: Uint8Array.of(1) });
      await context.dispose();
    } finally {
      await model.dispose();
    }
    outcomes.loaded++;
  } catch (error) {
    if (HybridLlmError.isInstance(error)) outcomes.typedError++;
    else {
      outcomes.unexpected++;
      if (unexpectedErrors.length < 5) unexpectedErrors.push({ case: i, error: String(error?.stack ?? error) });
    }
  }
}
await backend.dispose();
process.stdout.write(`${JSON.stringify({ ...outcomes, last, rssGrowthMiB: (process.memoryUsage().rss - rssBefore) / 2 ** 20, unexpectedErrors })}\n`);
