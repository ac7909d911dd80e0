import { type BackendContext, BackendError, type BackendModel, Engine } from "@hybrid-llm/core";
import { MockBackend, withFaults } from "@hybrid-llm/core/testing";
import { describe, expect, test } from "vitest";
import { createServer } from "./create-server.js";

async function setup(options: { template?: string; ctx?: number; stallMs?: number } = {}) {
  const model: BackendModel = await new MockBackend().loadModel();
    const context: BackendContext = await model.createContext({ ctx: options.ctx ?? 1024, slots: 2 });
  const engine = new Engine({ model, context });
  const errors: unknown[] = [];
  const app = createServer({ engine, ...(options.template === undefined ? {} : { chatTemplate: options.template }), modelName: "mock", apiKey: "k", onError: (error) => errors.push(error), ...(options.stallMs ? { stallMs: options.stallMs } : {}) });
  const post = (path: string, body: unknown) =>
    app.request(path, { method: "POST", headers: { authorization: "Bearer k", "content-type": "application/json" }, body: JSON.stringify(body) });
  return { app, post, context, engine, errors };
}

const chat = (extra: Record<string, unknown> = {}) => ({ model: "mock", messages: [{ role: "user", content: "hi" }], max_tokens: 4, temperature: 0, ...extra });

describe("createServer: refusals and errors (MockBackend)", () => {
  test("with an API key every route but /health needs it; 401 carries WWW-Authenticate", async () => {
    const { app } = await setup();
    expect((await app.request("/health")).status).toBe(200);
    for (const path of ["/metrics", "/slots", "/v1/models"]) {
      const response = await app.request(path);
      expect(response.status, path).toBe(401);
      expect(response.headers.get("www-authenticate")).toMatch(/^Bearer/);
      expect((await app.request(path, { headers: { authorization: "Bearer wrong-length-key" } })).status).toBe(401);
      expect((await app.request(path, { headers: { authorization: "Bearer k" } })).status).toBe(200);
    }
  });

  test("an unknown or missing model, a non-boolean stream and unsupported fields are refused, not ignored", async () => {
    const { post } = await setup();
    const unknown = await post("/v1/chat/completions", chat({ model: "gpt-4o" }));
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe("model_not_found");
    expect((await post("/v1/chat/completions", chat({ model: undefined }))).status).toBe(400);
    expect((await post("/v1/chat/completions", chat({ stream: "yes" }))).status).toBe(400);
    for (const field of [{ functions: [{ name: "f" }] }, { prediction: { type: "content", content: "x" } }, { modalities: ["audio"] }, { reasoning_effort: "low" }, { frobnicate: 1 }]) {
      const response = await post("/v1/chat/completions", chat(field));
      expect(response.status, JSON.stringify(field)).toBe(400);
      expect(((await response.json()) as { error: unknown }).error).toMatchObject({ code: "unsupported_parameter", param: Object.keys(field)[0] });
    }
    // Fields that ask for nothing beyond the default are fine.
    expect((await post("/v1/chat/completions", chat({ presence_penalty: 0, logprobs: false, user: "u1", tools: [] }))).status).toBe(200);
    expect((await post("/v1/completions", { model: "mock", prompt: "x", max_tokens: 2, echo: true })).status).toBe(400);
    expect((await post("/v1/completions", { model: "mock", prompt: "x", max_tokens: 2, best_of: 2 })).status).toBe(400);
    expect((await post("/v1/completions", { model: "mock", prompt: "x", max_tokens: 2, tools: [] })).status).toBe(400);
  });

  test("max_tokens that cannot fit beside the prompt is refused with context_length_exceeded", async () => {
    const { post } = await setup({ ctx: 256 });
    const response = await post("/v1/chat/completions", chat({ max_tokens: 250 }));
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("context_length_exceeded");
    expect((await post("/v1/chat/completions", chat({ max_tokens: 200 }))).status).toBe(200);
  });

  test("/health reports a stalled backend (a decode that does not return) with 503", async () => {
    const { app, post, context, engine } = await setup({ stallMs: 30 });
    let release: () => void = () => {};
    const stall = new Promise<void>((resolve) => (release = resolve));
    const decode = context.decode.bind(context);
    context.decode = async (...args) => {
      await stall; // the first decode hangs until released
      return decode(...args);
    };
    const pending = post("/v1/chat/completions", chat());
    await new Promise((resolve) => setTimeout(resolve, 80));
    const stalled = await app.request("/health");
    expect(stalled.status).toBe(503);
    expect(((await stalled.json()) as { status: string }).status).toBe("stalled");
    release();
    expect((await pending).status).toBe(200);
    await engine.idle();
    expect((await app.request("/health")).status).toBe(200);
  });

  test("a crashed backend: the request running fails, /health and new requests say 503 while the engine reopens it, then all serve again", async () => {
    const backend = new MockBackend({ decodeDelayMs: 1 });
    const faulty = withFaults(backend, (point, call) => (point === "decode" && call === 3 ? "crash" : undefined));
    const model = await faulty.loadModel({ bytes: new Uint8Array() });
    let reopened: () => void = () => {};
    const reopening = new Promise<void>((resolve) => (reopened = resolve));
    const engine = new Engine({
      model,
      context: await model.createContext({ ctx: 1024, slots: 2 }),
      reopen: async () => {
        await reopening;
        const fresh = await new MockBackend().loadModel();
        return { model: fresh, context: await fresh.createContext({ ctx: 1024, slots: 2 }) };
      },
    });
    const errors: unknown[] = [];
    const app = createServer({ engine, modelName: "mock", onError: (error) => errors.push(error) });
    const post = (body: unknown) => app.request("/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const crashed = await post(chat({ max_tokens: 20 }));
    expect(crashed.status).toBe(500); // failed mid-generation: a generic 500, the detail to onError
    expect(errors.some((error) => BackendError.isInstance(error) && error.code === "crashed")).toBe(true);
    const health = await app.request("/health");
    expect([health.status, ((await health.json()) as { status: string }).status]).toEqual([503, "restarting"]);
    const during = await post(chat());
    expect(during.status).toBe(503);
    expect(during.headers.get("retry-after")).toBe("5");
    expect(((await during.json()) as { error: { code: string } }).error.code).toBe("model_unavailable");
    reopened();
    while (engine.stats().state !== "running") await new Promise((resolve) => setTimeout(resolve, 5));
    expect((await app.request("/health")).status).toBe(200);
    expect((await post(chat())).status).toBe(200);
    expect(engine.stats().restarts).toBe(1);
  });

  test("slow clients: a body that stops halfway gets 408; a stream reader that stops reading is cut off and its request cancelled", async () => {
    const model = await new MockBackend({ decodeDelayMs: 20 }).loadModel();
    const engine = new Engine({ model, context: await model.createContext({ ctx: 4096, slots: 2 }) });
    const app = createServer({ engine, modelName: "mock", bodyTimeoutMs: 100, writeTimeoutMs: 60 });
    const whole = (await engine.complete({ prompt: model.tokenize("user: hi\nassistant: "), temperature: 0, maxTokens: 1000 })).tokens.length;
    const half = JSON.stringify(chat()).slice(0, 20);
    const trickle = new ReadableStream<Uint8Array>({ start: (controller) => controller.enqueue(new TextEncoder().encode(half)) }); // never closes
    const slowBody = await app.request("/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: trickle, duplex: "half" } as RequestInit);
    expect(slowBody.status).toBe(408);
    expect(((await slowBody.json()) as { error: { code: string } }).error.code).toBe("request_timeout");

    const response = await app.request("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(chat({ stream: true, max_tokens: 1000 })),
    });
    const reader = response.body!.getReader();
    await reader.read(); // the first event, then the client stops reading
    const ended = async () => /hybrid_llm_requests_total\{reason="cancelled"\} 1/.test(await (await app.request("/metrics")).text());
    while (!(await ended())) await new Promise((resolve) => setTimeout(resolve, 10));
    // Cancelled before its answer was done (each decode takes 20 ms here; the cut-off comes 60 ms after a blocked write).
    expect(engine.stats().tokensGenerated - whole).toBeLessThan(whole);
    expect(engine.stats().slotsBusy).toBe(0);
  });

  test("a template's raise_exception is the request's fault: 400 with the template's message", async () => {
    const { post } = await setup({ template: "{{ raise_exception('Conversation roles must alternate') }}" });
    const response = await post("/v1/chat/completions", chat());
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(/roles must alternate/);
  });

  test("a generation failure: non-streaming gets a generic 500; streaming gets an error event and no finish or [DONE]", async () => {
    const { post, context, errors } = await setup();
    context.decode = async () => {
      throw new Error("secret internal detail");
    };
    const plain = await post("/v1/chat/completions", chat());
    expect(plain.status).toBe(500);
    const text = await plain.text();
    expect(text).not.toMatch(/secret/);
    const stream = await post("/v1/chat/completions", chat({ stream: true }));
    const events = await stream.text();
    expect(events).toMatch(/"error"/);
    expect(events).not.toMatch(/secret|\[DONE\]|"finish_reason":"stop"/);
    expect(errors.map((e) => (e as Error).message)).toEqual(["secret internal detail", "secret internal detail"]);
  });
});

test("createServer refuses options a JavaScript caller got wrong, before serving anything", async () => {
  const model = await new MockBackend().loadModel();
  const engine = new Engine({ model, context: await model.createContext({ ctx: 1024, slots: 1 }) });
  const bad: Record<string, unknown>[] = [{ writeTimeoutMs: "60" }, { bodyTimeoutMs: 0 }, { maxEventClients: 0 }, { maxEventClients: 2.5 }, { maxEventClients: "16" }, { maxBodyBytes: Number.NaN }, { apiKey: "" }, { sessionDir: 5 }, { onError: "log" }, { modelName: "" }, { engine: {} }];
  for (const extra of bad) expect(() => createServer({ engine, modelName: "mock", ...extra } as never), JSON.stringify(extra)).toThrow(/must be/);
  expect(() => new Engine({ model, context: engine["context"], reopen: "yes" } as never)).toThrow(/reopen must be a function/);
});

test("after a reopen that failed, completions answer 503 model_unavailable (not a 500 from the dead model)", async () => {
  const backend = new MockBackend({ decodeDelayMs: 1 });
  const faulty = withFaults(backend, (point, call) => (point === "decode" && call === 2 ? "crash" : undefined));
  const model = await faulty.loadModel({ bytes: new Uint8Array() });
  const engine = new Engine({
    model,
    context: await model.createContext({ ctx: 1024, slots: 1 }),
    reopen: async () => {
      await model.dispose();
      throw new BackendError({ code: "load-failed", message: "injected: the model file is gone" });
    },
  });
  const app = createServer({ engine, modelName: "mock", onError: () => {} });
  const post = (path: string, body: unknown) => app.request(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  expect((await post("/v1/chat/completions", chat({ max_tokens: 20 }))).status).toBe(500);
  while (engine.stats().state !== "failed") await new Promise((resolve) => setTimeout(resolve, 5));
  for (const [path, body] of [["/v1/chat/completions", chat()], ["/v1/completions", { model: "mock", prompt: "hi", max_tokens: 2 }]] as const) {
    const response = await post(path, body);
    expect(response.status, path).toBe(503);
    expect(response.headers.get("retry-after")).toBe("5");
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("model_unavailable");
  }
});

test("concurrent saves of one session name all succeed (each write has a temporary file of its own)", async () => {
  const { mkdtempSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const model = await new MockBackend().loadModel();
  const engine = new Engine({ model, context: await model.createContext({ ctx: 1024, slots: 2 }) });
  const app = createServer({ engine, modelName: "mock", sessionDir: mkdtempSync(join(tmpdir(), "hybrid-llm-sessions-unit-")) });
  const post = (path: string, body: unknown) => app.request(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const first = (await (await post("/v1/chat/completions", chat({ max_tokens: 6 }))).json()) as { choices: { message: { content: string } }[] };
  const messages = [{ role: "user", content: "hi" }, { role: "assistant", content: first.choices[0]!.message.content }];
  const statuses = await Promise.all(Array.from({ length: 8 }, async () => (await post("/v1/sessions/same/save", { model: "mock", messages })).status));
  expect(statuses).toEqual(Array.from({ length: 8 }, () => 200));
  expect((await post("/v1/sessions/same/restore", { model: "mock" })).status).toBe(200);
});
