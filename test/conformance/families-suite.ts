import { type Backend, type BackendModel, Engine, type StreamPart } from "@hybrid-llm/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fixturePath } from "../support/fixtures.js";
import { type GreedyStream, batchedVersusSolo, compareStreams, continueFromCheckpoint, copyVersusRecompute, greedy, maxAbsDifference, tokenizeAll } from "../support/greedy.js";
import { familyProfiles } from "./plan-vs-allocation.js";

async function generate(engine: Engine, prompt: Int32Array, maxTokens: number): Promise<GreedyStream> {
  const tokens: number[] = [];
  const margins: number[] = [];
  let finish: Extract<StreamPart, { type: "finish" }> | undefined;
  for await (const part of engine.generate({ prompt, temperature: 0, maxTokens })) {
    if (part.type === "token") {
      tokens.push(part.token);
      margins.push(part.margin);
    }
    if (part.type === "finish") finish = part;
  }
  expect(finish?.reason).toMatch(/stop|length/);
  return { tokens, margins, firstLogits: new Float32Array() };
}

/**
 * Every family profile on real llama.cpp through a backend: each one's kernels (Mamba2, Mamba1, short conv, gated
 * delta net, plain attention) batch, copy, checkpoint and run through the Engine like the Nemotron-H fixtures do.
 * Small on purpose: two or three sequences, a few tokens, one thread.
 */
export function defineFamiliesSuite(name: string, createBackend: () => Promise<Backend>): void {
  describe.each(familyProfiles)(`${name} backend on $profile`, ({ profile, recurrentLayers }) => {
    let backend: Backend;
    let model: BackendModel;
    beforeAll(async () => {
      backend = await createBackend();
      model = await backend.loadModel({ path: await fixturePath(profile) });
    });
    afterAll(async () => {
      await backend?.dispose();
    });

    test("the model's state matters: the same tail after two prompts gives different logits", async () => {
      // Without this, the equalities below could pass on a model whose layers barely touch the output.
      const context = await model.createContext({ ctx: 512, slots: 2, threads: 1, batch: 128 });
      const [a, b] = tokenizeAll(model);
      const tail = model.tokenize(" and then", { addSpecial: false });
      await greedy(context, model.info.vocabSize, [a!, b!], 1, [0, 1]);
      const [afterA, afterB] = await greedy(context, model.info.vocabSize, [tail, tail], 1, [0, 1]);
      expect(maxAbsDifference(afterA!.firstLogits, afterB!.firstLogits)).toBeGreaterThan(0.1);
      await context.dispose();
    });

    test("3 sequences decoded in one batch give each one's solo greedy tokens", async () => {
      const inputs = tokenizeAll(model).slice(0, 3);
      const steps = 8;
      const result = await batchedVersusSolo(model, inputs, { steps, soloCtx: 256, batchedCtx: 768, batch: 128 });
      result.mismatches.forEach((at, i) => expect(at, `sequence ${i}`).toBeUndefined());
      for (const difference of result.logitDifferences) expect(difference).toBeLessThan(1e-3);
      // The comparison must have compared something: most steps of most sequences have a clear margin.
      expect(result.compared).toBeGreaterThanOrEqual(3 * steps * 0.5);
    });

    test("seqCopy then continue == recompute", async () => {
      const [prompt] = tokenizeAll(model);
      const result = await copyVersusRecompute(model, prompt!, { ctx: 512, slots: 3 });
      expect(result.copiedPosMax).toBe(result.sourcePosMax);
      expect(result.mismatchAt).toBeUndefined();
      expect(result.logitDifference).toBeLessThan(1e-3);
    });

    // A plain transformer has no recurrent state to checkpoint (no test rather than a skipped one).
    if (recurrentLayers > 0) test("a recurrent-only checkpoint restored into another sequence continues identically", async () => {
      const context = await model.createContext({ ctx: 512, slots: 2, threads: 1, batch: 128 });
      const [prompt] = tokenizeAll(model);
      const p = prompt!.length;
      await context.decode({
        tokens: prompt!,
        positions: Int32Array.from(prompt!, (_, i) => i),
        sequenceIds: new Int32Array(p),
        outputs: new Uint8Array(p),
      });
      const checkpoint = context.getState(0, { partial: true });
      expect(checkpoint.length).toBeGreaterThan(0);
      // seq 1: the attention cells of [0, p) shared from seq 0, the recurrent state from the checkpoint.
      const { original, restored, bytesRead, restoredPosMax } = await continueFromCheckpoint(context, model, checkpoint, p);
      expect(bytesRead).toBe(checkpoint.length);
      expect(restoredPosMax).toBe(p - 1);
      expect(restored.tokens).toEqual(original.tokens);
      expect(maxAbsDifference(original.firstLogits, restored.firstLogits)).toBeLessThan(1e-4);
      await context.dispose();
    });

    test("seqRemove of a sequence's tail: refused where there is recurrent state, done where there is none", async () => {
      const context = await model.createContext({ ctx: 512, slots: 2, threads: 1, batch: 128 });
      const [prompt] = tokenizeAll(model);
      await greedy(context, model.info.vocabSize, [prompt!], 1, [0]);
      const end = context.posMax(0);
      expect(context.seqRemove(0, 4, -1)).toBe(recurrentLayers === 0);
      expect(context.posMax(0)).toBe(recurrentLayers === 0 ? 3 : end);
      expect(context.seqRemove(0)).toBe(true);
      expect(context.posMax(0)).toBe(-1);
      await context.dispose();
    });

    test("the Engine: 2 concurrent greedy requests produce the tokens each produces alone", async () => {
      const inputs = tokenizeAll(model).slice(3, 5);
      const soloContext = await model.createContext({ ctx: 256, slots: 1, threads: 1, batch: 128 });
      const soloEngine = new Engine({ model, context: soloContext });
      const solo: GreedyStream[] = [];
      for (const prompt of inputs) solo.push(await generate(soloEngine, prompt, 6));
      await soloContext.dispose();
      const context = await model.createContext({ ctx: 512, slots: 2, threads: 1, batch: 128 });
      const engine = new Engine({ model, context });
      const together = await Promise.all(inputs.map((prompt) => generate(engine, prompt, 6)));
      together.forEach((stream, i) => {
        expect(stream.tokens.length).toBe(6);
        expect(compareStreams(solo[i]!, stream).mismatchAt, `request ${i}`).toBeUndefined();
      });
      await engine.idle();
      await context.dispose();
    });
  });
}
