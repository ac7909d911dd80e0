#!/usr/bin/env node
// The engine's correctness checks on one llama.cpp build (CUDA on a GPU machine, or the CPU): what the vitest
// conformance suites check, as a plain script for machines without the dev dependencies (scripts/gpu-check.sh).
//   1. batched == solo: 8 greedy requests at once give the tokens each gives alone. llama.cpp does not promise
//      bitwise batch invariance on GPUs (other kernels / reduction orders for other batch shapes), so a divergence
//      is reported with the top-1/top-2 logit margin where it happened: a near-tie is rounding, a wide margin a bug.
//   2. prefix cache: turn 2 of a conversation resumes from the recurrent checkpoint taken on the GPU (state copied
//      device -> host -> device) and gives the tokens an engine without a prefix cache computes from scratch.
//   3. preemption by swap: a context too small for 4 requests at once forces the engine to swap states out and back;
//      every request's tokens equal its solo run.
//   4. sampling inside llama.cpp: a fixed seed reproduces, another seed differs, a grammar holds on every output.
// Prints one line per check and exits 1 when one fails.
// Usage: node scripts/gpu-conformance.mjs --model <file.gguf> [--gpu cuda|auto|off] [--tokens 24] [--threads n]
import { parseArgs } from "node:util";
import { Engine } from "../packages/core/dist/index.js";
import { NodeBackend } from "../packages/node/dist/index.js";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    gpu: { type: "string", default: "auto" },
    tokens: { type: "string", default: "24" },
    slots: { type: "string", default: "8" },
    threads: { type: "string" },
  },
});
if (values.model === undefined) throw new Error("--model <file.gguf> is required");
const gpu = values.gpu === "off" ? false : values.gpu;
const generated = Number(values.tokens);
const slots = Number(values.slots);
const threads = values.threads === undefined ? {} : { threads: Number(values.threads) };

const backend = await NodeBackend.create({ gpu });
console.log(`device: ${backend.device.kind} (${backend.device.name}), library ${backend.library.flavour} ${backend.library.dir}`);
const model = await backend.loadModel({ path: values.model });
const vocab = model.info.vocabSize;

/** Deterministic prompt of n tokens (ids from 8 up, away from control tokens). */
function prompt(seed, n) {
  let state = seed * 7919 + 17;
  return Int32Array.from({ length: n }, () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return 8 + (state % (vocab - 8));
  });
}

/** Runs one request, collecting tokens, margins and the start part. */
async function run(engine, request) {
  const tokens = [];
  const margins = [];
  let cachedTokens = 0;
  for await (const part of engine.generate({ temperature: 0, ignoreEndOfGeneration: true, maxTokens: generated, ...request })) {
    if (part.type === "start") cachedTokens = part.cachedTokens;
    if (part.type === "token") {
      tokens.push(part.token);
      margins.push(part.margin);
    }
    if (part.type === "error") throw part.error;
  }
  return { tokens, margins, cachedTokens };
}

/** Compares two runs: equal, or where they diverge and how close that call was (the smaller margin of the two). */
function compare(a, b) {
  const n = Math.min(a.tokens.length, b.tokens.length);
  for (let i = 0; i < n; i++) {
    if (a.tokens[i] !== b.tokens[i]) return { equal: false, at: i, margin: Math.min(a.margins[i], b.margins[i]) };
  }
  return { equal: a.tokens.length === b.tokens.length, at: n, margin: Infinity };
}

let failures = 0;
function report(name, results) {
  const diverged = results.filter((r) => !r.equal);
  const ok = diverged.every((r) => r.margin < 0.05);
  if (!ok) failures++;
  const detail = diverged.map((r) => `#${r.index} at token ${r.at} (margin ${r.margin.toFixed(4)})`).join(", ");
  console.log(`${ok ? "PASS" : "FAIL"} ${name}: ${results.length - diverged.length}/${results.length} identical${detail ? `; diverged: ${detail}` : ""}`);
}

const prompts = Array.from({ length: slots }, (_, i) => prompt(i + 1, 24 + 9 * i));
const ctx = slots * (24 + 9 * slots + generated + 64);

// 1. batched == solo
let alone;
{
  const soloContext = await model.createContext({ ctx: 1024, slots: 1, batch: 256, ...threads });
  const solo = new Engine({ model, context: soloContext, prefixCache: false });
  alone = [];
  for (const p of prompts) alone.push(await run(solo, { prompt: p }));
  await solo.dispose();
  await soloContext.dispose();

  const context = await model.createContext({ ctx, slots, batch: 512, ...threads });
  const engine = new Engine({ model, context, prefixCache: false });
  const together = await Promise.all(prompts.map((p) => run(engine, { prompt: p })));
  await engine.dispose();
  await context.dispose();
  report(`batched == solo (${slots} greedy requests × ${generated} tokens)`, together.map((r, index) => ({ index, ...compare(alone[index], r) })));
}

// 2. prefix cache: turn 2 resumes from the checkpoint and equals a from-scratch evaluation
{
  const turn1 = prompts.slice(0, 4).map((p, i) => ({ p, i }));
  const context = await model.createContext({ ctx, slots, batch: 512, ...threads });
  const cached = new Engine({ model, context });
  const scratchContext = await model.createContext({ ctx, slots, batch: 512, ...threads });
  const scratch = new Engine({ model, context: scratchContext, prefixCache: false });
  const results = [];
  let resumed = 0;
  for (const { p, i } of turn1) {
    const first = await run(cached, { prompt: p });
    const history = Int32Array.from([...p, ...first.tokens, ...prompt(100 + i, 40)]);
    const second = await run(cached, { prompt: history });
    const reference = await run(scratch, { prompt: history });
    if (second.cachedTokens > 0) resumed++;
    results.push({ index: i, ...compare(reference, second), cachedTokens: second.cachedTokens });
  }
  await cached.dispose();
  await scratch.dispose();
  await context.dispose();
  await scratchContext.dispose();
  if (resumed !== turn1.length) failures++;
  report(`prefix cache: turn 2 from the checkpoint == from scratch (${resumed}/${turn1.length} resumed, cached tokens ${results.map((r) => r.cachedTokens).join(", ")})`, results);
}

// 3. preemption: 4 requests whose prompts fit a 256-cell pool but whose answers do not: the engine swaps states
//    out (device -> host) and back to let the others finish; every request gives the tokens it gives alone.
{
  const few = Array.from({ length: 4 }, (_, i) => prompt(50 + i, 56));
  const longer = { maxTokens: 48 };
  const soloContext = await model.createContext({ ctx: 256, slots: 1, batch: 256, ...threads });
  const solo = new Engine({ model, context: soloContext, prefixCache: false });
  const reference = [];
  for (const p of few) reference.push(await run(solo, { prompt: p, ...longer }));
  await solo.dispose();
  await soloContext.dispose();
  const context = await model.createContext({ ctx: 256, slots: 4, batch: 512, ...threads });
  const engine = new Engine({ model, context, prefixCache: false, admission: { preemption: "swap", headroomTokens: 4 } });
  const together = await Promise.all(few.map((p) => run(engine, { prompt: p, ...longer })));
  const swaps = engine.stats().preemption.swaps;
  await engine.dispose();
  await context.dispose();
  if (swaps === 0) failures++;
  report(`preemption (${swaps} swaps: 4 requests of 56 + 48 tokens in a 256-cell pool)`, together.map((r, index) => ({ index, ...compare(reference[index], r) })));
}

// 4. sampling inside llama.cpp (the chains run where the logits are; on CUDA they are copied back per row)
{
  const context = await model.createContext({ ctx: 64 * 48, slots: 32, batch: 512, ...threads });
  const engine = new Engine({ model, context, prefixCache: false });
  const p = prompts[0].slice(0, 16);
  const text = async (request) => (await engine.complete({ prompt: p, maxTokens: 16, ...request })).text;
  const [a, b, c] = await Promise.all([text({ temperature: 1, seed: 7 }), text({ temperature: 1, seed: 7 }), text({ temperature: 1, seed: 8 })]);
  const grammar = 'root ::= [0-9]+ "."';
  const outputs = await Promise.all(Array.from({ length: 64 }, (_, seed) => engine.complete({ prompt: p, maxTokens: 8, temperature: 1, seed, grammar })));
  const valid = outputs.filter((r) => (r.reason === "stop" ? /^[0-9]+\.$/ : /^[0-9]*\.?$/).test(r.text)).length;
  await engine.dispose();
  await context.dispose();
  const ok = a === b && a !== c && valid === outputs.length;
  if (!ok) failures++;
  console.log(`${ok ? "PASS" : "FAIL"} sampling: seed 7 twice ${a === b ? "equal" : "DIFFER"}, seed 8 ${a !== c ? "differs" : "EQUAL"}; grammar digits-only held on ${valid}/${outputs.length} outputs`);
}

await backend.dispose();
process.exit(failures === 0 ? 0 : 1);
