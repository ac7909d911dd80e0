#!/usr/bin/env node
// A longer soak than CI's: a hybrid-llm server on 127.0.0.1 (in this process) and N requests against it (streaming
// and not, client cancels, shared prefixes, refusals). Prints the tally, the engine's state afterwards and RSS.
// Usage: npm run build && node scripts/soak.mjs [--requests 10000] [--concurrency 16] [--fixture tiny|nemotron-3-nano-twin]
//        [--slots 4] [--ctx 16384] [--headroom 32] [--max-tokens 8]   (a small --ctx and --headroom with many --slots keep the pool
//        tight: requests get preempted)
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { soak } from "./soak-driver.mjs";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "10000" },
    concurrency: { type: "string", default: "16" },
    fixture: { type: "string", default: "tiny" },
    slots: { type: "string", default: "4" },
    ctx: { type: "string", default: "16384" },
    headroom: { type: "string", default: "32" },
    "max-tokens": { type: "string", default: "8" },
    seed: { type: "string", default: "1" },
    "deadline-minutes": { type: "string", default: "60" },
  },
});
const { Engine } = await import("../packages/core/dist/index.js");
const { writeFixtureFile } = await import("../packages/core/dist/node.js");
const { NodeBackend } = await import("../packages/node/dist/index.js");
const { startServer } = await import("../packages/server/dist/index.js");

const dir = join(fileURLToPath(new URL("..", import.meta.url)), ".cache", "bench");
mkdirSync(dir, { recursive: true });
const path = join(dir, `${values.fixture}.gguf`);
if (!existsSync(path)) await writeFixtureFile(values.fixture, path);
const backend = await NodeBackend.create({ gpu: false });
const model = await backend.loadModel({ path });
const context = await model.createContext({ ctx: Number(values.ctx), slots: Number(values.slots), threads: 1, batch: 256 });
const engine = new Engine({ model, context, maxQueue: 256, admission: { headroomTokens: Number(values.headroom) } });
const server = await startServer({ engine, modelName: "soak", apiKey: "soak", port: 0, maxTokensLimit: Math.max(64, Number(values["max-tokens"])) });
const rssBefore = process.memoryUsage().rss;
const tally = await soak({
  url: server.url,
  apiKey: "soak",
  model: "soak",
  requests: Number(values.requests),
  maxTokens: Number(values["max-tokens"]),
  concurrency: Number(values.concurrency),
  seed: Number(values.seed),
  deadlineMs: Number(values["deadline-minutes"]) * 60_000,
});
await engine.idle();
const stats = engine.stats();
console.log(JSON.stringify({ ...tally, unexpected: tally.unexpected.slice(0, 10), unexpectedCount: tally.unexpected.length }, null, 2));
console.log(
  `engine after: slots busy ${stats.slotsBusy}, queue ${stats.queueDepth}, cells reserved ${stats.poolCellsReserved} (cached ${stats.poolCellsCached}), ` +
    `checkpoints ${stats.cache.checkpoints} (${(stats.cache.checkpointBytes / 2 ** 20).toFixed(1)} MiB of ${(stats.cache.checkpointBudgetBytes / 2 ** 20).toFixed(1)}), ` +
    `prefix hits ${stats.cache.hits} / misses ${stats.cache.misses}; preempted: ${stats.preemption.swaps} swaps, ${stats.preemption.recomputes} recomputes ` +
    `(${stats.preemption.tokensRecomputed} tokens again), swap bytes after ${stats.preemption.swapBytes}, peak running ${stats.peakActive}`,
);
console.log(`RSS ${(rssBefore / 2 ** 20).toFixed(1)} → ${(process.memoryUsage().rss / 2 ** 20).toFixed(1)} MiB`);
await server.close();
await engine.dispose();
await backend.dispose();
process.exit(tally.unexpected.length === 0 && stats.slotsBusy === 0 && stats.queueDepth === 0 ? 0 : 1);
