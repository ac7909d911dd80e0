import { type BackendModel, Engine } from "@hybrid-llm/core";
import { NodeBackend } from "@hybrid-llm/node";
import { type RunningServer, startServer } from "@hybrid-llm/server";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { collectErrors, launchBrowser, screenshotPath } from "./support/browser.js";
import { fixturePath } from "./support/fixtures.js";

/**
 * The web page of `serve` in a real browser (Debian's chromium through playwright-core) against a real server on
 * the tiny fixture (node backend): the chat streams, the live view follows the engine, and an API key is asked for.
 */
describe("the web page at / (chromium, node backend, tiny fixture)", () => {
  let backend: NodeBackend;
  let model: BackendModel;
  let engine: Engine;
  let open: RunningServer;
  let locked: RunningServer;
  let browser: { context: BrowserContext; close(): Promise<void> };

  beforeAll(async () => {
    backend = await NodeBackend.create({ gpu: false });
    model = await backend.loadModel({ path: await fixturePath("tiny") });
    const context = await model.createContext({ ctx: 4096, slots: 4, threads: 1, batch: 256 });
    engine = new Engine({ model, context });
    // One engine behind two servers: without a key, and with one.
    open = await startServer({ engine, modelName: "twin", port: 0, maxTokensLimit: 2048 });
    locked = await startServer({ engine, modelName: "twin", apiKey: "s3cret-key", port: 0 });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await open?.close();
    await locked?.close();
    await engine?.dispose();
    await backend?.dispose();
  });

  /** Waits (up to 30 s, a guard against hangs) until `read` passes the assertion that follows. */
  const poll = <T>(read: () => Promise<T> | T) => expect.poll(read, { timeout: 30_000, interval: 100 });

  /** Sends a chat message through the page and waits for the streamed answer to finish; returns its text. */
  async function chat(page: Page, text: string, maxTokens: number): Promise<string> {
    await page.fill("#max-tokens", String(maxTokens));
    await page.fill("#temperature", "0");
    const done = page.locator('.message.assistant[data-state="done"]');
    const before = await done.count();
    await page.fill("#prompt", text);
    await page.press("#prompt", "Enter");
    const answer = done.nth(before);
    await answer.waitFor();
    const usage = await answer.locator(".usage").textContent();
    expect(usage).toMatch(/prompt tokens \(\d+ from the cache\), \d+ generated/);
    return (await answer.evaluate((element) => element.firstChild?.textContent ?? "")) as string;
  }

  test("chats with streaming (the text equals the API's answer), and the live view shows busy slots under load", async () => {
    const page = await browser.context.newPage();
    const errors = collectErrors(page);
    await page.goto(`${open.url}/`);
    await poll(() => page.textContent("#model")).toBe("twin");
    // The first snapshot draws one card per slot.
    await page.locator(".slot").nth(3).waitFor();
    expect(await page.locator(".slot").count()).toBe(4);

    // Text arrives in several chunks: the answer is seen partly written before it is done.
    const partial: string[] = [];
    await page.exposeFunction("reportPartial", (text: string) => partial.push(text));
    // (Browser code, given as text: the tests are type-checked without the DOM library.)
    await page.evaluate(`
      const messages = document.getElementById("messages");
      new MutationObserver(() => {
        const answer = messages.querySelector(".message.assistant:last-child");
        if (answer?.dataset.state === "streaming" && answer.textContent) window.reportPartial(answer.textContent);
      }).observe(messages, { subtree: true, childList: true, characterData: true });
    `);
    const answer = await chat(page, "Tell me about Mamba layers.", 24);
    expect(answer.length).toBeGreaterThan(0);
    expect(new Set(partial).size).toBeGreaterThan(1);
    const reference = await fetch(`${open.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "twin", messages: [{ role: "user", content: "Tell me about Mamba layers." }], max_tokens: 24, temperature: 0 }),
    });
    expect(((await reference.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe(answer);

    // A second turn resumes from the cached conversation: the page shows the cached tokens it reported.
    await chat(page, "And attention?", 8);
    const secondUsage = await page.locator(".message.assistant .usage").last().textContent();
    expect(Number(/\((\d+) from the cache\)/.exec(secondUsage!)![1])).toBeGreaterThan(0);
    await poll(async () => Number(((await page.locator("#cache dd").first().textContent()) ?? "0").split("/")[0])).toBeGreaterThanOrEqual(1);

    // Load from a script: three long streamed requests that cannot end early (end-of-generation tokens banned),
    // sharing a long system prompt that a first request left in the cache.
    const system = { role: "system", content: "You are a patient teacher of state space models. ".repeat(12) };
    const banned = Object.fromEntries(model.info.endOfGenerationTokens.map((token) => [String(token), -100]));
    const post = (body: Record<string, unknown>, signal?: AbortSignal) =>
      fetch(`${open.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "twin", ...body }), ...(signal ? { signal } : {}) });
    expect((await post({ messages: [system, { role: "user", content: "Hi." }], max_tokens: 1 })).status).toBe(200);
    const hitsBefore = engine.stats().cache.hits;
    const load = new AbortController();
    const requests = ["Write a long story.", "List every prime.", "Describe the sea."].map((content) =>
      post({ messages: [system, { role: "user", content }], max_tokens: 2000, temperature: 0.8, stream: true, logit_bias: banned }, load.signal).then(async (response) => {
        expect(response.status).toBe(200);
        const reader = response.body!.getReader();
        for (;;) if ((await reader.read()).done) break;
      }),
    );
    const settled = Promise.allSettled(requests);
    try {
      await poll(() => page.locator('.slot[data-phase="decode"]').count()).toBe(3);
      const busy = page.locator('.slot[data-phase="decode"]').first();
      expect(await busy.textContent()).toMatch(/decoding.*req \d+: \d+ tokens/);
      // Long enough for the pool to fill visibly (a guard, not a timing: 40 tokens each).
      await poll(async () => Math.min(...(await page.locator('.slot[data-phase="decode"]').allTextContents()).map((text) => Number(/(\d+) tokens/.exec(text)?.[1] ?? 0)))).toBeGreaterThanOrEqual(40);
      expect(engine.stats().cache.hits).toBeGreaterThan(hitsBefore);
      await poll(async () => Number(/width: ([\d.]+)%/.exec((await page.locator("#pool-bar .requests").getAttribute("style")) ?? "")?.[1] ?? 0)).toBeGreaterThan(0);
      await poll(async () => (await page.locator("#throughput dd").first().textContent()) ?? "").toMatch(/^[1-9][\d.]* tokens\/s$/);
      expect(await page.locator("#events li", { hasText: "→ slot" }).count()).toBeGreaterThanOrEqual(3);
      await page.screenshot({ path: screenshotPath("webui-under-load.png") });
    } finally {
      load.abort();
      await settled;
    }
    // Cancelled requests leave their slots; the view follows.
    await poll(() => page.locator('.slot[data-phase="decode"]').count()).toBe(0);
    expect(await page.locator("#events li", { hasText: "left slot" }).count()).toBeGreaterThanOrEqual(3);
    await page.screenshot({ path: screenshotPath("webui-after-load.png") });
    expect(errors).toEqual([]);
    await page.close();
  });

  test("with --api-key the page asks for the key, refuses a wrong one, then works; the key never enters a URL", async () => {
    const page = await browser.context.newPage();
    const errors = collectErrors(page);
    const urls: string[] = [];
    page.on("request", (request) => urls.push(request.url()));
    await page.goto(`${locked.url}/`);
    const dialog = page.locator("#key-dialog[open]");
    await dialog.waitFor();
    await page.screenshot({ path: screenshotPath("webui-asks-for-key.png") });
    await page.fill("#api-key", "wrong");
    await page.press("#api-key", "Enter");
    await poll(() => page.textContent("#key-message")).toMatch(/refused/);
    await dialog.waitFor();
    await page.fill("#api-key", "s3cret-key");
    await page.press("#api-key", "Enter");
    await poll(() => page.textContent("#model")).toBe("twin");
    await page.locator(".slot").nth(3).waitFor();
    expect(await chat(page, "Hello!", 6)).not.toBe("");
    expect(await page.evaluate(`sessionStorage.getItem("hybrid-llm.api-key")`)).toBe("s3cret-key");
    expect(urls.filter((url) => url.includes("s3cret"))).toEqual([]);
    // The only errors are the browser's own notes of the two 401 answers (before the key, and the wrong key).
    expect(errors.filter((error) => !/status of 401/.test(error))).toEqual([]);
    await page.close();
  });
});
