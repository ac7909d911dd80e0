#!/usr/bin/env node
// Reading GGUF metadata: hybrid-llm's reader vs node-llama-cpp's (readGgufFileInfo), same files, same run.
// Usage: npm run build && npm run bench [-- --iterations 50]
import { mkdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readGgufFileInfo } from "node-llama-cpp";
import { cacheSpecFromMetadata } from "../packages/core/dist/index.js";
import { readGgufFile, writeFixtureFile } from "../packages/core/dist/node.js";

const { values } = parseArgs({ options: { iterations: { type: "string", default: "30" } } });
const iterations = Number(values.iterations);
const dir = join(import.meta.dirname, "..", ".cache", "bench");
mkdirSync(dir, { recursive: true });

async function time(run) {
  for (let i = 0; i < 3; i++) await run(); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await run();
  return Number(process.hrtime.bigint() - start) / 1e6 / iterations;
}

console.log(`GGUF metadata read + parse, mean of ${iterations} runs after 3 warm-up runs`);
console.log("fixture                 hybrid-llm   node-llama-cpp   ratio (peer / ours)");
for (const profile of ["tiny", "nemotron-3-nano-twin"]) {
  const path = join(dir, `${profile}.gguf`);
  if (!existsSync(path)) await writeFixtureFile(profile, path);
  const ours = await time(async () => cacheSpecFromMetadata((await readGgufFile(path)).metadata));
  const peer = await time(() => readGgufFileInfo(path, { readTensorInfo: true }));
  console.log(`${profile.padEnd(22)} ${ours.toFixed(2).padStart(8)} ms ${peer.toFixed(2).padStart(13)} ms ${(peer / ours).toFixed(2).padStart(12)}×`);
}
