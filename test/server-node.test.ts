import { type BackendContext, type BackendModel, Engine } from "@hybrid-llm/core";
import { NodeBackend } from "@hybrid-llm/node";
import { type RunningServer, startServer } from "@hybrid-llm/server";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fixturePath } from "./support/fixtures.js";

describe("OpenAI-compatible server on loopback (node backend, twin fixture), with the official openai client", () => {
  let backend: NodeBackend;
  let model: BackendModel;
  let context: BackendContext;
  let engine: Engine;
  let server: RunningServer;
  let client: OpenAI;

  beforeAll(async () => {
    backend = await NodeBackend.create({ gpu: false });
    model = await backend.loadModel({ path: await fixturePath("nemotron-3-nano-twin") });
    context = await model.createContext({ ctx: 8192, slots: 4, threads: 1, batch: 256 });
    engine = new Engine({ model, context, maxQueue: 2 });
    server = await startServer({ engine, model, modelName: "twin", apiKey: "secret", port: 0, maxTokensLimit: 64 });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "secret", maxRetries: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await engine?.dispose();
    await backend?.dispose();
  });

  test("non-streaming chat completion: content, finish reason, usage incl. cached_tokens", async () => {
    const completion = await client.chat.completions.create({ model: "twin", messages: [{ role: "user", content: "Hello!" }], max_tokens: 12, temperature: 0 });
    expect(completion.object).toBe("chat.completion");
    expect(completion.model).toBe("twin");
    const choice = completion.choices[0]!;
    expect(choice.message.role).toBe("assistant");
    expect(typeof choice.message.content).toBe("string");
    expect(["stop", "length"]).toContain(choice.finish_reason);
    expect(completion.usage!.prompt_tokens).toBeGreaterThan(5);
    expect(completion.usage!.completion_tokens).toBeGreaterThan(0);
    expect(completion.usage!.total_tokens).toBe(completion.usage!.prompt_tokens + completion.usage!.completion_tokens);
    expect(completion.usage!.prompt_tokens_details?.cached_tokens).toBe(0);
  });

  test("streaming chat completion: the deltas add up to the non-streaming answer (greedy)", async () => {
    const request = { model: "twin", messages: [{ role: "user" as const, content: "Tell me a story." }], max_tokens: 16, temperature: 0 };
    const whole = await client.chat.completions.create(request);
    const stream = await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let finish: string | null = null;
    let usage;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (choice?.delta.content) text += choice.delta.content;
      if (choice?.finish_reason) finish = choice.finish_reason;
    }
    expect(text).toBe(whole.choices[0]!.message.content);
    expect(finish).toBe(whole.choices[0]!.finish_reason);
    expect(usage?.completion_tokens).toBe(whole.usage!.completion_tokens);
  });

  test("completions endpoint, streaming and not", async () => {
    const plain = await client.completions.create({ model: "twin", prompt: "Once upon a time", max_tokens: 8, temperature: 0 });
    expect(plain.object).toBe("text_completion");
    const stream = await client.completions.create({ model: "twin", prompt: "Once upon a time", max_tokens: 8, temperature: 0, stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? "";
    expect(text).toBe(plain.choices[0]!.text);
  });

  test("models, health, metrics, slots; auth and limits answer with OpenAI-style errors", async () => {
    expect((await client.models.list()).data.map((m) => m.id)).toEqual(["twin"]);
    expect(await (await fetch(`${server.url}/health`)).json()).toMatchObject({ status: "ok" });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^hybrid_llm_slots 4$/m);
    expect(metrics).toMatch(/^hybrid_llm_tokens_generated_total [1-9]\d*$/m);
    expect(metrics).toMatch(/^hybrid_llm_request_duration_seconds_count [1-9]\d*$/m);
    const slots = await (await fetch(`${server.url}/slots`)).json();
    expect(slots).toMatchObject({ slots: 4, slotsBusy: 0, queueDepth: 0 });

    const unauthorized = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "wrong", maxRetries: 0 });
    await expect(unauthorized.models.list()).rejects.toMatchObject({ status: 401 });
    await expect(client.chat.completions.create({ model: "twin", messages: [{ role: "user", content: "x" }], max_tokens: 1000 })).rejects.toMatchObject({ status: 400 });
    await expect(client.chat.completions.create({ model: "twin", messages: [{ role: "user", content: "word ".repeat(9000) }], max_tokens: 4 })).rejects.toMatchObject({
      status: 400,
      code: "context_length_exceeded",
    });
    const tooBig = await fetch(`${server.url}/v1/completions`, {
      method: "POST",
      // connection: close — the server answers 413 before reading the whole body; that socket must not be reused.
      headers: { authorization: "Bearer secret", "content-type": "application/json", connection: "close" },
      body: JSON.stringify({ prompt: "x".repeat(2 << 20) }),
    });
    expect(tooBig.status).toBe(413);
    const badJson = await fetch(`${server.url}/v1/completions`, { method: "POST", headers: { authorization: "Bearer secret" }, body: "{nope" });
    expect(badJson.status).toBe(400);
  });

  test("a client that disconnects mid-stream cancels its request and frees the slot", async () => {
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      { model: "twin", messages: [{ role: "user", content: "Go on forever" }], max_tokens: 64, temperature: 0, stream: true },
      { signal: controller.signal },
    );
    let chunks = 0;
    try {
      for await (const _ of stream) {
        if (++chunks === 3) controller.abort();
      }
    } catch {
      // aborted by us
    }
    for (let i = 0; i < 200 && engine.stats().slotsBusy > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(engine.stats().slotsBusy).toBe(0);
    expect(engine.stats().poolCellsReserved).toBe(0);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/hybrid_llm_requests_total\{reason="cancelled"\} [1-9]/);
  });
});
