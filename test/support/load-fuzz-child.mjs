// Loads damaged copies of a fixture through a backend's whole load path (TypeScript checks, then llama.cpp), in a
// process of its own so that a native abort shows as a crash of this process, not of the test runner. For each
// case that loads, a small context decodes one token. Prints one JSON line: outcome counts, memory, the first
// unexpected errors. Usage: node --expose-gc load-fuzz-child.mjs <node|wasm> <profile> <count> [seed]
//
// Memory. A leak is growth that repeats: so after the fuzz, the cases that reached llama.cpp (they loaded, or
// llama.cpp refused them) run again, and what the repeat adds is reported apart from the whole run's growth, which
// includes warm-up (malloc's arenas, the Wasm module's linear memory growing once to the largest case, each V8
// heap sizing itself). RSS is read after a collection of this thread's heap; the Wasm worker's garbage (copies of
// the file) still counts there, so on Wasm the module's linear memory is read too, and it is exact.
import { BackendError, HybridLlmError, buildFixture } from "../../packages/core/dist/index.js";
import { mutateGguf } from "../../packages/core/dist/testing.js";

const [backendName, profile, countText, seedText] = process.argv.slice(2);
const backend =
  backendName === "wasm"
    ? await (await import("../../packages/wasm/dist/index.js")).WasmBackend.create()
    : await (await import("../../packages/node/dist/index.js")).NodeBackend.create({ gpu: false });
const count = Number(countText);
const seed = Number(seedText ?? 7);
const outcomes = { cases: 0, loaded: 0, typedError: 0, unexpected: 0 };
const unexpectedErrors = [];
/** Indices of the cases that reached llama.cpp. */
const native = new Set();
let last = -1;

async function memory() {
  globalThis.gc?.();
  return { rss: process.memoryUsage().rss, linear: backendName === "wasm" ? await backend.memoryBytes() : 0 };
}

/** One case: "loaded", "native-refusal" (llama.cpp said no, a typed error), "typed" (refused before llama.cpp), or the error. */
async function run(bytes) {
  try {
    const model = await backend.loadModel({ bytes });
    try {
      const context = await model.createContext({ ctx: 256, threads: 1 });
      await context.decode({ tokens: Int32Array.of(1), positions: Int32Array.of(0), sequenceIds: Int32Array.of(0), outputs: Uint8Array.of(1) });
      await context.dispose();
    } finally {
      await model.dispose();
    }
    return "loaded";
  } catch (error) {
    if (BackendError.isInstance(error) && error.code === "load-failed") return "native-refusal";
    if (HybridLlmError.isInstance(error)) return "typed";
    return error;
  }
}

const before = await memory();
let i = 0;
for (const bytes of mutateGguf(buildFixture(profile), count, seed)) {
  last = i;
  outcomes.cases++;
  const outcome = await run(bytes);
  if (outcome === "loaded") outcomes.loaded++;
  else if (outcome === "native-refusal" || outcome === "typed") outcomes.typedError++;
  else {
    outcomes.unexpected++;
    if (unexpectedErrors.length < 5) unexpectedErrors.push({ case: i, error: String(outcome?.stack ?? outcome) });
  }
  if (outcome === "loaded" || outcome === "native-refusal") native.add(i);
  i++;
}
const afterFuzz = await memory();
i = 0;
for (const bytes of mutateGguf(buildFixture(profile), count, seed)) {
  if (native.has(i++)) await run(bytes);
}
const afterRepeat = await memory();
await backend.dispose();
const mib = (bytes) => Math.round((bytes / 2 ** 20) * 10) / 10;
process.stdout.write(
  `${JSON.stringify({
    ...outcomes,
    last,
    reachedLlama: native.size,
    rssGrowthMiB: mib(afterFuzz.rss - before.rss),
    repeatRssGrowthMiB: mib(afterRepeat.rss - afterFuzz.rss),
    linearMemoryMiB: { start: mib(before.linear), afterFuzz: mib(afterFuzz.linear), afterRepeat: mib(afterRepeat.linear) },
    unexpectedErrors,
  })}\n`,
);
