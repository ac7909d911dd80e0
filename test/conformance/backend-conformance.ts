import {
  type Backend,
  type BackendModel,
  DisposedError,
  InvalidArgumentError,
  InvalidGgufError,
  UnsupportedArchitectureError,
  buildFixture,
  parseGguf,
  writeGguf,
} from "@hybrid-llm/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fixturePath } from "../support/fixtures.js";
import { batchedVersusSolo, continueFromCheckpoint, copyVersusRecompute, greedy, maxAbsDifference, tokenizeAll } from "../support/greedy.js";

/**
 * The conformance suite every backend passes, on real llama.cpp. `createBackend` is called once per file.
 * Contexts use one thread: on shared 2-vCPU machines llama.cpp's spinning thread pool is ~400× slower with two.
 */
export function defineBackendConformance(name: string, createBackend: () => Promise<Backend>): void {
  describe.each(["tiny", "nemotron-3-nano-twin"])(`${name} backend on %s`, (profile) => {
    let backend: Backend;
    let model: BackendModel;

    beforeAll(async () => {
      backend = await createBackend();
      model = await backend.loadModel({ path: await fixturePath(profile) });
    });
    afterAll(async () => {
      await backend?.dispose();
    });

    test("reports the model's facts and cache spec", () => {
      expect(model.info.architecture).toBe(profile === "tiny" ? "nemotron_h" : "nemotron_h_moe");
      expect(model.info.isHybrid).toBe(true);
      expect(model.info.vocabSize).toBe(320);
      expect(model.info.cacheSpec.attention.layers.length).toBe(profile === "tiny" ? 2 : 6);
      expect(model.info.chatTemplate).toContain("<|im_start|>");
      expect(model.info.endOfGenerationTokens).toContain(model.info.eosToken);
    });

    test("tokenize / detokenize round-trip", () => {
      const text = "Hello world, the tokenizer works — ünïcödé too!";
      const tokens = model.tokenize(text);
      expect(tokens[0]).toBe(model.info.bosToken);
      expect(model.detokenize(tokens, { removeSpecial: true })).toBe(text);
      expect(model.tokenize(text, { addSpecial: false })[0]).not.toBe(model.info.bosToken);
      const special = model.tokenize("<|im_start|>user", { addSpecial: false, parseSpecial: true });
      expect(special[0]).toBe(3);
      expect(new TextDecoder().decode(model.tokenBytes(special[0]!, { special: true }))).toBe("<|im_start|>");
    });

    test("argmax and margins are each row's first maximum and its gap to the runner-up, as the returned logits say", async () => {
      const context = await model.createContext({ ctx: 512, slots: 4, threads: 1 });
      try {
        const streams = await greedy(context, model.info.vocabSize, tokenizeAll(model).slice(0, 4), 1);
        for (const { firstLogits: row, tokens, margins } of streams) {
          let best = 0;
          for (let t = 1; t < row.length; t++) if (row[t]! > row[best]!) best = t;
          let second = -Infinity;
          for (let t = 0; t < row.length; t++) if (t !== best && row[t]! > second) second = row[t]!;
          expect(tokens[0]).toBe(best);
          expect(margins[0]).toBe(Math.fround(row[best]! - second));
        }
      } finally {
        await context.dispose();
      }
    });

    test("8 sequences decoded in one batch give each one's solo greedy tokens", async () => {
      const inputs = tokenizeAll(model);
      const steps = 12;
      const result = await batchedVersusSolo(model, inputs, { steps, soloCtx: 512, batchedCtx: 4096, batch: 256 });
      result.mismatches.forEach((at, i) => expect(at, `sequence ${i}`).toBeUndefined());
      for (const difference of result.logitDifferences) expect(difference).toBeLessThan(1e-3);
      // The comparison must have compared something: most steps of most sequences have a clear margin.
      expect(result.compared).toBeGreaterThanOrEqual(8 * steps * 0.5);
    });

    test("seqCopy then continue == recompute", async () => {
      const [prompt] = tokenizeAll(model);
      const result = await copyVersusRecompute(model, prompt!, { ctx: 1024, slots: 4 });
      expect(result.copiedPosMax).toBe(result.sourcePosMax);
      expect(result.mismatchAt).toBeUndefined();
      expect(result.logitDifference).toBeLessThan(1e-3);
    });

    test("a partial (recurrent-only) checkpoint restored into another sequence continues identically", async () => {
      const context = await model.createContext({ ctx: 1024, slots: 4, threads: 1, batch: 128 });
      const [prompt] = tokenizeAll(model);
      const p = prompt!.length;
      // seq 0: prompt, checkpoint of the recurrent state at position p, then 6 more tokens.
      await context.decode({
        tokens: prompt!,
        positions: Int32Array.from(prompt!, (_, i) => i),
        sequenceIds: new Int32Array(p),
        outputs: new Uint8Array(p),
      });
      const checkpoint = context.getState(0, { partial: true });
      const full = context.getState(0);
      expect(checkpoint.length).toBeGreaterThan(0);
      expect(checkpoint.length).toBeLessThan(full.length);
      // seq 1: the attention cells of [0, p) shared from seq 0, the recurrent state from the checkpoint.
      const { original, restored, bytesRead, restoredPosMax } = await continueFromCheckpoint(context, model, checkpoint, p);
      expect(bytesRead).toBe(checkpoint.length);
      expect(restoredPosMax).toBe(p - 1);
      expect(restored.tokens).toEqual(original.tokens);
      expect(maxAbsDifference(original.firstLogits, restored.firstLogits)).toBeLessThan(1e-4);
      await context.dispose();
    });

    test("seqRemove inside a recurrent sequence reports false and corrupts nothing", async () => {
      const context = await model.createContext({ ctx: 1024, slots: 2, threads: 1, batch: 128 });
      const [prompt] = tokenizeAll(model);
      await greedy(context, model.info.vocabSize, [prompt!], 1, [0]);
      await greedy(context, model.info.vocabSize, [prompt!], 1, [1]);
      const end = context.posMax(0);
      expect(context.seqRemove(0, 4, -1)).toBe(false);
      expect(context.posMax(0)).toBe(end);
      // Both sequences continue identically: the refused cut changed nothing.
      const next = model.tokenize(" again", { addSpecial: false });
      const [a, b] = await greedy(context, model.info.vocabSize, [next, next], 3, [0, 1]);
      expect(a!.tokens).toEqual(b!.tokens);
      expect(maxAbsDifference(a!.firstLogits, b!.firstLogits)).toBe(0);
      // Removing the whole sequence is allowed.
      expect(context.seqRemove(0)).toBe(true);
      expect(context.posMax(0)).toBe(-1);
      await context.dispose();
    });

    test("bad batches are refused with InvalidArgumentError and the context stays usable", async () => {
      const context = await model.createContext({ ctx: 512, slots: 2, threads: 1, batch: 16 });
      const batch = (n: number, patch: Partial<Record<"positions" | "sequenceIds" | "tokens", number[]>> = {}) => ({
        tokens: Int32Array.from(patch.tokens ?? Array.from({ length: n }, () => 100)),
        positions: Int32Array.from(patch.positions ?? Array.from({ length: n }, (_, i) => i)),
        sequenceIds: Int32Array.from(patch.sequenceIds ?? Array.from({ length: n }, () => 0)),
        outputs: new Uint8Array(n),
      });
      const refusals: [string, ReturnType<typeof batch>, RegExp][] = [
        ["longer than batch", batch(17), /exceeds the context's batch size of 16/],
        ["sequence id ≥ slots", batch(2, { sequenceIds: [0, 2] }), /sequence id 2 at row 1 is outside the slots \[0, 2\)/],
        ["positions out of order", batch(3, { positions: [0, 2, 1] }), /positions must be consecutive/],
        ["token outside the vocabulary", batch(2, { tokens: [5, 320] }), /token 320 at row 1 is outside the vocabulary/],
        ["negative position", batch(1, { positions: [-3] }), /negative/],
        ["empty", batch(0), /empty/],
      ];
      for (const [what, bad, message] of refusals) {
        const error = await context.decode(bad).then(() => undefined, (e: unknown) => e);
        expect(InvalidArgumentError.isInstance(error), what).toBe(true);
        expect((error as Error).message, what).toMatch(message);
      }
      await context.decode(batch(4));
      // Positions that skip ahead of the cache: refused by llama.cpp itself, still typed, nothing changed.
      const skip = await context.decode(batch(2, { positions: [10, 11] })).then(() => undefined, (e: unknown) => e);
      expect(InvalidArgumentError.isInstance(skip)).toBe(true);
      expect((skip as Error).message).toMatch(/Y = X \+ 1/);
      expect(context.posMax(0)).toBe(3);
      await context.decode(batch(2, { positions: [4, 5] }));
      expect(context.posMax(0)).toBe(5);
      expect(() => context.posMax(7)).toThrow(InvalidArgumentError);
      await context.dispose();
    });

    test("disposed objects throw DisposedError; disposing a model disposes its contexts", async () => {
      const own = await backend.loadModel({ bytes: buildFixture(profile) });
      const context = await own.createContext({ ctx: 256, slots: 1, threads: 1 });
      await context.dispose();
      await context.dispose(); // idempotent
      expect(() => context.posMax(0)).toThrow(DisposedError);
      const error = await context.decode({ tokens: Int32Array.of(1), positions: Int32Array.of(0), sequenceIds: Int32Array.of(0), outputs: Uint8Array.of(1) }).catch((e: unknown) => e);
      expect(DisposedError.isInstance(error)).toBe(true);
      const second = await own.createContext({ ctx: 256, slots: 1, threads: 1 });
      await own.dispose();
      expect(() => second.posMax(0)).toThrow(DisposedError);
      expect(() => own.tokenize("x")).toThrow(DisposedError);
      await expect(own.createContext({ ctx: 256 })).rejects.toThrow(DisposedError);
    });
  });

  describe(`${name} backend refuses bad models before llama.cpp sees them`, () => {
    let backend: Backend;
    beforeAll(async () => {
      backend = await createBackend();
    });
    afterAll(async () => {
      await backend?.dispose();
    });

    test("corrupt or truncated GGUF bytes → InvalidGgufError", async () => {
      const bytes = buildFixture("tiny");
      await expect(backend.loadModel({ bytes: bytes.subarray(0, 100_000) })).rejects.toSatisfy((e) => InvalidGgufError.isInstance(e));
      const flipped = bytes.slice();
      flipped[0] = 0;
      await expect(backend.loadModel({ bytes: flipped })).rejects.toThrow(/not a GGUF file/);
    });

    test("an unsupported architecture → UnsupportedArchitectureError naming it", async () => {
      const file = parseGguf(buildFixture("tiny"));
      const metadata = new Map(file.metadata);
      metadata.set("general.architecture", { type: "string", value: "gpt2" });
      const error = await backend.loadModel({ bytes: writeGguf(metadata, []) }).catch((e: unknown) => e);
      expect(UnsupportedArchitectureError.isInstance(error)).toBe(true);
      expect((error as UnsupportedArchitectureError).architecture).toBe("gpt2");
    });

    test("the process is alive and the backend still loads good models afterwards", async () => {
      const model = await backend.loadModel({ bytes: buildFixture("tiny") });
      expect(model.tokenize("ok").length).toBeGreaterThan(0);
      await model.dispose();
    });
  });
}
