import { type BackendContext, type BackendModel, Engine } from "@hybrid-llm/core";
import { MockBackend } from "@hybrid-llm/core/testing";
import { describe, expect, test } from "vitest";
import { EngineFeed } from "./engine-feed.js";

async function mockEngine() {
  const model: BackendModel = await new MockBackend().loadModel();
  const context: BackendContext = await model.createContext({ ctx: 1024, slots: 2 });
  return new Engine({ model, context });
}

describe("EngineFeed: the live view's snapshots and events (MockBackend)", () => {
  test("slots, pool and rates follow a request; its arrival and departure are events", async () => {
    const engine = await mockEngine();
    let clock = 0;
    const feed = new EngineFeed(engine, () => clock);
    const first = feed.sample();
    expect(first.events).toEqual([]);
    expect(first.snapshot.slots.map((slot) => slot.phase)).toEqual(["empty", "empty"]);
    expect(first.snapshot.pool).toMatchObject({ cells: 1024, requests: 0, cached: 0, free: 1024 });

    // Take the request's parts one at a time, so the feed can look at the engine while the request runs.
    const stream = engine.generate({ prompt: Int32Array.from([1, 2, 3, 4, 5]), maxTokens: 8, temperature: 0 })[Symbol.asyncIterator]();
    let part = await stream.next();
    while (!part.done && part.value.type !== "text-delta" && part.value.type !== "token") part = await stream.next();
    clock += 500;
    const busy = feed.sample();
    const slot = busy.snapshot.slots.find((view) => view.requestId !== undefined);
    expect(slot?.phase).toBe("decode");
    expect(slot?.promptTokens).toBe(5);
    expect(busy.snapshot.pool.requests).toBeGreaterThan(0);
    expect(busy.snapshot.pool.free).toBe(1024 - busy.snapshot.pool.requests - busy.snapshot.pool.cached);
    expect(busy.events).toEqual([{ type: "admitted", requestId: slot!.requestId, slot: slot!.slot, promptTokens: 5, cachedTokens: 0 }]);
    expect(busy.snapshot.tokensPerSecond.prompt).toBe(5 / 0.5);

    let generated = 0;
    for (part = await stream.next(); !part.done; part = await stream.next()) if (part.value.type === "finish") generated = part.value.usage.completionTokens;
    await engine.idle();
    clock += 500;
    const after = feed.sample();
    expect(after.events).toMatchObject([{ type: "left", requestId: slot!.requestId, slot: slot!.slot }]);
    // The finished request's cells stay as a cached prefix, and its slot says so.
    expect(after.snapshot.slots[slot!.slot]!.phase).toBe("cached");
    expect(after.snapshot.pool.cached).toBeGreaterThan(0);
    expect(after.snapshot.cache.misses).toBe(1);
    expect(after.snapshot.totals.tokensGenerated).toBe(generated);
    expect(generated).toBeGreaterThan(0);
    await engine.dispose();
  });
});
