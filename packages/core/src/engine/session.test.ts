import { describe, expect, test } from "vitest";
import { InvalidSessionError } from "../errors/invalid-session-error.js";
import { InvalidArgumentError } from "../errors/invalid-argument-error.js";
import { decodeSession, encodeSession } from "../cache/session-file.js";
import { MockBackend } from "../testing/mock-backend.js";
import { Engine } from "./engine.js";

async function engineOn(options: { contextLength?: number; ctx?: number; kvType?: "f16" | "q8_0" } = {}) {
  const model = await new MockBackend({ ...(options.contextLength ? { contextLength: options.contextLength } : {}) }).loadModel();
  const context = await model.createContext({ ctx: options.ctx ?? 2048, slots: 2, ...(options.kvType ? { kvType: options.kvType } : {}) });
  return { model, engine: new Engine({ model, context }) };
}

const concat = (...parts: ArrayLike<number>[]) => Int32Array.from(parts.flatMap((p) => Array.from(p)));
const ask = (prompt: Int32Array) => ({ prompt, temperature: 0, maxTokens: 12, ignoreEndOfGeneration: true, stopTokens: [] });

describe("saved sessions (MockBackend)", () => {
  test("save, restore in a fresh engine, continue: the next turn resumes from the session and equals the original's", async () => {
    const a = await engineOn();
    const turn1 = a.model.tokenize("user: tell me a story\nassistant: ");
    const answer = (await a.engine.complete(ask(turn1))).tokens;
    const conversation = concat(turn1, answer);
    const bytes = await a.engine.saveSession(conversation, { metadata: { note: "kept" } });
    const turn2 = concat(conversation, a.model.tokenize("\nuser: and then?\nassistant: ", { addSpecial: false }));
    const original = await a.engine.complete(ask(turn2));

    const b = await engineOn();
    const restored = await b.engine.restoreSession(bytes);
    expect(Array.from(restored.tokens)).toEqual(Array.from(conversation.subarray(0, conversation.length - 1))); // the last answer token is not evaluated yet
    expect(restored.metadata).toEqual({ note: "kept" });
    expect(b.engine.stats().slotsCached).toBe(1);
    const resumed = await b.engine.complete(ask(turn2));
    expect(resumed.usage.cachedPromptTokens).toBe(conversation.length - 1);
    expect(resumed.tokens).toEqual(original.tokens);
    expect(b.engine.stats().promptTokensEvaluated).toBe(turn2.length - (conversation.length - 1));
  });

  test("a flipped byte, a truncated file, another model, another cache geometry, too many tokens: typed errors, nothing loaded", async () => {
    const a = await engineOn();
    const prompt = a.model.tokenize("user: hello there\nassistant: ");
    const answer = (await a.engine.complete(ask(prompt))).tokens;
    const bytes = await a.engine.saveSession(concat(prompt, answer));

    const expectRefused = async (target: Engine, data: Uint8Array, reason: string) => {
      const before = target.stats();
      const error = await target.restoreSession(data).catch((e: unknown) => e);
      expect(InvalidSessionError.isInstance(error), `${reason}: ${JSON.stringify(error)}`).toBe(true);
      expect((error as InvalidSessionError).reason).toBe(reason);
      const after = target.stats();
      expect([after.slotsCached, after.poolCellsReserved, after.cache.checkpoints]).toEqual([before.slotsCached, before.poolCellsReserved, before.cache.checkpoints]);
    };
    const fresh = (await engineOn()).engine;
    for (const at of [0, 9, 20, bytes.length >> 1, bytes.length - 1]) {
      const flipped = bytes.slice();
      flipped[at]! ^= 0x40;
      await expectRefused(fresh, flipped, at < 8 ? "corrupt" : at < 12 ? "version" : "corrupt");
    }
    await expectRefused(fresh, bytes.subarray(0, bytes.length - 7), "corrupt");
    await expectRefused(fresh, bytes.subarray(0, 5), "corrupt");
    await expectRefused((await engineOn({ contextLength: 8192 })).engine, bytes, "model");
    await expectRefused((await engineOn({ kvType: "q8_0" })).engine, bytes, "geometry");
    const long = await engineOn();
    const longPrompt = long.model.tokenize("x".repeat(300));
    const longAnswer = (await long.engine.complete(ask(longPrompt))).tokens;
    await expectRefused((await engineOn({ ctx: 256 })).engine, await long.engine.saveSession(concat(longPrompt, longAnswer)), "too-long");
    // The intact bytes still restore.
    expect((await fresh.restoreSession(bytes)).tokens.length).toBeGreaterThan(0);
  });

  test("saving a conversation that is not cached is refused with InvalidArgumentError", async () => {
    const { engine, model } = await engineOn();
    await expect(engine.saveSession(model.tokenize("never ran"))).rejects.toThrow(InvalidArgumentError);
    await expect(engine.saveSession([1, -5] as never)).rejects.toThrow(InvalidArgumentError);
  });
});

describe("saved sessions: crafted files and misuse (found by review probes)", () => {
  test("a file whose token list does not match its state (valid checksum) is refused, nothing loaded", async () => {
    const a = await engineOn();
    const prompt = a.model.tokenize("user: hello there\nassistant: ");
    const answer = (await a.engine.complete(ask(prompt))).tokens;
    const saved = decodeSession(await a.engine.saveSession(concat(prompt, answer)), { modelIdentity: a.model.info.identity, geometry: a.engine["geometry"](), maxTokens: 4096, vocabSize: a.model.info.vocabSize });
    const crafted = encodeSession({ ...saved, tokens: saved.tokens.subarray(0, saved.tokens.length - 1) });
    const b = await engineOn();
    const error = await b.engine.restoreSession(crafted).catch((e: unknown) => e);
    expect(InvalidSessionError.isInstance(error) && error.reason).toBe("corrupt");
    expect([b.engine.stats().slotsCached, b.engine.stats().poolCellsReserved]).toEqual([0, 0]);
  });

  test("restoring into an engine without a prefix cache is refused (the session could never be resumed from)", async () => {
    const a = await engineOn();
    const prompt = a.model.tokenize("user: hi\nassistant: ");
    const bytes = await a.engine.saveSession(concat(prompt, (await a.engine.complete(ask(prompt))).tokens));
    const model = await new MockBackend().loadModel();
    const off = new Engine({ model, context: await model.createContext({ ctx: 2048, slots: 2 }), prefixCache: false });
    await expect(off.restoreSession(bytes)).rejects.toThrow(/prefix cache is off/);
  });
});
