import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Engine } from "@hybrid-llm/core";
import { NodeBackend } from "@hybrid-llm/node";
import { startServer } from "@hybrid-llm/server";
import { expect, test } from "vitest";
// @ts-expect-error — a plain ESM script shared with scripts/soak.mjs, no declarations
import { soak } from "../scripts/soak-driver.mjs";
import { fixturePath } from "./support/fixtures.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
/** Heap in use after a full collection: what is really retained. */
const retainedHeap = () => {
  gc();
  return process.memoryUsage().heapUsed;
};

interface Tally {
  sent: number;
  ok: number;
  cancelled: number;
  refused: number;
  unexpected: string[];
  ms: number;
}

test("soak: 2,000 requests on loopback (streaming and not, client cancels, shared prefixes, refusals) — every request ends once, the engine returns to idle, RSS stays bounded", async () => {
  const backend = await NodeBackend.create({ gpu: false });
  const model = await backend.loadModel({ path: await fixturePath("tiny") });
  const context = await model.createContext({ ctx: 8192, slots: 4, threads: 1, batch: 256 });
  const engine = new Engine({ model, context, maxQueue: 64 });
  const server = await startServer({ engine, modelName: "tiny", apiKey: "soak", port: 0, maxTokensLimit: 64 });
  try {
    const run = (requests: number, seed: number) => soak({ url: server.url, apiKey: "soak", model: "tiny", requests, seed, concurrency: 16 }) as Promise<Tally>;
    const ended = async () => {
      const metrics = await (await fetch(`${server.url}/metrics`, { headers: { authorization: "Bearer soak" } })).text();
      // Requests the engine ran (refusals before any work are counted as "rejected").
      return [...metrics.matchAll(/^hybrid_llm_requests_total\{reason="(\w+)"\} (\d+)$/gm)].reduce((n, m) => (m[1] === "rejected" ? n : n + Number(m[2])), 0);
    };
    await run(100, 1); // warm-up: allocator pools, JIT
    await engine.idle();
    const endedBefore = await ended();
    const rssBefore = process.memoryUsage().rss;
    const heapBefore = retainedHeap();
    const tally = await run(2000, 2);
    await engine.idle();
    await new Promise((resolve) => setTimeout(resolve, 200)); // late disconnects reach the engine
    await engine.idle();
    const rssGrowth = process.memoryUsage().rss - rssBefore;
    const heapGrowth = retainedHeap() - heapBefore;
    console.log(`soak: ${JSON.stringify({ ...tally, unexpected: tally.unexpected.length })}, RSS +${(rssGrowth / 2 ** 20).toFixed(1)} MiB, retained heap +${(heapGrowth / 2 ** 20).toFixed(1)} MiB`);

    expect(tally.unexpected).toEqual([]);
    expect(tally.sent).toBe(2000);
    expect(tally.ok).toBeGreaterThan(1500);
    expect(tally.cancelled).toBeGreaterThan(50);
    expect(tally.refused).toBeGreaterThan(50);

    // Every request that reached the engine (all but the refused ones) ended exactly once, as the server counted it.
    expect((await ended()) - endedBefore).toBe(tally.sent - tally.refused);
    // Idle: nothing running or waiting; the pool holds only cached prefixes; checkpoints within their budget.
    const stats = engine.stats();
    expect([stats.slotsBusy, stats.queueDepth, stats.active.length, stats.poolCellsReserved - stats.poolCellsCached]).toEqual([0, 0, 0, 0]);
    expect(stats.cache.checkpointBytes).toBeLessThanOrEqual(stats.cache.checkpointBudgetBytes);
    expect(stats.cache.hits).toBeGreaterThan(100);
    engine.clearCache();
    expect([engine.stats().poolCellsReserved, engine.stats().cache.checkpointBytes]).toEqual([0, 0]);
    expect(rssGrowth).toBeLessThan(256 * 2 ** 20);
    // Nothing per request stays reachable (a listener left on each request's signal once kept every request's
    // context alive: ~18 KiB a request, 36 MiB here).
    expect(heapGrowth).toBeLessThan(12 * 2 ** 20);
  } finally {
    await server.close();
    await engine.dispose();
    await backend.dispose();
  }
});

test("soak under preemption: 400 requests of up to 200 tokens on a pool too small for them (16 slots, 2,048 cells) — requests are swapped out and back, every request ends once, the engine and swap space end idle", async () => {
  const backend = await NodeBackend.create({ gpu: false });
  const model = await backend.loadModel({ path: await fixturePath("tiny") });
  const context = await model.createContext({ ctx: 2048, slots: 16, threads: 1, batch: 256 });
  const engine = new Engine({ model, context, maxQueue: 64, admission: { headroomTokens: 8 } });
  const server = await startServer({ engine, modelName: "tiny", apiKey: "soak", port: 0, maxTokensLimit: 200 });
  try {
    const tally = (await soak({ url: server.url, apiKey: "soak", model: "tiny", requests: 400, seed: 3, concurrency: 16, maxTokens: 200 })) as Tally;
    await engine.idle();
    await new Promise((resolve) => setTimeout(resolve, 200));
    await engine.idle();
    const metrics = await (await fetch(`${server.url}/metrics`, { headers: { authorization: "Bearer soak" } })).text();
    const ended = [...metrics.matchAll(/^hybrid_llm_requests_total\{reason="(\w+)"\} (\d+)$/gm)].reduce((n, m) => (m[1] === "rejected" ? n : n + Number(m[2])), 0);
    const stats = engine.stats();
    console.log(`soak under preemption: ${JSON.stringify({ ...tally, unexpected: tally.unexpected.length })}, ${stats.preemption.swaps} swaps, ${stats.preemption.recomputes} recomputes, peak running ${stats.peakActive}`);
    expect(tally.unexpected).toEqual([]);
    expect(stats.preemption.swaps + stats.preemption.recomputes).toBeGreaterThan(10);
    expect(ended).toBe(tally.sent - tally.refused);
    expect([stats.slotsBusy, stats.queueDepth, stats.preemption.waiting, stats.preemption.swapBytes, stats.poolCellsReserved - stats.poolCellsCached]).toEqual([0, 0, 0, 0, 0]);
  } finally {
    await server.close();
    await engine.dispose();
    await backend.dispose();
  }
});
