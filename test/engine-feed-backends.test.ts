import { type Backend, type BackendModel, Engine, type StreamPart } from "@hybrid-llm/core";
import { NodeBackend } from "@hybrid-llm/node";
import { EngineFeed } from "@hybrid-llm/server";
import { WasmBackend } from "@hybrid-llm/wasm";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fixturePath } from "./support/fixtures.js";

/** The web page's feed reads what the engine does on real llama.cpp, on each backend (tiny fixture). */
describe.each([
  ["node", () => NodeBackend.create({ gpu: false }) as Promise<Backend>],
  ["wasm", () => WasmBackend.create() as Promise<Backend>],
])("EngineFeed on the %s backend", (_name, createBackend) => {
  let backend: Backend;
  let model: BackendModel;
  beforeAll(async () => {
    backend = await createBackend();
    model = await backend.loadModel({ path: await fixturePath("tiny") });
  });
  afterAll(async () => {
    await backend?.dispose();
  });

  test("two requests decoding side by side, then cached with checkpoints; a third resumes from the cache", async () => {
    const context = await model.createContext({ ctx: 1024, slots: 2, threads: 1, batch: 128 });
    const engine = new Engine({ model, context });
    try {
      const feed = new EngineFeed(engine);
      feed.sample();
      // End-of-generation tokens banned: both stay busy for their 48 tokens.
      const logitBias = Object.fromEntries(model.info.endOfGenerationTokens.map((token) => [token, Number.NEGATIVE_INFINITY]));
      const prompt = model.tokenize("A long shared beginning about state space models and attention. ".repeat(4));
      const streams = [1, 2].map((i) => engine.generate({ prompt: Int32Array.from([...prompt, ...model.tokenize(` Question ${i}:`)]), maxTokens: 48, temperature: 0, logitBias })[Symbol.asyncIterator]());
      const firstToken = async (stream: AsyncIterator<StreamPart>) => {
        for (let part = await stream.next(); !part.done; part = await stream.next()) if (part.value.type === "token") return;
      };
      await Promise.all(streams.map(firstToken));
      const busy = feed.sample();
      const decoding = busy.snapshot.slots.filter((slot) => slot.phase === "decode");
      expect(decoding).toHaveLength(2);
      for (const slot of decoding) expect(slot.generated).toBeGreaterThanOrEqual(1);
      expect(busy.events.filter((event) => event.type === "admitted").map((event) => event.type === "admitted" && event.slot).sort()).toEqual([0, 1]);
      expect(busy.snapshot.pool.requests).toBeGreaterThan(prompt.length);

      for (const stream of streams) while (!(await stream.next()).done);
      await engine.idle();
      const after = feed.sample();
      expect(after.snapshot.slots.map((slot) => slot.phase)).toEqual(["cached", "cached"]);
      expect(after.events.filter((event) => event.type === "left")).toHaveLength(2);
      expect(after.snapshot.cache.checkpoints).toBeGreaterThan(0);
      expect(after.snapshot.cache.checkpointBytes).toBeGreaterThan(0);
      expect(after.snapshot.pool).toMatchObject({ requests: 0, free: 1024 - after.snapshot.pool.cached });
      expect(after.snapshot.totals.tokensGenerated).toBe(96);

      // The first conversation goes on: admitted with most of its tokens from the cache, counted as a hit.
      const hits = after.snapshot.cache.hits;
      const next = engine.generate({ prompt: Int32Array.from([...prompt, ...model.tokenize(" Question 1: and more")]), maxTokens: 4, temperature: 0, logitBias })[Symbol.asyncIterator]();
      await firstToken(next);
      const resumed = feed.sample();
      const admitted = resumed.events.find((event) => event.type === "admitted");
      expect(admitted?.type === "admitted" && admitted.cachedTokens).toBeGreaterThanOrEqual(prompt.length);
      while (!(await next.next()).done);
      await engine.idle();
      expect(feed.sample().snapshot.cache.hits).toBe(hits + 1);
    } finally {
      await engine.dispose();
      await context.dispose();
    }
  });
});
