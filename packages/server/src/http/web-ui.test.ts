import { type BackendContext, type BackendModel, Engine } from "@hybrid-llm/core";
import { MockBackend } from "@hybrid-llm/core/testing";
import { describe, expect, test } from "vitest";
import { createServer } from "./create-server.js";

async function mockEngine() {
  const model: BackendModel = await new MockBackend().loadModel();
  const context: BackendContext = await model.createContext({ ctx: 1024, slots: 2 });
  return new Engine({ model, context });
}

describe("createServer: the web page and GET /v1/engine/events (MockBackend)", () => {
  test("with a key: the page and its assets need none (and carry a CSP); the event stream does", async () => {
    const engine = await mockEngine();
    const app = createServer({ engine, modelName: "mock", apiKey: "k" });
    for (const [path, type] of [["/", "text/html"], ["/ui/app.js", "text/javascript"], ["/ui/style.css", "text/css"]] as const) {
      const response = await app.request(path);
      expect(response.status, path).toBe(200);
      expect(response.headers.get("content-type")).toContain(type);
      expect(response.headers.get("content-security-policy")).toContain("default-src 'none'");
      expect(response.headers.get("content-security-policy")).toContain("script-src 'self'");
    }
    // The page holds no key: it is entered in the browser.
    expect(await (await app.request("/")).text()).not.toContain("Bearer k");
    expect((await app.request("/", { method: "HEAD" })).status).toBe(200);
    expect((await app.request("/", { method: "POST" })).status).toBe(401);
    expect((await app.request("/ui/other.js")).status).toBe(401);
    expect((await app.request("/v1/engine/events")).status).toBe(401);
    const controller = new AbortController();
    const response = await app.request("/v1/engine/events", { headers: { authorization: "Bearer k" }, signal: controller.signal });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    expect(response.headers.get("cache-control")).toBe("no-store");
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n\n")) text += (await reader.read()).value ?? "";
    expect(text).toMatch(/^event: snapshot\ndata: \{/);
    const snapshot = JSON.parse(text.slice(text.indexOf("data: ") + 6, text.indexOf("\n\n")));
    expect(snapshot.slots).toHaveLength(2);
    expect(snapshot.pool.cells).toBe(1024);
    await reader.cancel();
    controller.abort();
    await engine.dispose();
  });

  test("at most maxEventClients event streams at once: one more gets 503 with Retry-After, and a closed stream frees its place", async () => {
    const engine = await mockEngine();
    const app = createServer({ engine, modelName: "mock", maxEventClients: 2 });
    const open = async () => {
      const controller = new AbortController();
      const response = await app.request("/v1/engine/events", { signal: controller.signal });
      return { response, controller };
    };
    const firstEvent = async (response: Response) => {
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes("\n\n")) text += (await reader.read()).value ?? "";
      return { text, reader };
    };
    const a = await open();
    const b = await open();
    expect([a.response.status, b.response.status]).toEqual([200, 200]);
    const refused = await open();
    expect(refused.response.status).toBe(503);
    expect(refused.response.headers.get("retry-after")).toBe("5");
    expect(((await refused.response.json()) as { error: unknown }).error).toMatchObject({ code: "too_many_event_clients", type: "server_error" });
    // HEAD starts no stream, so it is not refused
    expect((await app.request("/v1/engine/events", { method: "HEAD" })).status).toBe(200);
    // the first closes: its place is free once its loop sees the abort (within one interval)
    const { reader } = await firstEvent(a.response);
    await reader.cancel();
    a.controller.abort();
    let again = await open();
    for (let i = 0; i < 40 && again.response.status === 503; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      again = await open();
    }
    expect(again.response.status).toBe(200);
    const next = await firstEvent(again.response);
    expect(next.text).toMatch(/^event: snapshot\ndata: \{/);
    await next.reader.cancel();
    again.controller.abort();
    await b.response.body!.cancel();
    b.controller.abort();
    await engine.dispose();
  });

  test("HEAD /v1/engine/events answers the stream's headers and starts no feed (nothing would read it)", async () => {
    const engine = await mockEngine();
    const app = createServer({ engine, modelName: "mock", apiKey: "k" });
    let sampled = 0;
    const stats = engine.stats.bind(engine);
    engine.stats = () => (sampled++, stats());
    expect((await app.request("/v1/engine/events", { method: "HEAD" })).status).toBe(401);
    const response = await app.request("/v1/engine/events", { method: "HEAD", headers: { authorization: "Bearer k" } });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    expect(response.body).toBeNull();
    expect(sampled).toBe(0);
    await engine.dispose();
  });

  test("ui: false serves no page (404) and keeps the API; a non-boolean ui is refused", async () => {
    const engine = await mockEngine();
    const app = createServer({ engine, modelName: "mock", ui: false });
    expect((await app.request("/")).status).toBe(404);
    expect((await app.request("/ui/app.js")).status).toBe(404);
    expect((await app.request("/v1/models")).status).toBe(200);
    expect(() => createServer({ engine, modelName: "mock", ui: "no" as unknown as boolean })).toThrow(/ui must be true or false/);
    await engine.dispose();
  });
});
