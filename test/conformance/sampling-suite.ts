import { type Backend, type BackendContext, type BackendModel, Engine, type GenerateRequest, InvalidArgumentError, type SamplerConfig, type StreamPart } from "@hybrid-llm/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fixturePath } from "../support/fixtures.js";

interface Run {
  tokens: number[];
  parts: Extract<StreamPart, { type: "token" }>[];
  finish: Extract<StreamPart, { type: "finish" }>;
  error?: Error;
}

async function run(engine: Engine, request: GenerateRequest): Promise<Run> {
  const parts: Extract<StreamPart, { type: "token" }>[] = [];
  let error: Error | undefined;
  for await (const part of engine.generate(request)) {
    if (part.type === "token") parts.push(part);
    if (part.type === "error") error = part.error;
    if (part.type === "finish") return { tokens: parts.map((p) => p.token), parts, finish: part, ...(error ? { error } : {}) };
  }
  throw new Error("no finish");
}

function logSoftmax(logits: Float32Array): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(logits, (v) => v - lse);
}

/** Each row's first maximum and its gap to the runner-up (the best again when it occurs twice), from the logits. */
function expectTop2(logits: Float32Array, vocab: number, argmax: Int32Array, margins: Float32Array): void {
  for (let r = 0; r < argmax.length; r++) {
    const row = logits.subarray(r * vocab, (r + 1) * vocab);
    let best = 0;
    for (let t = 1; t < vocab; t++) if (row[t]! > row[best]!) best = t;
    let second = -Infinity;
    for (let t = 0; t < vocab; t++) if (t !== best && row[t]! > second) second = row[t]!;
    expect(argmax[r], `row ${r}`).toBe(best);
    expect(margins[r], `row ${r}`).toBe(Math.fround(row[best]! - second));
  }
}

/** Repeated tokens in a sequence: length minus distinct. */
const repeats = (tokens: readonly number[]) => tokens.length - new Set(tokens).size;

/**
 * fast_pick (the native pick for plain chains) against llama.cpp's own chain: the same tokens, seed for seed, for
 * six chains; and each row's argmax and margin, which a sampled row gets from fast_pick's sweep (x86) and a chain row
 * from row_top2, are what the returned logits say. Also run with each narrower sweep forced
 * (test/support/fast-pick-sweep.ts).
 */
export async function expectFastPickMatchesChain(model: BackendModel, prompt: Int32Array): Promise<void> {
  // A logit bias of 0 changes no logit but puts the sampler on llama.cpp's chain (the filter path); without it,
  // fast_pick draws. Same logits (the same batch on a cleared context), same seed: the same tokens.
  const own = await model.createContext({ ctx: 256, slots: 1, threads: 1, batch: 64 });
  try {
    const tokens = prompt.slice(0, 12);
    const rows = tokens.length;
    const batch = { tokens, positions: Int32Array.from(tokens, (_, i) => i), sequenceIds: new Int32Array(rows), outputs: new Uint8Array(rows).fill(1) };
    const base: SamplerConfig = { temperature: 1, topK: 0, topP: 1, minP: 0, typicalP: 1, repetitionPenalty: 1, presencePenalty: 0, frequencyPenalty: 0, penaltyLastN: 0, seed: 0, logitBias: new Map() };
    const draw = async (config: Partial<SamplerConfig>, logitBias: ReadonlyMap<number, number>, checkTop2 = false) => {
      const handle = own.createSampler({ ...base, ...config, logitBias });
      own.clear(true);
      const r = await own.decode(batch, { samplers: new Int32Array(rows).fill(handle), returnLogits: checkTop2 });
      own.freeSampler(handle);
      if (checkTop2) expectTop2(r.logits!, model.info.vocabSize, r.argmax, r.margins);
      return { sampled: Array.from(r.tokens!), argmax: Array.from(r.argmax) };
    };
    // The first chain's rows are checked against their logits both ways (the fast pick's sweep, then row_top2).
    await draw({ temperature: 0.8, topP: 0.95, seed: 1 }, new Map(), true);
    await draw({ temperature: 0.8, topP: 0.95, seed: 1 }, new Map([[0, 0]]), true);
    let notGreedy = 0;
    for (const config of [
      { temperature: 0.8, topP: 0.95 },
      { temperature: 1 },
      { temperature: 0.7, topK: 40, topP: 0.9, minP: 0.05 },
      { temperature: 0.9, minP: 0.1 },
      { temperature: 1.5, topP: 0.8 },
      { temperature: 1, topK: 3 },
    ]) {
      for (const seed of [1, 2]) {
        const fast = await draw({ ...config, seed }, new Map());
        const chain = await draw({ ...config, seed }, new Map([[0, 0]]));
        expect(fast.sampled, JSON.stringify({ config, seed })).toEqual(chain.sampled);
        notGreedy += fast.sampled.filter((t, i) => t !== fast.argmax[i]).length;
      }
    }
    expect(notGreedy).toBeGreaterThan(12);  // the draws were not all the argmax
  } finally {
    await own.dispose();
  }
}

/**
 * Sampling inside llama.cpp through a backend (the engine's sampler chains): seeds, truncation, penalties, logit
 * bias, grammar, log-probabilities, and that every sampler handle is freed however its request ends.
 */
/**
 * `createThreadedBackend`: a backend whose contexts may use 2 threads, for the rows-on-several-threads check (the
 * native backend takes any count; the Wasm backend needs its multi-threaded module). Default: `createBackend`.
 */
export function defineSamplingSuite(name: string, createBackend: () => Promise<Backend>, createThreadedBackend = createBackend): void {
  describe(`sampling in llama.cpp on the ${name} backend (nemotron-3-nano-twin)`, () => {
    let backend: Backend;
    let model: BackendModel;
    let context: BackendContext;
    let engine: Engine;
    let prompt: Int32Array;
    const long = { maxTokens: 24, ignoreEndOfGeneration: true, stopTokens: [] } as const;

    beforeAll(async () => {
      backend = await createBackend();
      model = await backend.loadModel({ path: await fixturePath("nemotron-3-nano-twin") });
      context = await model.createContext({ ctx: 4096, slots: 8, threads: 1, batch: 256 });
      engine = new Engine({ model, context, prefixCache: false, maxQueue: 200 });
      prompt = model.tokenize("Once upon a time, in a land far away");
    });
    afterAll(async () => {
      await engine?.dispose();
      await backend?.dispose();
    });

    test("a fixed seed reproduces; different seeds and unseeded requests differ; top-k 1 is greedy", async () => {
      const seeded = (seed: number) => run(engine, { prompt, ...long, temperature: 1.5, seed });
      const [a, b, c, d] = await Promise.all([seeded(7), seeded(7), seeded(8), seeded(9)]);
      expect(a.tokens).toHaveLength(24);
      expect(b.tokens).toEqual(a.tokens);
      expect(new Set([a, c, d].map((r) => r.tokens.join(","))).size).toBe(3);
      const unseeded = await Promise.all([1, 2, 3].map(() => run(engine, { prompt, ...long, temperature: 1.5 })));
      expect(new Set(unseeded.map((r) => r.tokens.join(","))).size).toBe(3);
      const greedy = await run(engine, { prompt, ...long, temperature: 0 });
      const topK1 = await run(engine, { prompt, ...long, temperature: 1.5, topK: 1, seed: 3 });
      expect(topK1.tokens).toEqual(greedy.tokens);
      // top-p ≈ 0 keeps only the most likely token too.
      expect((await run(engine, { prompt, ...long, temperature: 1, topP: 0, seed: 5 })).tokens).toEqual(greedy.tokens);
      // A temperature above 0 that is 0 as a float (llama.cpp's) is greedy too, as llama.cpp's temperature sampler makes it.
      expect((await run(engine, { prompt, ...long, temperature: 1e-46, seed: 5 })).tokens).toEqual(greedy.tokens);
    });

    test("penalties and logit bias change what they should", async () => {
      const greedy = await run(engine, { prompt, ...long, maxTokens: 32, temperature: 0 });
      expect(repeats(greedy.tokens)).toBeGreaterThan(0); // a random-weight model loops: there is something to penalize
      const frequency = await run(engine, { prompt, ...long, maxTokens: 32, temperature: 0, frequencyPenalty: 2 });
      expect(repeats(frequency.tokens)).toBeLessThan(repeats(greedy.tokens));
      const presence = await run(engine, { prompt, ...long, maxTokens: 32, temperature: 0, presencePenalty: 2 });
      expect(repeats(presence.tokens)).toBeLessThan(repeats(greedy.tokens));
      // A banned token never appears, even where greedy would pick it first.
      const first = greedy.tokens[0]!;
      const banned = await Promise.all([1, 2, 3, 4].map((seed) => run(engine, { prompt, ...long, temperature: 1, seed, logitBias: { [first]: Number.NEGATIVE_INFINITY } })));
      for (const r of banned) expect(r.tokens).not.toContain(first);
      expect((await run(engine, { prompt, ...long, temperature: 0, logitBias: { [first]: Number.NEGATIVE_INFINITY } })).tokens[0]).not.toBe(first);
      // A large positive bias forces a token.
      const forced = model.tokenize("z", { addSpecial: false })[0]!;
      expect((await run(engine, { prompt, ...long, temperature: 1, seed: 1, logitBias: { [forced]: 100 } })).tokens).toEqual(new Array(24).fill(forced));
    });

    test("a grammar constrains every sampled output (100 requests, digits only)", async () => {
      const grammar = 'root ::= [0-9]+ "."';
      const results = await Promise.all(Array.from({ length: 100 }, (_, seed) => run(engine, { prompt, maxTokens: 8, temperature: 1, seed, grammar })));
      let complete = 0;
      for (const r of results) {
        expect(r.finish.reason).toMatch(/stop|length/);
        expect(r.finish.text).toMatch(r.finish.reason === "stop" ? /^[0-9]+\.$/ : /^[0-9]*\.?$/);
        if (r.finish.reason === "stop") complete++;
      }
      // The grammar allows end-of-generation only once complete; some outputs get there within 8 tokens.
      expect(complete).toBeGreaterThan(0);
      expect(new Set(results.map((r) => r.finish.text)).size).toBeGreaterThan(10);
    });

    test("a grammar that does not parse is refused by generate(); a dead end fails the request typed", async () => {
      let refused: unknown;
      try {
        engine.generate({ prompt, grammar: "root ::= [0-9" });
      } catch (error) {
        refused = error;
      }
      expect(refused).toBeInstanceOf(InvalidArgumentError);
      expect((refused as InvalidArgumentError).argument).toBe("grammar");
      expect(engine.stats().queueDepth).toBe(0);
      // The grammar is complete after "7", and end-of-generation is banned: nothing is allowed next.
      const eog = model.info.endOfGenerationTokens;
      const bias = Object.fromEntries(eog.map((t) => [t, Number.NEGATIVE_INFINITY]));
      const dead = await run(engine, { prompt, maxTokens: 8, temperature: 1, seed: 1, grammar: 'root ::= "7"', logitBias: bias });
      expect(dead.finish.reason).toBe("error");
      expect(dead.error).toBeInstanceOf(InvalidArgumentError);
      expect(model.detokenize(Int32Array.from(dead.tokens))).toBe("7");
    });

    test("logprobs are log_softmax of the model's raw logits (within 1e-4), chosen and top-5", async () => {
      for (const request of [
        { temperature: 0 },
        { temperature: 0.8, topP: 0.95, seed: 4 },
      ]) {
        const r = await run(engine, { prompt, maxTokens: 8, ignoreEndOfGeneration: true, stopTokens: [], logprobs: 5, returnLogits: true, ...request });
        expect(r.parts).toHaveLength(8);
        for (const part of r.parts) {
          const reference = logSoftmax(part.logits!);
          expect(Math.abs(part.logprob! - reference[part.token]!)).toBeLessThan(1e-4);
          const order = [...reference.keys()].sort((x, y) => reference[y]! - reference[x]! || x - y).slice(0, 5);
          expect(part.topLogprobs!.map((t) => t.token)).toEqual(order);
          for (const t of part.topLogprobs!) expect(Math.abs(t.logprob - reference[t.token]!)).toBeLessThan(1e-4);
        }
      }
      // Without logprobs, none are attached.
      const plain = await run(engine, { prompt, maxTokens: 2, temperature: 1, seed: 1 });
      expect(plain.parts[0]!.logprob).toBeUndefined();
    });

    test("the fast pick (no filter) draws exactly the tokens llama.cpp's chain draws, seed for seed", async () => {
      await expectFastPickMatchesChain(model, prompt);
    });

    test("rows sampled on several threads draw exactly what one thread draws (each row its own chain and seed)", async () => {
      // Eight sequences, each row its own sampler: fast-pick chains, llama.cpp's chain (typical-p), penalties, a
      // grammar, a logit bias, greedy; some rows with log-probabilities. Four steps feed the drawn tokens back, so the
      // penalties' and the grammar's state matter. threads 2 spreads the rows over the context's row threads (the
      // native backend; the Wasm module has none and runs them in order): the same tokens and numbers either way.
      const base: SamplerConfig = { temperature: 1, topK: 0, topP: 1, minP: 0, typicalP: 1, repetitionPenalty: 1, presencePenalty: 0, frequencyPenalty: 0, penaltyLastN: 64, seed: 0, logitBias: new Map() };
      const configs: Partial<SamplerConfig>[] = [
        { temperature: 0.8, topP: 0.95 },
        { temperature: 1 },
        { temperature: 0.7, topK: 40, topP: 0.9, minP: 0.05 },
        { temperature: 1.2, typicalP: 0.9 },
        { temperature: 0.9, repetitionPenalty: 1.3, frequencyPenalty: 0.5, presencePenalty: 0.5, penaltyLastN: 16 },
        { temperature: 1, grammar: "root ::= [a-z ]+" },
        { temperature: 0.8, logitBias: new Map([[prompt[1]!, Number.NEGATIVE_INFINITY]]) },
        { temperature: 0 },
      ];
      const rows = configs.length;
      const logprobs = Int32Array.from(configs, (_, i) => (i % 3 === 0 ? 3 : -1));
      const threaded = await createThreadedBackend();
      const threadedModel = await threaded.loadModel({ path: await fixturePath("nemotron-3-nano-twin") });
      const draw = async (threads: number) => {
        const own = await (threads === 1 ? model : threadedModel).createContext({ ctx: 512, slots: rows, threads, batch: 64 });
        try {
          const handles = Int32Array.from(configs, (config, i) => own.createSampler({ ...base, ...config, seed: 100 + i }));
          const steps: unknown[] = [];
          let tokens = Int32Array.from(configs, (_, i) => prompt[i % prompt.length]!);
          for (let step = 0; step < 4; step++) {
            const batch = { tokens, positions: new Int32Array(rows).fill(step), sequenceIds: Int32Array.from(configs, (_, i) => i), outputs: new Uint8Array(rows).fill(1) };
            const r = await own.decode(batch, { samplers: handles, logprobs });
            steps.push({ tokens: Array.from(r.tokens!), argmax: Array.from(r.argmax), logprobs: Array.from(r.logprobs!), top: Array.from(r.topTokens!) });
            tokens = Int32Array.from(r.tokens!, (t) => Math.max(t, 0));
          }
          for (const handle of handles) own.freeSampler(handle);
          return steps as { tokens: number[]; argmax: number[] }[];
        } finally {
          await own.dispose();
        }
      };
      const serial = await draw(1);
      const parallel = await draw(2).finally(() => threaded.dispose());
      expect(parallel).toEqual(serial);
      const drawn = serial.flatMap((s) => s.tokens.slice(0, 7));
      expect(drawn.filter((t, i) => t !== serial.flatMap((s) => s.argmax.slice(0, 7))[i]).length).toBeGreaterThan(4); // not all argmax
      expect(drawn).not.toContain(-1);
    });

    test("sampler handles are freed on finish, cancel, stop and error", async () => {
      const cancel = new AbortController();
      const cancelled = run(engine, { prompt, maxTokens: 500, ignoreEndOfGeneration: true, temperature: 1, signal: cancel.signal });
      const finished = Promise.all([1, 2, 3].map((seed) => run(engine, { prompt, ...long, temperature: 0.8, seed, frequencyPenalty: 0.5 })));
      const stopped = run(engine, { prompt, maxTokens: 50, temperature: 1, seed: 2, grammar: 'root ::= "12"' });
      const failed = run(engine, { prompt, maxTokens: 8, temperature: 1, seed: 1, grammar: 'root ::= "7"', logitBias: Object.fromEntries(model.info.endOfGenerationTokens.map((t) => [t, Number.NEGATIVE_INFINITY])) });
      while (engine.stats().tokensGenerated < 4) await new Promise((resolve) => setTimeout(resolve, 1));
      expect(context.samplerCount()).toBeGreaterThan(0);
      cancel.abort();
      expect((await cancelled).finish.reason).toBe("cancelled");
      expect((await stopped).finish.text).toBe("12");
      expect((await failed).finish.reason).toBe("error");
      await finished;
      await engine.idle();
      expect(context.samplerCount()).toBe(0);
    });
  });
}
