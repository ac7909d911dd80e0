#!/usr/bin/env node
// The JavaScript share of step time as a run goes (the engine's own counters, read every 100 ms): how much of
// `hybrid-llm bench`'s figure is V8 still warming up. 8 slots on the realistic-vocab fixture, one thread, T 0.8 /
// top-p 0.95 (or greedy with --temperature 0). Usage: npm run build && node scripts/js-share-trace.mjs
// [--gen-tokens 512 --temperature 0.8]
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Engine } from "@hybrid-llm/core";
import { NodeBackend } from "@hybrid-llm/node";
import { writeFixtureFile } from "../packages/core/dist/node.js";

const { values } = parseArgs({ options: { "gen-tokens": { type: "string", default: "512" }, temperature: { type: "string", default: "0.8" } } });
const root = fileURLToPath(new URL("..", import.meta.url));
const dir = join(root, ".cache", "bench");
mkdirSync(dir, { recursive: true });
const path = join(dir, "real-vocab.gguf");
if (!existsSync(path)) await writeFixtureFile("real-vocab", path);

const backend = await NodeBackend.create({ gpu: false });
const model = await backend.loadModel({ path });
const n = 8;
const p = 32;
const g = Number(values["gen-tokens"]);
const temperature = Number(values.temperature);
const context = await model.createContext({ ctx: n * (p + g + 16), slots: n, threads: 1, batch: 512 });
const engine = new Engine({ model, context, maxQueue: n });
let seed = 1;
const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
const prompts = Array.from({ length: n }, () => Int32Array.from({ length: p }, () => 8 + Math.floor(random() * (model.info.vocabSize - 8))));
let last = engine.stats();
const lines = [];
const timer = setInterval(() => {
  const now = engine.stats();
  const stepMs = now.stepMs - last.stepMs;
  if (now.steps > last.steps) {
    const js = (stepMs - (now.decodeMs - last.decodeMs)) / stepMs;
    lines.push(`steps ${String(last.steps + 1).padStart(4)}-${String(now.steps).padEnd(4)}  JS share ${(js * 100).toFixed(1).padStart(4)} %  (${((stepMs / (now.steps - last.steps)) * 1000).toFixed(0)} us a step)`);
  }
  last = now;
}, 100);
await Promise.all(
  prompts.map(async (prompt) => {
    for await (const part of engine.generate({ prompt, maxTokens: g, temperature, topP: 0.95, ignoreEndOfGeneration: true })) void part;
  }),
);
clearInterval(timer);
console.log(lines.join("\n"));
await engine.dispose();
await backend.dispose();
