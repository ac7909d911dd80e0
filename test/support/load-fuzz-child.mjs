// Loads damaged copies of a fixture through a backend's whole load path (TypeScript checks, then llama.cpp), in a
// process of its own so that a native abort shows as a crash of this process, not of the test runner. For each
// case that loads, a small context decodes one token. Prints one JSON line: outcome counts, RSS, the first
// unexpected errors. Usage: node --expose-gc load-fuzz-child.mjs <node|wasm> <profile> <count> [seed]
//
// Memory is read twice after a collection: at the half-way case and at the end. The first cases warm up (the Wasm
// module's linear memory grows to what the largest case needs and never shrinks; each V8 heap sizes itself), so a
// leak shows as growth over the second half: RSS, and on Wasm the module's linear memory, which is exact.
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
const count = Number(countText);
/** RSS after a collection of this thread's heap (the worker's garbage still counts), and the module's memory. */
async function memory() {
  globalThis.gc?.();
  return { rss: process.memoryUsage().rss, linear: backendName === "wasm" ? await backend.memoryBytes() : 0 };
}
const before = await memory();
let half;
let last = -1;
for (const bytes of cases) {
  if (outcomes.cases === Math.floor(count / 2)) half = await memory();
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
const end = await memory();
await backend.dispose();
const mib = (bytes) => Math.round((bytes / 2 ** 20) * 10) / 10;
process.stdout.write(
  `${JSON.stringify({
    ...outcomes,
    last,
    rssGrowthMiB: mib(end.rss - before.rss),
    secondHalfRssGrowthMiB: mib(end.rss - half.rss),
    linearMemoryMiB: { start: mib(before.linear), half: mib(half.linear), end: mib(end.linear) },
    unexpectedErrors,
  })}\n`,
);
