import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type BackendModel, Engine, InvalidSessionError } from "@hybrid-llm/core";
import { NodeBackend } from "@hybrid-llm/node";
import { type RunningServer, startServer } from "@hybrid-llm/server";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fixturePath } from "./support/fixtures.js";

const concat = (...parts: ArrayLike<number>[]) => Int32Array.from(parts.flatMap((p) => Array.from(p)));
const ask = (prompt: Int32Array, maxTokens = 16) => ({ prompt, temperature: 0, maxTokens, ignoreEndOfGeneration: true, stopTokens: [] });
const turn = (model: BackendModel, text: string) => model.tokenize(`<|im_end|>\n<|im_start|>user\n${text}<|im_end|>\n<|im_start|>assistant\n`, { addSpecial: false, parseSpecial: true });

describe("saved sessions on real llama.cpp (native, nemotron-3-nano-twin)", () => {
  let backend: NodeBackend;
  let model: BackendModel;
  let twinPath: string;
  const dir = mkdtempSync(join(tmpdir(), "hybrid-llm-sessions-"));
  beforeAll(async () => {
    backend = await NodeBackend.create({ gpu: false });
    twinPath = await fixturePath("nemotron-3-nano-twin");
    model = await backend.loadModel({ path: twinPath });
  });
  afterAll(async () => {
    await backend?.dispose();
  });
  const engine = async (options: { kvType?: "f16" | "q8_0"; ctx?: number } = {}) =>
    new Engine({ model, context: await model.createContext({ ctx: options.ctx ?? 2048, slots: 2, threads: 1, ...(options.kvType ? { kvType: options.kvType, flashAttention: true } : {}) }) });

  test("save, restore in a new process, continue: the next turn resumes from the file and gives the in-memory turn's tokens", async () => {
    const a = await engine();
    const turn1 = model.tokenize("<|im_start|>user\nTell me about the sea.<|im_end|>\n<|im_start|>assistant\n", { parseSpecial: true });
    const answer = (await a.complete(ask(turn1, 24))).tokens;
    const conversation = concat(turn1, answer);
    const file = join(dir, "sea.session");
    writeFileSync(file, await a.saveSession(conversation));
    const turn2 = concat(conversation, turn(model, "And the mountains?"));
    const warm = await a.complete(ask(turn2, 24));
    expect(warm.usage.cachedPromptTokens).toBe(conversation.length - 1);

    const child = join(import.meta.dirname, "support", "session-child.mjs");
    const { stdout } = await promisify(execFile)(process.execPath, [child, twinPath, file, Array.from(turn2).join(","), "24"], { timeout: 300_000 });
    const restored = JSON.parse(stdout.trim()) as { restoredTokens: number; tokens: number[]; cachedPromptTokens: number; evaluated: number };
    expect(restored.restoredTokens).toBe(conversation.length - 1);
    expect(restored.cachedPromptTokens).toBe(conversation.length - 1);
    expect(restored.evaluated).toBe(turn2.length - (conversation.length - 1)); // only the new turn (and the answer's last token)
    expect(restored.tokens).toEqual(warm.tokens);
    await a.dispose();
  });

  test("a flipped byte, a truncated file, another model, another cache geometry: InvalidSessionError, nothing loaded, the engine serves on", async () => {
    const a = await engine();
    const prompt = model.tokenize("Once upon a time");
    const answer = (await a.complete(ask(prompt))).tokens;
    const bytes = await a.saveSession(concat(prompt, answer));
    const check = async (target: Engine, data: Uint8Array, reason: string) => {
      const before = target.stats();
      const error = await target.restoreSession(data).catch((e: unknown) => e);
      expect(InvalidSessionError.isInstance(error) && error.reason, String(error)).toBe(reason);
      const after = target.stats();
      expect([after.slotsCached, after.poolCellsReserved, after.cache.checkpoints]).toEqual([before.slotsCached, before.poolCellsReserved, before.cache.checkpoints]);
    };
    const b = await engine();
    const flipped = bytes.slice();
    flipped[bytes.length >> 1]! ^= 1;
    await check(b, flipped, "corrupt");
    await check(b, bytes.subarray(0, bytes.length - 100), "corrupt");
    const tiny = await backend.loadModel({ path: await fixturePath("tiny") });
    await check(new Engine({ model: tiny, context: await tiny.createContext({ ctx: 512, slots: 1, threads: 1 }) }), bytes, "model");
    await check(await engine({ kvType: "q8_0" }), bytes, "geometry");
    // Still serving, and the intact file restores.
    expect((await b.restoreSession(bytes)).tokens.length).toBe(prompt.length + answer.length - 1);
    expect((await b.complete(ask(concat(prompt, answer, model.tokenize(" and then", { addSpecial: false }))))).usage.cachedPromptTokens).toBe(prompt.length + answer.length - 1);
  });

  test("through the server: save a chat to --session-dir, restore it in another server, continue with the cache; names cannot leave the directory", async () => {
    const sessionDir = join(dir, "server");
    const servers: RunningServer[] = [];
    const serve = async () => {
      const server = await startServer({ engine: await engine(), modelName: "twin", port: 0, sessionDir });
      servers.push(server);
      return server;
    };
    try {
      const post = (server: RunningServer, path: string, body: unknown) => fetch(server.url + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      const chat = async (server: RunningServer, messages: unknown[]) => {
        const response = await post(server, "/v1/chat/completions", { model: "twin", messages, max_tokens: 16, temperature: 0 });
        expect(response.status).toBe(200);
        return (await response.json()) as { choices: { message: { content: string } }[]; usage: { prompt_tokens: number; prompt_tokens_details: { cached_tokens: number } } };
      };
      const first = await serve();
      const messages: { role: string; content: string }[] = [{ role: "user", content: "Name a colour." }];
      messages.push({ role: "assistant", content: (await chat(first, messages)).choices[0]!.message.content });
      const saved = await post(first, "/v1/sessions/colour-chat/save", { model: "twin", messages });
      expect(saved.status).toBe(200);
      const next = [...messages, { role: "user", content: "Another one?" }];
      const warm = await chat(first, next);

      const second = await serve();
      const restored = await post(second, "/v1/sessions/colour-chat/restore", { model: "twin" });
      expect(restored.status).toBe(200);
      const resumed = await chat(second, next);
      expect(resumed.usage.prompt_tokens_details.cached_tokens).toBe(warm.usage.prompt_tokens_details.cached_tokens);
      expect(resumed.usage.prompt_tokens_details.cached_tokens).toBeGreaterThan(0);
      expect(resumed.choices[0]!.message.content).toBe(warm.choices[0]!.message.content);
      expect(((await (await fetch(`${second.url}/v1/sessions`)).json()) as { data: { id: string }[] }).data.map((s) => s.id)).toEqual(["colour-chat"]);

      for (const name of ["..", "..%2F..%2Fetc%2Fpasswd", ".hidden", "a%2Fb", "x".repeat(65)]) {
        expect((await post(second, `/v1/sessions/${name}/restore`, { model: "twin" })).status, name).toBeGreaterThanOrEqual(400);
      }
      expect((await post(second, "/v1/sessions/missing/restore", { model: "twin" })).status).toBe(404);
      expect((await post(second, "/v1/sessions/never-ran/save", { model: "twin", messages: [{ role: "user", content: "not run" }] })).status).toBe(404);
    } finally {
      for (const server of servers) await server.close();
    }
  });
});
